//! Annotation templates, a small subset of Prometheus' Go templates:
//!
//! - `{{ $labels.NAME }}` — the instance's label (empty when it has none);
//! - `{{ $value }}` — the value, shortest form with at most 4 decimals (`12`, `0.8125`);
//! - `{{ printf "%.Nf" $value }}` — the value with N decimals (N ≤ 9);
//! - `{{ humanizePercentage $value }}` — `0.8125` → `81.25%`.
//!
//! Anything else between `{{` and `}}` is refused when the rule is loaded, so a typo is a
//! `slod check` error, not an empty annotation in a page.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Label(String),
    Value,
    Fixed(usize),
    Percentage,
}

/// A parsed annotation template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Serialize for Template {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

/// Why a template was refused: the offending action and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub action: String,
    pub message: String,
}

fn action(inner: &str) -> Option<Part> {
    let words: Vec<&str> = inner.split_whitespace().collect();
    match words.as_slice() {
        ["$value"] => Some(Part::Value),
        [label] => label
            .strip_prefix("$labels.")
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .map(|n| Part::Label(n.to_string())),
        ["printf", format, "$value"] => {
            let digits = format.strip_prefix("\"%.").and_then(|f| f.strip_suffix("f\""))?;
            let n: usize = digits.parse().ok()?;
            (n <= 9).then_some(Part::Fixed(n))
        }
        ["humanizePercentage", "$value"] => Some(Part::Percentage),
        _ => None,
    }
}

/// `12`, `0.8125`, `1234.5`: at most 4 decimals, trailing zeros dropped.
pub fn format_value(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(TemplateError {
                    action: rest[open..].chars().take(40).collect(),
                    message: "`{{` without a closing `}}`".into(),
                });
            };
            let inner = after[..close].trim_matches('-').trim();
            match action(inner) {
                Some(p) => parts.push(p),
                None => {
                    return Err(TemplateError {
                        action: format!("{{{{ {inner} }}}}"),
                        message: "unsupported template action".into(),
                    });
                }
            }
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template {
            source: source.to_string(),
            parts,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn render(&self, labels: &BTreeMap<String, String>, value: f64) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Label(l) => out.push_str(labels.get(l).map_or("", String::as_str)),
                Part::Value => out.push_str(&format_value(value)),
                Part::Fixed(n) => out.push_str(&format!("{value:.n$}")),
                Part::Percentage => out.push_str(&format!("{}%", format_value(value * 100.0))),
            }
        }
        out
    }
}
