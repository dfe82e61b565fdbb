//! Silences, as Alertmanager's: matchers, a start and an end, who and why. An alert every
//! matcher of an active silence matches is not notified. A silence can target anything the
//! labels say, e.g. `cloud_provider="aws"` and `cloud_region="eu-west-1"` during a provider
//! outage. Expiring a silence (`DELETE`) sets its end to now; expired silences are kept (for
//! the record) until pruned.

use serde::{Deserialize, Serialize};

use crate::labels::LabelSet;
use crate::matcher::{MatchOp, Matcher, MatcherError, Matchers};

/// A matcher as the Alertmanager v2 API spells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl ApiMatcher {
    pub fn to_matcher(&self) -> Result<Matcher, MatcherError> {
        let op = match (self.is_regex, self.is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        };
        Matcher::new(&self.name, op, &self.value)
    }
}

/// A silence. Times are unix nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<ApiMatcher>,
    pub starts_at_ns: i64,
    pub ends_at_ns: i64,
    pub created_by: String,
    pub comment: String,
    pub updated_at_ns: i64,
}

/// `pending` (starts later), `active`, or `expired`, as Alertmanager reports a silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl Silence {
    pub fn state(&self, now_ns: i64) -> SilenceState {
        if now_ns < self.starts_at_ns {
            SilenceState::Pending
        } else if now_ns < self.ends_at_ns {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    pub fn matchers(&self) -> Result<Matchers, MatcherError> {
        self.matchers
            .iter()
            .map(ApiMatcher::to_matcher)
            .collect::<Result<Vec<_>, _>>()
            .map(Matchers)
    }

    /// Whether this silence mutes `labels` at `now_ns`.
    pub fn mutes(&self, labels: &LabelSet, now_ns: i64) -> bool {
        self.state(now_ns) == SilenceState::Active && self.matchers().is_ok_and(|m| m.matches(labels))
    }

    /// Refuses what Alertmanager refuses: no matchers, matchers that match every alert
    /// (an empty-string equality only), an end not after the start, invalid regexes.
    pub fn validate(&self) -> Result<(), String> {
        if self.matchers.is_empty() {
            return Err("a silence needs at least one matcher".into());
        }
        let ms = self.matchers().map_err(|e| e.to_string())?;
        if ms.matches(&LabelSet::new()) {
            return Err("these matchers match every alert (also one without any label); add a matcher that needs a label value".into());
        }
        if self.ends_at_ns <= self.starts_at_ns {
            return Err("endsAt must be after startsAt".into());
        }
        if self.created_by.trim().is_empty() {
            return Err("createdBy is required".into());
        }
        if self.comment.trim().is_empty() {
            return Err("comment is required: say why".into());
        }
        Ok(())
    }
}

/// Whether any silence mutes `labels`; the ids of those that do.
pub fn silenced_by<'a>(
    silences: impl IntoIterator<Item = &'a Silence>,
    labels: &LabelSet,
    now_ns: i64,
) -> Vec<String> {
    silences
        .into_iter()
        .filter(|s| s.mutes(labels, now_ns))
        .map(|s| s.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::labels;

    const S: i64 = 1_000_000_000;

    fn silence(matchers: Vec<ApiMatcher>, start: i64, end: i64) -> Silence {
        Silence {
            id: "s1".into(),
            matchers,
            starts_at_ns: start,
            ends_at_ns: end,
            created_by: "oncall".into(),
            comment: "AWS eu-west-1 Lambda outage".into(),
            updated_at_ns: start,
        }
    }

    fn m(name: &str, value: &str, is_regex: bool, is_equal: bool) -> ApiMatcher {
        ApiMatcher {
            name: name.into(),
            value: value.into(),
            is_regex,
            is_equal,
        }
    }

    #[test]
    fn a_silence_mutes_what_it_matches_while_active() {
        let s = silence(
            vec![
                m("cloud_provider", "aws", false, true),
                m("cloud_region", "eu-.*", true, true),
            ],
            100 * S,
            200 * S,
        );
        let eu = labels([
            ("cloud_provider", "aws"),
            ("cloud_region", "eu-west-1"),
            ("slo", "x"),
        ]);
        let us = labels([("cloud_provider", "aws"), ("cloud_region", "us-east-1")]);
        assert_eq!(s.state(99 * S), SilenceState::Pending);
        assert!(!s.mutes(&eu, 99 * S));
        assert!(s.mutes(&eu, 100 * S));
        assert!(!s.mutes(&us, 150 * S));
        assert!(!s.mutes(&eu, 200 * S)); // the end is exclusive
        assert_eq!(s.state(200 * S), SilenceState::Expired);
        assert_eq!(silenced_by([&s], &eu, 150 * S), ["s1"]);
        // Negative matchers.
        let not_prod = silence(
            vec![m("env", "prod", false, false), m("slo", ".+", true, true)],
            0,
            10 * S,
        );
        assert!(not_prod.mutes(&labels([("env", "dev"), ("slo", "a")]), S));
        assert!(!not_prod.mutes(&labels([("env", "prod"), ("slo", "a")]), S));
    }

    #[test]
    fn invalid_silences_are_refused_with_a_reason() {
        let ok = silence(vec![m("slo", "checkout", false, true)], 0, S);
        assert!(ok.validate().is_ok());
        for (s, want) in [
            (silence(vec![], 0, S), "at least one matcher"),
            (
                silence(vec![m("slo", "", false, true)], 0, S),
                "match every alert",
            ),
            (
                silence(vec![m("slo", ".*", true, true)], 0, S),
                "match every alert",
            ),
            (silence(vec![m("slo", "(", true, true)], 0, S), "invalid regex"),
            (
                silence(vec![m("slo", "a", false, true)], S, S),
                "endsAt must be after",
            ),
            (
                Silence {
                    comment: " ".into(),
                    ..ok.clone()
                },
                "comment is required",
            ),
            (
                Silence {
                    created_by: String::new(),
                    ..ok.clone()
                },
                "createdBy",
            ),
        ] {
            let e = s.validate().unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }
}
