//! Rule files (`config/rules/*.yaml`):
//!
//! ```yaml
//! rules:
//!   - name: OrdersQueueBacklog            # the alertname: letters, digits, _ (not first: digit)
//!     sql: |                              # one read-only query; $__now = evaluation minute
//!       SELECT queue, max(depth) AS value FROM queue_depth_1m
//!       WHERE queue LIKE 'orders%' AND minute >= $__now - INTERVAL '10 minutes' AND minute < $__now
//!       GROUP BY queue
//!     condition: value > 1000             # optional: without it every row returned is active
//!     for: 5m                             # optional: pending until it has held this long
//!     lookback: 1h                        # optional: read only telemetry of the last hour
//!     severity: page                      # default ticket
//!     labels: { team: orders }
//!     annotations:
//!       summary: "{{ $labels.queue }} holds {{ $value }} messages"
//!     runbook_url: https://runbooks.example/orders-backlog
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use marked_yaml::{Node, Spanned};
use serde::Deserialize;

use super::{Condition, DEFAULT_SEVERITY, RuleSpec, Template};
use crate::spec::error::from_serde;
use crate::spec::files::{expand, load_error, split_documents};
use crate::spec::{Location, SpecError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    sql: Spanned<String>,
    condition: Option<Spanned<String>>,
    #[serde(rename = "for")]
    for_: Option<Spanned<String>>,
    lookback: Option<Spanned<String>>,
    severity: Option<Spanned<String>>,
    labels: Option<HashMap<Spanned<String>, String>>,
    annotations: Option<HashMap<Spanned<String>, Spanned<String>>>,
    runbook_url: Option<String>,
}

/// Every rule found and every problem, across all files.
#[derive(Debug, Default)]
pub struct LoadedRules {
    pub rules: Vec<RuleSpec>,
    pub errors: Vec<SpecError>,
    pub files: Vec<PathBuf>,
}

/// Expands `patterns` (globs relative to `base`, as `slo.files`) and parses every rule file.
/// A glob matching nothing is fine; a literal path that does not exist is an error.
pub fn load_rule_files(patterns: &[String], base: &Path) -> LoadedRules {
    let mut out = LoadedRules::default();
    for pattern in patterns {
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.join(pattern)
        };
        let mut paths = expand(&full);
        paths.sort();
        if paths.is_empty() && !pattern.contains(['*', '?', '[']) {
            out.errors.push(SpecError::new(
                Location::new(pattern, 0, 0),
                "file not found".into(),
                "fix the path in slo.rules (relative paths are relative to the config file)",
            ));
        }
        for path in paths {
            if out.files.contains(&path) {
                continue;
            }
            let shown = path.display().to_string();
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let (rules, errors) = parse_rule_file(&shown, &text);
                    out.rules.extend(rules);
                    out.errors.extend(errors);
                }
                Err(e) => out.errors.push(SpecError::new(
                    Location::new(&shown, 0, 0),
                    format!("cannot read: {e}"),
                    "check the file's permissions",
                )),
            }
            out.files.push(path);
        }
    }
    out.errors.extend(duplicates(&out.rules, true));
    out
}

/// Rule names defined twice: within one file, or (`across_files`) in two files.
fn duplicates(rules: &[RuleSpec], across_files: bool) -> Vec<SpecError> {
    let mut seen: HashMap<&str, &Location> = HashMap::new();
    let mut out = Vec::new();
    for r in rules {
        match seen.get(r.name.as_str()) {
            Some(first) if (first.file != r.origin.file) == across_files => out.push(SpecError::new(
                r.origin.clone(),
                format!("rule name {:?} is already defined at {first}", r.name),
                "rule names are the alertname label and must be unique",
            )),
            Some(_) => {}
            None => {
                seen.insert(&r.name, &r.origin);
            }
        }
    }
    out
}

/// Parses one rule file's text; every problem is reported with its location.
pub fn parse_rule_file(file: &str, text: &str) -> (Vec<RuleSpec>, Vec<SpecError>) {
    let mut errors = Vec::new();
    let docs: Vec<(usize, &str)> = split_documents(text)
        .into_iter()
        .filter(|(_, d)| {
            !d.lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        })
        .collect();
    let rules = match docs.as_slice() {
        [] => Vec::new(),
        [(offset, doc)] => match marked_yaml::parse_yaml(0, doc) {
            Ok(node) if *offset == 0 => parse_root(file, &node, &mut errors),
            Ok(node) => {
                errors.push(SpecError::new(
                    Location::of(file, node.span(), *offset),
                    "a rule file has one YAML document without `---`".into(),
                    "remove the `---` line",
                ));
                Vec::new()
            }
            Err(e) => {
                errors.push(load_error(file, &e, *offset));
                Vec::new()
            }
        },
        [_, (offset, _), ..] => {
            errors.push(SpecError::new(
                Location::new(file, offset + 1, 1),
                "a rule file has one YAML document".into(),
                "put every rule under one `rules:` list",
            ));
            Vec::new()
        }
    };
    errors.extend(duplicates(&rules, false));
    errors.sort_by_key(|e| (e.at.line, e.at.column));
    (rules, errors)
}

fn loc(file: &str, span: &marked_yaml::Span) -> Location {
    Location::of(file, span, 0)
}

fn parse_root(file: &str, root: &Node, errors: &mut Vec<SpecError>) -> Vec<RuleSpec> {
    let top = loc(file, root.span());
    let Some(map) = root.as_mapping() else {
        errors.push(SpecError::new(
            top,
            "expected a mapping with a `rules:` list".into(),
            "start the file with `rules:`",
        ));
        return Vec::new();
    };
    for (key, node) in map.iter() {
        if key.as_str() != "rules" {
            errors.push(SpecError::new(
                loc(file, node.span()),
                format!("unknown top-level key {:?}", key.as_str()),
                "a rule file has one key, `rules:`",
            ));
        }
    }
    let Some(list) = map.get_sequence("rules") else {
        let (at, message) = match map.get_node("rules") {
            Some(node) => (loc(file, node.span()), "`rules:` must be a list of rules"),
            None => (top, "missing `rules:` list"),
        };
        errors.push(SpecError::new(
            at,
            message.into(),
            "write `rules:` then one `- name: ...` entry per rule",
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in list.iter() {
        let at = loc(file, item.span());
        match marked_yaml::from_node::<RawRule>(item) {
            Ok(raw) => {
                if let Some(rule) = convert(file, raw, at, errors) {
                    out.push(rule);
                }
            }
            Err(e) => {
                let mut e = from_serde(file, &e, 0, &at);
                e.hint = e.hint.replace(
                    "docs/slo.md lists every key",
                    "docs/slo.md, \"SQL alert rules\", lists every key",
                );
                errors.push(e);
            }
        }
    }
    out
}

/// `alertname` and label names: `[A-Za-z_][A-Za-z0-9_]*` (Prometheus label names).
pub(crate) fn valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn convert(file: &str, raw: RawRule, at: Location, errors: &mut Vec<SpecError>) -> Option<RuleSpec> {
    let before = errors.len();
    if !valid_name(&raw.name) || raw.name.len() > 100 {
        errors.push(SpecError::new(
            loc(file, raw.name.span()),
            format!("rule name {:?} is not a valid alertname", raw.name.as_str()),
            "use letters, digits and '_', not starting with a digit, e.g. OrdersQueueBacklog",
        ));
    }
    if let Err(e) = super::sql::check_read_only(&raw.sql) {
        errors.push(SpecError::new(
            loc(file, raw.sql.span()),
            e,
            "write one SELECT returning label columns and a numeric `value` column; $__now is the evaluation time",
        ));
    }
    let condition = raw.condition.as_ref().and_then(|c| {
        let parsed = Condition::parse(c);
        if parsed.is_none() {
            errors.push(SpecError::new(
                loc(file, c.span()),
                format!(
                    "condition {:?} is not a comparison of value with a number",
                    c.as_str()
                ),
                "write e.g. `value > 10` (operators: > >= < <= == !=)",
            ));
        }
        parsed
    });
    let for_ = match &raw.for_ {
        None => Duration::ZERO,
        Some(f) => crate::duration::parse(f).unwrap_or_else(|| {
            errors.push(SpecError::new(
                loc(file, f.span()),
                format!("for {:?} is not a duration", f.as_str()),
                "write a duration such as 0s, 5m or 1h",
            ));
            Duration::ZERO
        }),
    };
    let lookback = raw.lookback.as_ref().and_then(|l| {
        let parsed = crate::duration::parse(l).filter(|d| !d.is_zero());
        if parsed.is_none() {
            errors.push(SpecError::new(
                loc(file, l.span()),
                format!("lookback {:?} is not a positive duration", l.as_str()),
                "write how far back the query reads, e.g. 30m, 2h or 1d (omit it to read all retained data)",
            ));
        }
        parsed
    });
    let severity = match &raw.severity {
        Some(s) if s.trim().is_empty() || !valid_name(s) => {
            errors.push(SpecError::new(
                loc(file, s.span()),
                format!("severity {:?} is not a valid label value here", s.as_str()),
                "use a word such as page, ticket, critical or warning",
            ));
            String::new()
        }
        Some(s) => s.as_str().to_string(),
        None => DEFAULT_SEVERITY.to_string(),
    };
    let mut labels = BTreeMap::new();
    for (k, v) in raw.labels.into_iter().flatten() {
        if matches!(k.as_str(), "alertname" | "severity") {
            errors.push(SpecError::new(
                loc(file, k.span()),
                format!("label {:?} is set by the rule itself", k.as_str()),
                "the alertname is the rule's name; set the severity with `severity:`",
            ));
        } else if !valid_name(&k) {
            errors.push(SpecError::new(
                loc(file, k.span()),
                format!("label name {:?} is not valid", k.as_str()),
                "use letters, digits and '_', not starting with a digit",
            ));
        }
        labels.insert(k.as_str().to_string(), v);
    }
    let mut annotations = BTreeMap::new();
    for (k, v) in raw.annotations.into_iter().flatten() {
        match Template::parse(&v) {
            Ok(t) => {
                annotations.insert(k.as_str().to_string(), t);
            }
            Err(e) => errors.push(SpecError::new(
                loc(file, v.span()),
                format!("annotation {:?}: {}: {}", k.as_str(), e.message, e.action),
                "templates know {{ $labels.NAME }}, {{ $value }}, {{ printf \"%.2f\" $value }} and {{ humanizePercentage $value }}",
            )),
        }
    }
    if errors.len() > before {
        return None;
    }
    Some(RuleSpec {
        name: raw.name.as_str().to_string(),
        sql: raw.sql.as_str().to_string(),
        condition,
        for_,
        lookback,
        severity,
        labels,
        annotations,
        runbook_url: raw.runbook_url,
        builtin: false,
        origin: at,
    })
}

/// Plans every rule against `ctx` (see [`super::sql::planning_context`]); one error per rule
/// whose SQL names an unknown table or column or returns no numeric `value`.
pub async fn plan_errors(ctx: &datafusion::prelude::SessionContext, rules: &[RuleSpec]) -> Vec<SpecError> {
    let mut out = Vec::new();
    for r in rules {
        if let Err(e) = super::sql::check_plan(ctx, &r.sql).await {
            out.push(SpecError::new(
                r.origin.clone(),
                format!("rule {:?}: {e}", r.name),
                "the catalogue views and their columns are listed in docs/signals.md",
            ));
        }
    }
    out
}

/// The rules in effect for a config: its rule files (`patterns` relative to `base`; none
/// without a config file), the built-ins unless `defaults` is off, every rule's SQL planned
/// against an empty catalogue with `catalogue`'s settings. Problems of all kinds are in
/// `errors`.
pub fn load_effective(
    patterns: &[String],
    base: Option<&Path>,
    defaults: bool,
    catalogue: &crate::catalogue::CatalogueSettings,
) -> LoadedRules {
    let mut loaded = match base {
        Some(base) => load_rule_files(patterns, base),
        None => LoadedRules::default(),
    };
    loaded.rules = super::defaults::effective(std::mem::take(&mut loaded.rules), defaults);
    let errors = plan_all(&loaded.rules, catalogue);
    loaded.errors.extend(errors);
    loaded
}

/// [`plan_errors`] against an empty catalogue with `catalogue`'s settings, blocking (planning
/// resolves names in empty in-memory tables: there is no I/O to wait for).
pub fn plan_all(rules: &[RuleSpec], catalogue: &crate::catalogue::CatalogueSettings) -> Vec<SpecError> {
    match super::sql::planning_context(catalogue) {
        Ok(ctx) => futures::executor::block_on(plan_errors(&ctx, rules)),
        Err(e) => vec![SpecError::new(
            Location::builtin(),
            format!("cannot plan rules: {}", e.strip_backtrace()),
            "check the functions: and pricing: settings",
        )],
    }
}
