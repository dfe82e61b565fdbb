//! Spec errors: where (file:line:column), what, and how to fix it.

use std::fmt;

/// A place in a spec file (1-based line and column), or a built-in default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl Location {
    pub fn new(file: &str, line: usize, column: usize) -> Location {
        Location {
            file: file.into(),
            line,
            column,
        }
    }

    pub fn builtin() -> Location {
        Location::new("<built-in>", 0, 0)
    }

    /// The location of a marked YAML span, shifted by `line_offset` (multi-document files).
    pub(crate) fn of(file: &str, span: &marked_yaml::Span, line_offset: usize) -> Location {
        span.start()
            .map(|m| Location::new(file, m.line() + line_offset, m.column()))
            .unwrap_or_else(|| Location::new(file, line_offset.max(1), 1))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.column)
        }
    }
}

/// One problem in an SLO or rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub at: Location,
    pub message: String,
    pub hint: String,
}

impl SpecError {
    pub fn new(at: Location, message: String, hint: impl Into<String>) -> SpecError {
        SpecError {
            at,
            message,
            hint: hint.into(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)?;
        if !self.hint.is_empty() {
            write!(f, "\n    hint: {}", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

/// Turns a marked-yaml deserialisation error into a located one.
pub(crate) fn from_serde(
    file: &str,
    e: &marked_yaml::FromNodeError,
    line_offset: usize,
    fallback: &Location,
) -> SpecError {
    let at = e
        .start_mark()
        .map(|m| Location::new(file, m.line() + line_offset, m.column()))
        .unwrap_or_else(|| fallback.clone());
    let message = e.to_string();
    let hint = if message.starts_with("Unknown field") {
        "remove the key or fix its spelling (docs/slo.md lists every key)"
    } else if message.contains("missing field") {
        "add the missing key"
    } else {
        "check the value's type"
    };
    SpecError::new(at, message, hint)
}
