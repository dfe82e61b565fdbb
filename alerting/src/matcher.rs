//! Label matchers as Alertmanager writes them: `name="value"`, `name!="value"`, `name=~"re"`,
//! `name!~"re"` (regexes anchored at both ends; a missing label matches as the empty string).
//! Used by routes, inhibition rules and silences.

use std::fmt;

use regex::Regex;

use crate::labels::{LabelSet, go_quote};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MatchOp {
    #[serde(rename = "=")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
    #[serde(rename = "=~")]
    Regex,
    #[serde(rename = "!~")]
    NotRegex,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

/// Why a matcher could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "matcher {input:?}: {reason}; write it as name=\"value\", name!=\"value\", name=~\"regex\" or name!~\"regex\""
)]
pub struct MatcherError {
    pub input: String,
    pub reason: String,
}

impl Matcher {
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, MatcherError> {
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(Regex::new(&format!("^(?:{value})$")).map_err(|e| MatcherError {
                    input: format!("{name}{}{}", op.as_str(), go_quote(value)),
                    reason: format!("invalid regex: {e}"),
                })?)
            }
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            re,
        })
    }

    /// Parses one matcher: `severity="page"`, `service=~"checkout|cart"`, `env!=prod`.
    pub fn parse(input: &str) -> Result<Matcher, MatcherError> {
        let err = |reason: &str| MatcherError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let s = input.trim();
        let op_at = s.find(['=', '!']).ok_or_else(|| err("no operator"))?;
        let name = s[..op_at].trim();
        if name.is_empty() {
            return Err(err("no label name"));
        }
        let name = name.trim_matches('"');
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' || c == '/')
        {
            return Err(err("a label name is letters, digits, '_', '.', '-' or '/'"));
        }
        let rest = &s[op_at..];
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchOp::Regex, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchOp::Equal, v)
        } else {
            return Err(err("unknown operator"));
        };
        let value = unquote(value.trim()).map_err(|r| err(&r))?;
        Matcher::new(name, op, &value)
    }

    /// Whether `labels` satisfy this matcher (a missing label is the empty string).
    pub fn matches(&self, labels: &LabelSet) -> bool {
        let v = labels.get(&self.name).map_or("", String::as_str);
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(v),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(v),
            // INVARIANT: regex operators always carry their compiled regex (Matcher::new).
            _ => false,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.op.as_str(), go_quote(&self.value))
    }
}

/// A Go-style double-quoted string, or a bare word.
fn unquote(s: &str) -> Result<String, String> {
    let Some(inner) = s.strip_prefix('"') else {
        if s.contains(['"', ',', '{', '}']) || s.chars().any(char::is_whitespace) {
            return Err("a value with spaces, quotes, commas or braces must be double-quoted".into());
        }
        return Ok(s.to_string());
    };
    let inner = inner.strip_suffix('"').ok_or("unterminated quoted value")?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some(other) => return Err(format!("unknown escape \\{other}")),
                None => return Err("trailing backslash".into()),
            },
            '"' => return Err("unescaped quote inside a value".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// All of several matchers (an empty list matches everything).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    /// Each string is one matcher, or several in braces: `{a="1", b=~"x|y"}`.
    pub fn parse<S: AsRef<str>>(inputs: &[S]) -> Result<Matchers, MatcherError> {
        let mut out = Vec::new();
        for input in inputs {
            let s = input.as_ref().trim();
            match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(inner) => {
                    for part in split_top_level(inner) {
                        if !part.trim().is_empty() {
                            out.push(Matcher::parse(&part)?);
                        }
                    }
                }
                None => out.push(Matcher::parse(s)?),
            }
        }
        Ok(Matchers(out))
    }

    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }
}

impl fmt::Display for Matchers {
    /// `{a="1",b=~"x"}`, as Alertmanager prints a route's matchers in its group keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "{{{}}}", parts.join(","))
    }
}

/// Splits at commas outside double quotes.
fn split_top_level(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        match c {
            '\\' if quoted && !escaped => {
                escaped = true;
                cur.push(c);
                continue;
            }
            '"' if !escaped => quoted = !quoted,
            ',' if !quoted => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        escaped = false;
        cur.push(c);
    }
    parts.push(cur);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::labels;

    #[test]
    fn matchers_parse_and_match_as_alertmanager_does() {
        let l = labels([("severity", "page"), ("service", "checkout"), ("env", "")]);
        for (m, want) in [
            (r#"severity="page""#, true),
            ("severity=page", true),
            (r#"severity!="page""#, false),
            (r#"service=~"check.*""#, true),
            (r#"service=~"check""#, false), // anchored
            (r#"service!~"cart|search""#, true),
            (r#"missing="""#, true), // missing label = empty string
            (r#"missing!="""#, false),
            (r#"env="""#, true),
            (r#"missing=~".*""#, true),
            (r#"missing=~".+""#, false),
        ] {
            assert_eq!(Matcher::parse(m).unwrap().matches(&l), want, "{m}");
        }
    }

    #[test]
    fn matcher_lists_and_printing() {
        let ms = Matchers::parse(&[r#"{severity="page", slo=~"a,b|c"}"#, "team=payments"]).unwrap();
        assert_eq!(ms.0.len(), 3);
        assert_eq!(
            ms.to_string(),
            r#"{severity="page",slo=~"a,b|c",team="payments"}"#
        );
        assert!(ms.matches(&labels([
            ("severity", "page"),
            ("slo", "a,b"),
            ("team", "payments")
        ])));
        assert!(!ms.matches(&labels([
            ("severity", "page"),
            ("slo", "a"),
            ("team", "payments")
        ])));
        assert!(Matchers::default().matches(&labels([("x", "y")])));
    }

    #[test]
    fn bad_matchers_say_how_to_write_them() {
        for bad in [
            "severity",
            r#"="x""#,
            r#"a=~"(""#,
            r#"a="unterminated"#,
            "a=two words",
            r#"a="x\q""#,
        ] {
            let e = Matcher::parse(bad).unwrap_err().to_string();
            assert!(e.contains(r#"name="value""#), "{bad}: {e}");
        }
    }
}
