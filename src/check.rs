//! `slod check [FILES]`: validates config files, SLO files (native or OpenSLO) and SQL alert
//! rule files, reporting every problem with file:line and a hint. A config file's `slo.files`
//! and `slo.rules` are checked too, and every rule's SQL is planned against the catalogue.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::Config;

/// What a YAML file is, from its top-level keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Config,
    Slo,
    Rules,
}

fn kind(text: &str) -> Kind {
    let top_level = |key: &str| {
        text.lines()
            .any(|l| l.starts_with(key) && l[key.len()..].trim_start().starts_with(':'))
    };
    if top_level("slos") || top_level("apiVersion") {
        Kind::Slo
    } else if top_level("rules") {
        Kind::Rules
    } else {
        Kind::Config
    }
}

/// Every problem in one file (empty when valid), each already formatted for the terminal.
pub(crate) fn check_file(path: &Path) -> Vec<String> {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return vec![format!("{shown}: cannot read: {e}")],
    };
    match kind(&text) {
        Kind::Slo => {
            let (_, errors) = slod_slo::spec::parse_file(&shown, &text);
            errors.iter().map(ToString::to_string).collect()
        }
        Kind::Rules => {
            let (rules, mut errors) = slod_slo::rules::parse_rule_file(&shown, &text);
            // A rule file alone is planned against the default catalogue settings.
            if errors.is_empty() {
                let settings = slod_slo::catalogue::CatalogueSettings::default();
                errors.extend(slod_slo::rules::file::plan_all(&rules, &settings));
            }
            errors.iter().map(ToString::to_string).collect()
        }
        Kind::Config => {
            let config = match Config::parse(&text, &shown) {
                Ok(c) => c,
                Err(e) => return vec![format!("{e:#}")],
            };
            let mut out: Vec<String> = config
                .validate()
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|p| format!("{shown}: {p}"))
                .collect();
            let base = path.parent().unwrap_or(Path::new("."));
            let loaded = slod_slo::spec::load_files(&config.slo_files(), base);
            out.extend(loaded.errors.iter().map(ToString::to_string));
            if let Ok(settings) = config.validate() {
                let rules = slod_slo::rules::load_effective(
                    &settings.slo.rule_files,
                    Some(base),
                    settings.slo.default_rules,
                    &settings.catalogue,
                );
                out.extend(rules.errors.iter().map(ToString::to_string));
            }
            out
        }
    }
}

pub(crate) fn run(files: Vec<PathBuf>) -> ExitCode {
    let files = if files.is_empty() {
        vec![PathBuf::from("slod.yaml")]
    } else {
        files
    };
    let mut invalid = 0;
    for f in &files {
        let problems = check_file(f);
        if problems.is_empty() {
            println!("{}: ok", f.display());
        } else {
            invalid += 1;
            for p in problems {
                println!("{p}");
            }
        }
    }
    if invalid == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("slod: {invalid} of {} file(s) invalid", files.len());
        ExitCode::from(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// Every fixture of `config/testdata/<folder>` (there must be `count`) is rejected, with
    /// `slod check`'s exact messages as a reviewed snapshot in its `expected/`.
    fn fixtures_match_their_snapshots(folder: &str, count: usize) {
        let dir = repo().join("config/testdata").join(folder);
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        names.sort();
        assert_eq!(names.len(), count, "{folder}: {names:?}");
        for path in names {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let relative = path.strip_prefix(repo()).unwrap();
            let problems = check_file(relative);
            assert!(!problems.is_empty(), "{name} must be rejected");
            insta::with_settings!({snapshot_path => dir.join("expected"), prepend_module_to_snapshot => false}, {
                insta::assert_snapshot!(name, problems.join("\n"));
            });
        }
    }

    #[test]
    fn invalid_slo_fixtures_report_every_problem() {
        fixtures_match_their_snapshots("invalid-slos", 7);
    }

    /// Each rule message was checked by hand against the fixture's line and column.
    #[test]
    fn invalid_rule_fixtures_report_every_problem() {
        fixtures_match_their_snapshots("invalid-rules", 5);
    }

    #[test]
    fn file_kind_detection() {
        assert_eq!(kind("slos:\n  - name: a\n"), Kind::Slo);
        assert_eq!(kind("# c\napiVersion: openslo/v1\n"), Kind::Slo);
        assert_eq!(kind("server:\n  http_addr: x\n"), Kind::Config);
        assert_eq!(kind("storage: {}\nslo:\n  files: []\n"), Kind::Config);
        assert_eq!(kind("# r\nrules:\n  - name: A\n"), Kind::Rules);
        assert_eq!(kind("slo:\n  rules: [rules/*.yaml]\n"), Kind::Config);
    }

    #[test]
    fn config_checks_its_slo_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("slos")).unwrap();
        std::fs::write(
            dir.path().join("slos/a.yaml"),
            "slos:\n  - name: a\n    sli: latency\n    objective: 2\n",
        )
        .unwrap();
        let config = dir.path().join("slod.yaml");
        std::fs::write(&config, "slo:\n  files: [slos/*.yaml, missing.yaml]\n").unwrap();
        let problems = check_file(&config);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("slos/a.yaml:4:16: objective 2 is outside (0, 1)"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("missing.yaml: file not found"),
            "{problems:?}"
        );
    }
}
