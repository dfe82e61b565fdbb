//! The durable side of delivery: an **outbox** of notifications decided but not yet delivered,
//! and the **notification log** of what was delivered (per receiver and group: when, and which
//! alerts fired and resolved; [`crate::dedup`] decides from it). Both live in one append-only
//! journal (`<dir>/journal.jsonl`, one JSON record a line, fsynced before anything depends on
//! it), compacted at open.
//!
//! At-least-once: a notification is journaled before its first attempt; it leaves the outbox
//! only when its `delivered` record is fsynced after the receiver's 2xx. A crash between the
//! 2xx and that record re-sends it after restart with the same id — the `Idempotency-Key` —
//! which is also the only case a receiver sees a key twice. Each new notification (a repeat
//! included) gets a new id. A torn last line (a crash mid-write) is ignored: it was never
//! acknowledged to anyone.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dedup::NflogEntry;

/// One notification to one receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// ULID: the `Idempotency-Key`, stable across retries and restarts.
    pub id: String,
    pub receiver: String,
    pub group_key: String,
    /// The exact body to send (JSON).
    pub body: String,
    /// Fingerprints announced as firing / resolved (for the notification log).
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
    pub created_at_ns: i64,
    /// Which of the receiver's webhooks (its index under `webhook_configs`).
    #[serde(default)]
    pub integration: usize,
}

impl Notification {
    fn nflog_entry(&self, at_ns: i64) -> NflogEntry {
        NflogEntry {
            timestamp_ns: at_ns,
            firing: self.firing.clone(),
            resolved: self.resolved.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Record {
    Queued {
        n: Notification,
    },
    Delivered {
        id: String,
        at_ns: i64,
    },
    Failed {
        id: String,
        reason: String,
    },
    Log {
        receiver: String,
        group_key: String,
        entry: NflogEntry,
    },
}

/// The outbox and notification log.
#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    file: File,
    pending: BTreeMap<String, Notification>,
    log: BTreeMap<(String, String), NflogEntry>,
    skipped: usize,
}

impl Outbox {
    /// Journal lines that could not be read at open (a torn tail is one).
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Opens (or creates) the journal in `dir`, replays it and compacts it.
    pub fn open(dir: &Path) -> std::io::Result<Outbox> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("journal.jsonl");
        let mut pending = BTreeMap::new();
        let mut log = BTreeMap::new();
        let mut skipped = 0usize;
        if path.exists() {
            for line in BufReader::new(File::open(&path)?).lines() {
                let Ok(line) = line else { break };
                // A torn last line (a crash mid-append) was never acknowledged; a damaged line
                // elsewhere loses that record only, not the ones after it.
                match serde_json::from_str::<Record>(&line) {
                    Ok(record) => apply(&mut pending, &mut log, record),
                    Err(_) => skipped += 1,
                }
            }
        }
        // Compact: the live state only, written aside and renamed over the journal.
        let tmp = dir.join("journal.jsonl.tmp");
        {
            let mut f = File::create(&tmp)?;
            for ((receiver, group_key), entry) in &log {
                writeln!(
                    f,
                    "{}",
                    line(&Record::Log {
                        receiver: receiver.clone(),
                        group_key: group_key.clone(),
                        entry: entry.clone(),
                    })?
                )?;
            }
            for n in pending.values() {
                writeln!(f, "{}", line(&Record::Queued { n: n.clone() })?)?;
            }
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()?;
        let file = OpenOptions::new().append(true).open(&path)?;
        Ok(Outbox {
            path,
            file,
            pending,
            log,
            skipped,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&mut self, record: Record) -> std::io::Result<()> {
        writeln!(self.file, "{}", line(&record)?)?;
        self.file.sync_data()?;
        apply(&mut self.pending, &mut self.log, record);
        Ok(())
    }

    /// Journals a notification (durably) before its first attempt.
    pub fn enqueue(&mut self, n: Notification) -> std::io::Result<()> {
        self.append(Record::Queued { n })
    }

    /// The receiver answered 2xx: the notification leaves the outbox and the notification log
    /// remembers what it announced.
    pub fn delivered(&mut self, id: &str, at_ns: i64) -> std::io::Result<()> {
        self.log_pending(id, at_ns)?;
        self.append(Record::Delivered {
            id: id.to_string(),
            at_ns,
        })
    }

    fn log_pending(&mut self, id: &str, at_ns: i64) -> std::io::Result<()> {
        if let Some(n) = self.pending.get(id) {
            let record = Record::Log {
                receiver: n.receiver.clone(),
                group_key: n.group_key.clone(),
                entry: n.nflog_entry(at_ns),
            };
            self.append(record)?;
        }
        Ok(())
    }

    /// Given up (a 4xx the receiver will never accept, or too old): out of the outbox. The
    /// notification log records it as announced, so the same alerts are not re-sent at every
    /// group flush (a refused notification is not retried); the next change of the group, or
    /// its `repeat_interval`, tries again.
    pub fn failed(&mut self, id: &str, reason: &str, at_ns: i64) -> std::io::Result<()> {
        self.log_pending(id, at_ns)?;
        self.append(Record::Failed {
            id: id.to_string(),
            reason: reason.to_string(),
        })
    }

    /// Records a notification that goes to no one (nothing to tell the receiver, or a receiver
    /// without webhooks) in the notification log, as if delivered.
    pub fn record(&mut self, n: &Notification) -> std::io::Result<()> {
        self.append(Record::Log {
            receiver: n.receiver.clone(),
            group_key: n.group_key.clone(),
            entry: n.nflog_entry(n.created_at_ns),
        })
    }

    /// What `receiver` has been told of `group_key`, or will be: the newest queued
    /// notification, else the notification log. Dedup reads this, so a receiver that stalls
    /// does not make every group flush queue the same notification again.
    pub fn announced(&self, receiver: &str, group_key: &str) -> Option<NflogEntry> {
        self.pending
            .values()
            .filter(|n| n.receiver == receiver && n.group_key == group_key)
            .max_by_key(|n| (n.created_at_ns, n.id.clone()))
            .map(|n| n.nflog_entry(n.created_at_ns))
            .or_else(|| self.last(receiver, group_key).cloned())
    }

    /// The queued notification with this id.
    pub fn get(&self, id: &str) -> Option<&Notification> {
        self.pending.get(id)
    }

    /// Notifications not yet delivered, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &Notification> {
        let mut v: Vec<&Notification> = self.pending.values().collect();
        v.sort_by_key(|n| (n.created_at_ns, n.id.clone()));
        v.into_iter()
    }

    /// What was last delivered to `receiver` for `group_key`.
    pub fn last(&self, receiver: &str, group_key: &str) -> Option<&NflogEntry> {
        self.log.get(&(receiver.to_string(), group_key.to_string()))
    }
}

fn line(r: &Record) -> std::io::Result<String> {
    serde_json::to_string(r).map_err(std::io::Error::other)
}

fn apply(
    pending: &mut BTreeMap<String, Notification>,
    log: &mut BTreeMap<(String, String), NflogEntry>,
    r: Record,
) {
    match r {
        Record::Queued { n } => {
            pending.insert(n.id.clone(), n);
        }
        Record::Delivered { id, .. } | Record::Failed { id, .. } => {
            pending.remove(&id);
        }
        Record::Log {
            receiver,
            group_key,
            entry,
        } => {
            log.insert((receiver, group_key), entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(id: &str, created: i64) -> Notification {
        Notification {
            id: id.into(),
            receiver: "oncall".into(),
            group_key: "{}:{alertname=\"SLOBurnRate\"}".into(),
            body: "{}".into(),
            firing: [1, 2].into(),
            resolved: BTreeSet::new(),
            created_at_ns: created,
            integration: 0,
        }
    }

    #[test]
    fn what_was_not_delivered_survives_a_restart_with_its_id() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut o = Outbox::open(dir.path()).unwrap();
            o.enqueue(n("01A", 1)).unwrap();
            o.enqueue(n("01B", 2)).unwrap();
            o.delivered("01A", 10).unwrap();
            // crash: dropped without anything else
        }
        let o = Outbox::open(dir.path()).unwrap();
        let ids: Vec<&str> = o.pending().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["01B"]);
        let last = o.last("oncall", "{}:{alertname=\"SLOBurnRate\"}").unwrap();
        assert_eq!((last.timestamp_ns, last.firing.len()), (10, 2));
        assert!(o.last("other", "x").is_none());
    }

    #[test]
    fn failed_notifications_leave_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut o = Outbox::open(dir.path()).unwrap();
            o.enqueue(n("01A", 1)).unwrap();
            o.enqueue(n("01B", 2)).unwrap();
            o.failed("01A", "status_400", 5).unwrap();
            // Queued counts as announced (dedup does not queue it again); so does a refusal.
            assert_eq!(
                o.announced("oncall", "{}:{alertname=\"SLOBurnRate\"}")
                    .unwrap()
                    .timestamp_ns,
                2
            );
        }
        // A crash in the middle of appending a record.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("journal.jsonl"))
            .unwrap();
        write!(f, "{{\"op\":\"delivered\",\"id\":\"01").unwrap();
        drop(f);
        let o = Outbox::open(dir.path()).unwrap();
        assert_eq!(o.pending().map(|n| n.id.clone()).collect::<Vec<_>>(), ["01B"]);
        // The refusal is in the notification log.
        assert_eq!(
            o.last("oncall", "{}:{alertname=\"SLOBurnRate\"}")
                .unwrap()
                .timestamp_ns,
            5
        );
        // Compacted: the journal holds the live state only, and reopens the same.
        let text = std::fs::read_to_string(o.path()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        drop(o);
        assert_eq!(Outbox::open(dir.path()).unwrap().pending().count(), 1);
    }
}
