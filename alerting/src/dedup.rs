//! The notification log and the dedup decision, as Alertmanager's `DedupStage.needsUpdate`:
//! per receiver and group, remember what was last notified (the hashes of the firing and of
//! the resolved alerts, and when), and notify again only when something changed or the repeat
//! interval has passed. The reasons are Alertmanager's `notification_reason` strings.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What was last delivered for one (receiver, group key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NflogEntry {
    /// When it was delivered (unix ns).
    pub timestamp_ns: i64,
    /// Fingerprints of the alerts it announced as firing.
    pub firing: BTreeSet<u64>,
    /// Fingerprints of the alerts it announced as resolved.
    pub resolved: BTreeSet<u64>,
}

/// Why a notification goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    FirstNotification,
    NewAlertsAdded,
    SomeAlertsResolved,
    AllAlertsResolved,
    RepeatIntervalElapsed,
}

impl Reason {
    /// Alertmanager's `notification_reason` text.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::FirstNotification => "first notification",
            Reason::NewAlertsAdded => "new alerts added",
            Reason::SomeAlertsResolved => "some alerts resolved",
            Reason::AllAlertsResolved => "all alerts resolved",
            Reason::RepeatIntervalElapsed => "repeat interval elapsed",
        }
    }
}

/// Whether a group with these `firing` and `resolved` alerts needs a notification now, given
/// the last one (`None`: never notified).
pub fn needs_update(
    last: Option<&NflogEntry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat_interval: Duration,
    now_ns: i64,
) -> Option<Reason> {
    let Some(last) = last else {
        // Never notified: only if something fires (resolved-only groups stay silent).
        return (!firing.is_empty()).then_some(Reason::FirstNotification);
    };
    if !firing.is_subset(&last.firing) {
        return Some(if last.firing.is_empty() {
            Reason::FirstNotification
        } else {
            Reason::NewAlertsAdded
        });
    }
    if firing.is_empty() {
        // Everything resolved: tell the receiver (whatever send_resolved says) if it was told
        // something fired, so the log is cleared; alerts that fired and resolved between two
        // notifications were never announced and need no word.
        return (!last.firing.is_empty()).then_some(Reason::AllAlertsResolved);
    }
    if send_resolved && !resolved.is_subset(&last.resolved) {
        return Some(Reason::SomeAlertsResolved);
    }
    (last.timestamp_ns < now_ns.saturating_sub(crate::ns(repeat_interval)))
        .then_some(Reason::RepeatIntervalElapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const REPEAT: Duration = Duration::from_secs(4 * 3600);

    fn set(v: &[u64]) -> BTreeSet<u64> {
        v.iter().copied().collect()
    }

    fn entry(at: i64, firing: &[u64], resolved: &[u64]) -> NflogEntry {
        NflogEntry {
            timestamp_ns: at,
            firing: set(firing),
            resolved: set(resolved),
        }
    }

    #[test]
    fn the_dedup_table_of_alertmanager() {
        let now = 10 * 3600 * S;
        let recent = now - 60 * S;
        let old = now - 5 * 3600 * S;
        type Case<'a> = (
            &'a str,
            Option<NflogEntry>,
            &'a [u64],
            &'a [u64],
            bool,
            Option<Reason>,
        );
        let cases: Vec<Case> = vec![
            (
                "never notified, firing",
                None,
                &[1],
                &[],
                true,
                Some(Reason::FirstNotification),
            ),
            ("never notified, only resolved", None, &[], &[1], true, None),
            ("never notified, nothing", None, &[], &[], true, None),
            (
                "a new alert joins",
                Some(entry(recent, &[1], &[])),
                &[1, 2],
                &[],
                true,
                Some(Reason::NewAlertsAdded),
            ),
            (
                "fires again after all resolved",
                Some(entry(recent, &[], &[1])),
                &[1],
                &[],
                true,
                Some(Reason::FirstNotification),
            ),
            (
                "same firing set, recently",
                Some(entry(recent, &[1, 2], &[])),
                &[1, 2],
                &[],
                true,
                None,
            ),
            (
                "a subset still firing, one resolved",
                Some(entry(recent, &[1, 2], &[])),
                &[1],
                &[2],
                true,
                Some(Reason::SomeAlertsResolved),
            ),
            (
                "one resolved, send_resolved off",
                Some(entry(recent, &[1, 2], &[])),
                &[1],
                &[2],
                false,
                None,
            ),
            (
                "resolution already announced",
                Some(entry(recent, &[1], &[2])),
                &[1],
                &[2],
                true,
                None,
            ),
            (
                "all resolved",
                Some(entry(recent, &[1], &[])),
                &[],
                &[1],
                true,
                Some(Reason::AllAlertsResolved),
            ),
            (
                "all resolved, send_resolved off: still sent",
                Some(entry(recent, &[1], &[])),
                &[],
                &[1],
                false,
                Some(Reason::AllAlertsResolved),
            ),
            (
                "fired and resolved unseen",
                Some(entry(recent, &[], &[3])),
                &[],
                &[4],
                true,
                None,
            ),
            (
                "nothing changed, repeat elapsed",
                Some(entry(old, &[1], &[])),
                &[1],
                &[],
                true,
                Some(Reason::RepeatIntervalElapsed),
            ),
            (
                "exactly at the repeat interval: not yet",
                Some(entry(now - 4 * 3600 * S, &[1], &[])),
                &[1],
                &[],
                true,
                None,
            ),
        ];
        for (name, last, firing, resolved, send_resolved, want) in cases {
            let got = needs_update(
                last.as_ref(),
                &set(firing),
                &set(resolved),
                send_resolved,
                REPEAT,
                now,
            );
            assert_eq!(got, want, "{name}");
        }
        assert_eq!(Reason::RepeatIntervalElapsed.as_str(), "repeat interval elapsed");
    }
}
