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

/// A silence as `POST /api/v1/silences` takes it (Alertmanager v2's `PostableSilence`): times
/// in RFC 3339; `startsAt` defaults to now; an `id` updates that silence.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostableSilence {
    #[serde(default)]
    pub id: Option<String>,
    pub matchers: Vec<ApiMatcher>,
    #[serde(default)]
    pub starts_at: Option<String>,
    pub ends_at: String,
    pub created_by: String,
    pub comment: String,
}

/// A silence as `GET /api/v1/silences` answers it (Alertmanager v2's `GettableSilence`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableSilence {
    pub id: String,
    pub status: GettableStatus,
    pub updated_at: String,
    pub matchers: Vec<ApiMatcher>,
    pub starts_at: String,
    pub ends_at: String,
    pub created_by: String,
    pub comment: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GettableStatus {
    pub state: SilenceState,
}

fn parse_time(field: &str, v: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(v)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| format!("{field}: {v:?} is not an RFC 3339 time such as 2026-12-05T18:00:00Z"))
}

impl Silence {
    pub fn gettable(&self, now_ns: i64) -> GettableSilence {
        use crate::webhook::go_time;
        GettableSilence {
            id: self.id.clone(),
            status: GettableStatus {
                state: self.state(now_ns),
            },
            updated_at: go_time(self.updated_at_ns),
            matchers: self.matchers.clone(),
            starts_at: go_time(self.starts_at_ns),
            ends_at: go_time(self.ends_at_ns),
            created_by: self.created_by.clone(),
            comment: self.comment.clone(),
        }
    }
}

/// Why a silence cannot be expired.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpireError {
    #[error("no silence with id {0:?}: list them with GET /api/v1/silences")]
    NotFound(String),
    #[error("silence {0:?} has already expired")]
    AlreadyExpired(String),
}

/// The silences, persisted in `<dir>/silences.json` (written aside, fsynced and renamed over
/// on every change, so a crash leaves the old or the new set, never a torn one). Silences
/// expired for more than five days are dropped, as Alertmanager's default retention.
#[derive(Debug)]
pub struct SilenceStore {
    path: std::path::PathBuf,
    silences: std::collections::BTreeMap<String, Silence>,
}

const RETENTION_NS: i64 = 5 * 24 * 3600 * 1_000_000_000;

impl SilenceStore {
    pub fn open(dir: &std::path::Path) -> std::io::Result<SilenceStore> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("silences.json");
        let silences = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Vec<Silence>>(&bytes)
                .map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{}: {e}; move the file away to start without silences",
                            path.display()
                        ),
                    )
                })?
                .into_iter()
                .map(|s| (s.id.clone(), s))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
            Err(e) => return Err(e),
        };
        Ok(SilenceStore { path, silences })
    }

    /// Every silence, pending and active first, by end time.
    pub fn list(&self) -> Vec<Silence> {
        let mut v: Vec<Silence> = self.silences.values().cloned().collect();
        v.sort_by_key(|s| (s.ends_at_ns, s.id.clone()));
        v
    }

    /// Creates (or, with a known `id`, replaces) a silence; returns its id.
    pub fn post(&mut self, p: PostableSilence, new_id: String, now_ns: i64) -> Result<String, String> {
        let starts_at_ns = match &p.starts_at {
            Some(t) => parse_time("startsAt", t)?.max(now_ns),
            None => now_ns,
        };
        let ends_at_ns = parse_time("endsAt", &p.ends_at)?;
        if ends_at_ns <= now_ns {
            return Err("endsAt is in the past: a silence must end in the future".into());
        }
        let id = match p.id.filter(|i| !i.is_empty()) {
            Some(id) if self.silences.contains_key(&id) => id,
            Some(id) => {
                return Err(format!(
                    "no silence with id {id:?} to update; leave id out to create one"
                ));
            }
            None => new_id,
        };
        let s = Silence {
            id: id.clone(),
            matchers: p.matchers,
            starts_at_ns,
            ends_at_ns,
            created_by: p.created_by,
            comment: p.comment,
            updated_at_ns: now_ns,
        };
        s.validate()?;
        let old = self.silences.insert(id.clone(), s);
        if let Err(e) = self.save(now_ns) {
            match old {
                Some(o) => self.silences.insert(id.clone(), o),
                None => self.silences.remove(&id),
            };
            return Err(format!("cannot save the silence: {e}"));
        }
        Ok(id)
    }

    /// Expires a silence now (Alertmanager's `DELETE`).
    pub fn expire(&mut self, id: &str, now_ns: i64) -> Result<(), ExpireError> {
        let s = self
            .silences
            .get_mut(id)
            .ok_or_else(|| ExpireError::NotFound(id.to_string()))?;
        if s.state(now_ns) == SilenceState::Expired {
            return Err(ExpireError::AlreadyExpired(id.to_string()));
        }
        s.ends_at_ns = now_ns;
        s.starts_at_ns = s.starts_at_ns.min(now_ns);
        s.updated_at_ns = now_ns;
        // In memory it is expired either way; a failed save is retried at the next change.
        let _ = self.save(now_ns);
        Ok(())
    }

    fn save(&mut self, now_ns: i64) -> std::io::Result<()> {
        self.silences
            .retain(|_, s| now_ns.saturating_sub(s.ends_at_ns) < RETENTION_NS);
        let tmp = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(&self.list()).map_err(std::io::Error::other)?;
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
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

    #[test]
    fn silences_persist_expire_and_refuse_what_alertmanager_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let post = |json: &str| serde_json::from_str::<PostableSilence>(json).unwrap();
        let now = 1_700_000_000 * S;
        let mut store = SilenceStore::open(dir.path()).unwrap();
        let ok = r#"{"matchers":[{"name":"slo","value":"availability","isRegex":false}],
            "endsAt":"2030-01-01T00:00:00Z","createdBy":"oncall","comment":"deploy"}"#;
        let id = store.post(post(ok), "s1".into(), now).unwrap();
        assert_eq!(id, "s1");
        for (json, want) in [
            (
                r#"{"matchers":[],"endsAt":"2030-01-01T00:00:00Z","createdBy":"a","comment":"b"}"#,
                "at least one matcher",
            ),
            (
                r#"{"matchers":[{"name":"slo","value":"x","isRegex":false}],"endsAt":"2001-01-01T00:00:00Z","createdBy":"a","comment":"b"}"#,
                "in the past",
            ),
            (
                r#"{"matchers":[{"name":"slo","value":"x","isRegex":false}],"endsAt":"tomorrow","createdBy":"a","comment":"b"}"#,
                "RFC 3339",
            ),
            (
                r#"{"matchers":[{"name":"slo","value":"x","isRegex":false}],"endsAt":"2030-01-01T00:00:00Z","createdBy":"","comment":"b"}"#,
                "createdBy",
            ),
            (
                r#"{"id":"nope","matchers":[{"name":"slo","value":"x","isRegex":false}],"endsAt":"2030-01-01T00:00:00Z","createdBy":"a","comment":"b"}"#,
                "no silence with id",
            ),
            (
                r#"{"matchers":[{"name":"slo","value":"(","isRegex":true}],"endsAt":"2030-01-01T00:00:00Z","createdBy":"a","comment":"b"}"#,
                "regex",
            ),
        ] {
            let err = store.post(post(json), "s2".into(), now).unwrap_err();
            assert!(err.contains(want), "{json}: {err}");
        }
        // Persisted: a new store reads it back; expiring ends it now and is persisted too.
        let mut again = SilenceStore::open(dir.path()).unwrap();
        assert_eq!(again.list().len(), 1);
        assert_eq!(again.list()[0].state(now), SilenceState::Active);
        again.expire("s1", now + S).unwrap();
        assert_eq!(
            again.expire("s1", now + 2 * S),
            Err(ExpireError::AlreadyExpired("s1".into()))
        );
        assert_eq!(again.expire("zz", now), Err(ExpireError::NotFound("zz".into())));
        let third = SilenceStore::open(dir.path()).unwrap();
        assert_eq!(third.list()[0].state(now + 2 * S), SilenceState::Expired);
        assert_eq!(
            third.list()[0].gettable(now + 2 * S).status.state,
            SilenceState::Expired
        );
    }
}
