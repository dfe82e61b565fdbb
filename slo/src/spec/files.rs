//! Loading SLO files: globs, format detection (native or OpenSLO), and cross-file checks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::openslo::Doc;
use super::{Location, SloSpec, SpecError, native, openslo};

/// Every SLO found and every problem, across all files.
#[derive(Debug, Default)]
pub struct LoadedSpecs {
    pub slos: Vec<SloSpec>,
    pub errors: Vec<SpecError>,
    pub files: Vec<PathBuf>,
}

/// Expands `patterns` (globs relative to `base`) and parses every file. A pattern matching no
/// file is not an error (an empty `config/slos/` is normal), but a literal path that does not
/// exist is.
pub fn load_files(patterns: &[String], base: &Path) -> LoadedSpecs {
    let mut out = LoadedSpecs::default();
    for pattern in patterns {
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.join(pattern)
        };
        let is_glob = pattern.contains(['*', '?', '[']);
        let mut paths = expand(&full);
        paths.sort();
        if paths.is_empty() && !is_glob {
            out.errors.push(SpecError::new(
                Location::new(pattern, 0, 0),
                "file not found".into(),
                "fix the path in slo.files (relative paths are relative to the config file)",
            ));
        }
        for path in paths {
            if out.files.contains(&path) {
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let (slos, errors) = parse_file(&path.display().to_string(), &text);
                    out.slos.extend(slos);
                    out.errors.extend(errors);
                }
                Err(e) => out.errors.push(SpecError::new(
                    Location::new(&path.display().to_string(), 0, 0),
                    format!("cannot read: {e}"),
                    "check the file's permissions",
                )),
            }
            out.files.push(path);
        }
    }
    out.errors.extend(duplicates(&out.slos, true));
    out
}

/// SLO names defined twice: within one file, or (`across_files`) in two different files.
fn duplicates(slos: &[SloSpec], across_files: bool) -> Vec<SpecError> {
    let mut seen: HashMap<&str, &Location> = HashMap::new();
    let mut out = Vec::new();
    for s in slos {
        match seen.get(s.name.as_str()) {
            Some(first) if (first.file != s.origin.file) == across_files => out.push(SpecError::new(
                s.origin.clone(),
                format!("SLO name {:?} is already defined at {first}", s.name),
                "SLO names are the `slo` label of alerts and must be unique",
            )),
            Some(_) => {}
            None => {
                seen.insert(&s.name, &s.origin);
            }
        }
    }
    out
}

/// Files matching a path whose last component may hold `*`, `?` or `[...]`.
pub(crate) fn expand(full: &Path) -> Vec<PathBuf> {
    let text = full.to_string_lossy();
    if !text.contains(['*', '?', '[']) {
        return if full.exists() {
            vec![full.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let (Some(dir), Some(name)) = (full.parent(), full.file_name()) else {
        return Vec::new();
    };
    let Ok(glob) = globset::Glob::new(&name.to_string_lossy()) else {
        return Vec::new();
    };
    let matcher = glob.compile_matcher();
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.file_name().is_some_and(|n| matcher.is_match(n)))
                .collect()
        })
        .unwrap_or_default()
}

/// Parses one file's text: OpenSLO when a document says `apiVersion: openslo/...`, else native.
pub fn parse_file(file: &str, text: &str) -> (Vec<SloSpec>, Vec<SpecError>) {
    let mut errors = Vec::new();
    let mut docs = Vec::new();
    for (offset, doc) in split_documents(text) {
        if doc.trim().is_empty()
            || doc
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            continue;
        }
        match marked_yaml::parse_yaml(0, doc) {
            Ok(node) => docs.push(Doc { node, offset }),
            Err(e) => errors.push(load_error(file, &e, offset)),
        }
    }
    let is_openslo = docs.iter().any(|d| {
        d.node
            .as_mapping()
            .and_then(|m| m.get_scalar("apiVersion"))
            .is_some_and(|v| v.as_str().starts_with("openslo/"))
    });
    let slos = if is_openslo {
        for d in &docs {
            let version = d.node.as_mapping().and_then(|m| m.get_scalar("apiVersion"));
            if version.is_none_or(|v| v.as_str() != "openslo/v1") {
                errors.push(SpecError::new(
                    Location::of(file, d.node.span(), d.offset),
                    format!(
                        "apiVersion {:?} is not supported",
                        version.map(|v| v.as_str()).unwrap_or("(missing)")
                    ),
                    "slod reads OpenSLO v1: apiVersion: openslo/v1",
                ));
            }
        }
        openslo::parse(file, &docs, &mut errors)
    } else {
        match docs.as_slice() {
            [] => Vec::new(),
            [one] => native::parse(file, &one.node, &mut errors),
            [_, second, ..] => {
                errors.push(SpecError::new(
                    Location::of(file, second.node.span(), second.offset),
                    "a native SLO file has one YAML document".into(),
                    "put every SLO under one `slos:` list, or use OpenSLO documents (apiVersion: openslo/v1)",
                ));
                Vec::new()
            }
        }
    };
    errors.extend(duplicates(&slos, false));
    errors.sort_by_key(|e| (e.at.line, e.at.column));
    (slos, errors)
}

pub(crate) fn load_error(file: &str, e: &marked_yaml::LoadError, offset: usize) -> SpecError {
    use marked_yaml::LoadError::*;
    let marker = match e {
        TopLevelMustBeMapping(m)
        | TopLevelMustBeSequence(m)
        | UnexpectedAnchor(m)
        | MappingKeyMustBeScalar(m)
        | UnexpectedTag(m)
        | ScanError(m, _) => Some(*m),
        _ => None,
    };
    let at = marker
        .map(|m| Location::new(file, m.line() + offset, m.column()))
        .unwrap_or_else(|| Location::new(file, offset + 1, 1));
    let message = e.to_string();
    // marked-yaml prefixes its own marker; keep only the message.
    let message = message
        .split_once(": ")
        .map(|(_, m)| m.to_string())
        .unwrap_or(message);
    SpecError::new(
        at,
        format!("invalid YAML: {message}"),
        "check indentation and quoting around this line",
    )
}

/// Splits a multi-document YAML text at `---` lines; yields (lines before the document, text).
pub(crate) fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start_byte = 0;
    let mut start_line = 0;
    let mut byte = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") {
            out.push((start_line, &text[start_byte..byte]));
            start_byte = byte + line.len();
            start_line = i + 1;
        }
        byte += line.len();
    }
    out.push((start_line, &text[start_byte..]));
    out
}
