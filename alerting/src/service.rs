//! The alerting service of `slod serve`: every second it reads the SLO engine's newest alert
//! conditions, runs the [`Pipeline`], journals each decided notification in the [`Outbox`]
//! *before* the first attempt, and delivers what is queued, one notification at a time per
//! receiver, group and webhook (so a group's resolution never overtakes its page), with
//! exponential backoff on 5xx, 429 and network errors. A receiver that stalls holds back its
//! own queue only. Alertmanager receivers are pushed the alerts themselves ([`AmPusher`]).
//! What it sees is published for `GET /api/v1/alerts` and `/api/v1/notifications` through the
//! [`AlertingHandle`], which also holds the silences the API edits.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use slod_slo::tables::SloHandle;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::config::Alerting;
use crate::deliver::{Outcome, WebhookTarget, backoff, post};
use crate::dispatch::Alert;
use crate::inhibit::inhibited_by;
use crate::labels::{LabelSet, fingerprint_hex};
use crate::outbox::{Notification, Outbox};
use crate::pipeline::{Pipeline, ReceiverOpts};
use crate::silence::{ExpireError, GettableSilence, PostableSilence, Silence, SilenceStore};
use crate::webhook::{ZERO_TIME, go_time};

/// A notification not delivered after this long is given up (`reason="expired"`).
const MAX_DELIVERY_AGE: Duration = Duration::from_secs(24 * 3600);
/// Notifications kept for `GET /api/v1/notifications`.
const RECENT: usize = 200;

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// How the service runs.
#[derive(Debug, Clone)]
pub struct RunOpts {
    /// `data/_alerting`: the outbox journal and the silences.
    pub dir: PathBuf,
    /// How long a condition must hold before its alert fires (rules have their own `for`).
    pub for_: Duration,
    /// How long a resolved condition must stay resolved before the alert resolves.
    pub hold_down: Duration,
    /// How often group timers, deliveries and pushes are looked at.
    pub tick: Duration,
}

/// One alert as `GET /api/v1/alerts` answers it: Alertmanager v2's `GettableAlert`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    pub fingerprint: String,
    pub labels: LabelSet,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    pub updated_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub status: AlertStatus,
    pub receivers: Vec<ReceiverRef>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    /// `active`, `suppressed` (silenced or inhibited) or `resolved` (resolved, its
    /// notification not yet flushed).
    pub state: &'static str,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReceiverRef {
    pub name: String,
}

/// One notification and how its delivery goes, for `GET /api/v1/notifications`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    /// The `Idempotency-Key`.
    pub id: String,
    pub receiver: String,
    pub group_key: String,
    /// The webhook URL, or `-` when it went to no one (only logged).
    pub url: String,
    /// `queued`, `retrying`, `delivered`, `failed` or `logged`.
    pub status: &'static str,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub firing: usize,
    pub resolved: usize,
    pub created_at: String,
    pub updated_at: String,
}

/// What the API reads and edits.
#[derive(Debug, Clone)]
pub struct AlertingHandle {
    silences: Arc<Mutex<SilenceStore>>,
    alerts: Arc<RwLock<Arc<Vec<AlertView>>>>,
    notifications: Arc<RwLock<Arc<Vec<NotificationView>>>>,
}

impl AlertingHandle {
    /// Opens the silences kept in `dir`.
    pub fn open(dir: &std::path::Path) -> std::io::Result<AlertingHandle> {
        Ok(AlertingHandle {
            silences: Arc::new(Mutex::new(SilenceStore::open(dir)?)),
            alerts: Arc::default(),
            notifications: Arc::default(),
        })
    }

    pub fn alerts(&self) -> Arc<Vec<AlertView>> {
        self.alerts.read().clone()
    }

    /// Newest first.
    pub fn notifications(&self) -> Arc<Vec<NotificationView>> {
        self.notifications.read().clone()
    }

    pub fn silences(&self) -> Vec<Silence> {
        self.silences.lock().list()
    }

    pub fn gettable_silences(&self) -> Vec<GettableSilence> {
        let now = now_ns();
        self.silences().iter().map(|s| s.gettable(now)).collect()
    }

    pub fn post_silence(&self, p: PostableSilence) -> Result<String, String> {
        let id = ulid::Ulid::new().to_string();
        self.silences.lock().post(p, id, now_ns())
    }

    pub fn expire_silence(&self, id: &str) -> Result<(), ExpireError> {
        self.silences.lock().expire(id, now_ns())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReceiverLabels {
    receiver: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FailureLabels {
    receiver: String,
    reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

/// `slod_alerting_*` metrics, named after Alertmanager's `alertmanager_notifications_*`.
#[derive(Debug, Clone)]
pub struct AlertingMetrics {
    sent: Family<ReceiverLabels, Counter>,
    failed: Family<FailureLabels, Counter>,
    requests: Family<ReceiverLabels, Counter>,
    requests_failed: Family<FailureLabels, Counter>,
    alerts: Family<StateLabels, Gauge>,
    queued: Gauge,
}

impl AlertingMetrics {
    pub fn new(registry: &mut Registry) -> AlertingMetrics {
        let m = AlertingMetrics {
            sent: Family::default(),
            failed: Family::default(),
            requests: Family::default(),
            requests_failed: Family::default(),
            alerts: Family::default(),
            queued: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("slod_alerting");
        r.register(
            "notifications",
            "Notifications delivered (2xx), per receiver",
            m.sent.clone(),
        );
        r.register(
            "notifications_failed",
            "Notifications given up: refused by the receiver (a 4xx other than 429, never retried) or undeliverable for 24h",
            m.failed.clone(),
        );
        r.register(
            "notification_requests",
            "Delivery attempts (webhook calls and Alertmanager pushes), per receiver",
            m.requests.clone(),
        );
        r.register(
            "notification_requests_failed",
            "Delivery attempts that failed (retried unless the reason is final)",
            m.requests_failed.clone(),
        );
        r.register(
            "alerts",
            "Alerts by state (active, suppressed, resolved)",
            m.alerts.clone(),
        );
        r.register(
            "outbox_queued",
            "Notifications journaled but not yet delivered",
            m.queued.clone(),
        );
        m
    }

    fn fail(&self, f: &Family<FailureLabels, Counter>, receiver: &str, reason: &str) {
        f.get_or_create(&FailureLabels {
            receiver: receiver.to_string(),
            reason: reason.to_string(),
        })
        .inc();
    }

    fn request(&self, receiver: &str) {
        self.requests
            .get_or_create(&ReceiverLabels {
                receiver: receiver.to_string(),
            })
            .inc();
    }
}

/// Delivery bookkeeping of one queued notification.
#[derive(Debug, Default, Clone)]
struct Attempts {
    count: u32,
    next_at_ns: i64,
    in_flight: bool,
    last_error: Option<String>,
}

struct Service {
    cfg: Alerting,
    pipeline: Pipeline,
    outbox: Outbox,
    handle: AlertingHandle,
    metrics: AlertingMetrics,
    client: reqwest::Client,
    attempts: BTreeMap<String, Attempts>,
    recent: VecDeque<NotificationView>,
    results: mpsc::UnboundedSender<(String, Outcome)>,
    am: AmPusher,
}

/// Runs until `stop`. Whatever is queued and not delivered stays in the outbox for the next
/// start.
pub async fn run(
    cfg: Alerting,
    opts: RunOpts,
    slo: SloHandle,
    handle: AlertingHandle,
    metrics: AlertingMetrics,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let outbox = Outbox::open(&opts.dir)?;
    if outbox.skipped() > 0 {
        warn!(
            lines = outbox.skipped(),
            path = %outbox.path().display(),
            "unreadable lines in the alerting journal were skipped (a torn tail after a crash is one)"
        );
    }
    let queued = outbox.pending().count();
    if queued > 0 {
        info!(
            queued,
            "notifications not yet delivered before the restart are sent again, with the same Idempotency-Key"
        );
    }
    let receivers: BTreeMap<String, ReceiverOpts> = cfg
        .webhooks
        .iter()
        .filter_map(|(name, hooks)| {
            hooks.first().map(|h| {
                (
                    name.clone(),
                    ReceiverOpts {
                        send_resolved: h.send_resolved,
                        max_alerts: h.max_alerts,
                    },
                )
            })
        })
        .collect();
    let pipeline = Pipeline::new(
        cfg.route.clone(),
        cfg.inhibit.clone(),
        receivers,
        opts.for_,
        opts.hold_down,
        &cfg.external_url,
    )
    .with_dashboard_url(cfg.dashboard_url.clone());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let client = reqwest::Client::builder()
        .build()
        .map_err(std::io::Error::other)?;
    let mut svc = Service {
        am: AmPusher::new(&cfg),
        cfg,
        pipeline,
        outbox,
        handle,
        metrics,
        client,
        attempts: BTreeMap::new(),
        recent: VecDeque::new(),
        results: tx,
    };
    for n in svc.outbox.pending() {
        let url = svc.target(n).map(|t| t.url.clone()).unwrap_or_default();
        svc.recent
            .push_front(view(n, &url, "queued", &Attempts::default()));
    }
    let mut ticker = tokio::time::interval(opts.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen: Option<Arc<slod_slo::tables::Snapshot>> = None;
    enum Event {
        Tick,
        Settled(String, Outcome),
        Stop,
    }
    loop {
        let event = tokio::select! {
            _ = ticker.tick() => Event::Tick,
            Some((id, outcome)) = rx.recv() => Event::Settled(id, outcome),
            _ = stop.wait_for(|s| *s) => Event::Stop,
        };
        match event {
            Event::Tick => {
                let snapshot = slo.get();
                let fresh = !seen.as_ref().is_some_and(|s| Arc::ptr_eq(s, &snapshot));
                let conditions = fresh.then_some(snapshot.conditions.as_slice());
                svc.tick(conditions, now_ns()).await;
                seen = Some(snapshot);
            }
            Event::Settled(id, outcome) => svc.settle(&id, outcome, now_ns()),
            Event::Stop => break,
        }
    }
    Ok(())
}

impl Service {
    fn target(&self, n: &Notification) -> Option<&WebhookTarget> {
        self.cfg
            .webhooks
            .get(&n.receiver)
            .and_then(|hooks| hooks.get(n.integration))
            .map(|h| &h.target)
    }

    async fn tick(&mut self, conditions: Option<&[slod_slo::condition::AlertCondition]>, now: i64) {
        let silences = self.handle.silences();
        let outbox = &self.outbox;
        let last = |r: &str, g: &str| outbox.announced(r, g);
        let mut new_id = || ulid::Ulid::new().to_string();
        let decided = self.pipeline.tick(conditions, &silences, &last, &mut new_id, now);
        for d in decided {
            let hooks = self
                .cfg
                .webhooks
                .get(&d.notification.receiver)
                .map_or(0, Vec::len);
            info!(
                receiver = %d.notification.receiver,
                group = %d.notification.group_key,
                status = d.message.status,
                alerts = d.message.alerts.len(),
                reason = ?d.reason,
                "notification"
            );
            if !d.send || hooks == 0 {
                if let Err(e) = self.outbox.record(&d.notification) {
                    warn!(error = %e, "cannot write the notification log");
                }
                self.remember(view(&d.notification, "-", "logged", &Attempts::default()));
                continue;
            }
            for i in 0..hooks {
                let mut n = d.notification.clone();
                n.integration = i;
                if i > 0 {
                    n.id = ulid::Ulid::new().to_string();
                }
                let url = self.target(&n).map(|t| t.url.clone()).unwrap_or_default();
                // Journaled (fsynced) before the first attempt.
                match self.outbox.enqueue(n.clone()) {
                    Ok(()) => self.remember(view(&n, &url, "queued", &Attempts::default())),
                    Err(e) => {
                        warn!(error = %e, receiver = %n.receiver, "cannot journal a notification; it is not sent")
                    }
                }
            }
        }
        self.deliver(now);
        self.am
            .push(&self.pipeline, &self.client, &self.metrics, now)
            .await;
        self.publish(&silences, now);
    }

    /// Starts the due attempts: per receiver, group and webhook, the oldest queued
    /// notification only.
    fn deliver(&mut self, now: i64) {
        let mut busy: BTreeSet<(String, String, usize)> = BTreeSet::new();
        let mut start = Vec::new();
        let mut expired = Vec::new();
        for n in self.outbox.pending() {
            let key = (n.receiver.clone(), n.group_key.clone(), n.integration);
            if !busy.insert(key) {
                continue;
            }
            if now.saturating_sub(n.created_at_ns) > crate::ns(MAX_DELIVERY_AGE) {
                expired.push((n.id.clone(), "expired"));
                continue;
            }
            let Some(target) = self.target(n).cloned() else {
                expired.push((n.id.clone(), "receiver_removed"));
                continue;
            };
            let a = self.attempts.entry(n.id.clone()).or_default();
            if a.in_flight || a.next_at_ns > now {
                continue;
            }
            a.in_flight = true;
            start.push((n.clone(), target));
        }
        for (id, reason) in expired {
            self.give_up(&id, reason, now);
        }
        for (n, target) in start {
            self.metrics.request(&n.receiver);
            let (client, tx) = (self.client.clone(), self.results.clone());
            tokio::spawn(async move {
                let outcome = post(&client, &target, &n).await;
                let _ = tx.send((n.id.clone(), outcome));
            });
        }
        self.metrics
            .queued
            .set(i64::try_from(self.outbox.pending().count()).unwrap_or(i64::MAX));
    }

    /// One attempt's outcome.
    fn settle(&mut self, id: &str, outcome: Outcome, now: i64) {
        let Some(n) = self.outbox.get(id).cloned() else {
            return;
        };
        let a = self.attempts.entry(id.to_string()).or_default();
        a.in_flight = false;
        a.count += 1;
        match outcome {
            Outcome::Delivered => {
                if let Err(e) = self.outbox.delivered(id, now) {
                    // Not logged: it is sent again (same key) rather than lost.
                    warn!(error = %e, id, "cannot journal a delivery; it will be sent again");
                    return;
                }
                let a = self.attempts.remove(id).unwrap_or_default();
                self.metrics
                    .sent
                    .get_or_create(&ReceiverLabels {
                        receiver: n.receiver.clone(),
                    })
                    .inc();
                self.update(id, "delivered", &a, now);
            }
            Outcome::Retry { reason, after } => {
                let wait = backoff(a.count - 1, rand::random::<f64>()).max(after.unwrap_or_default());
                a.next_at_ns = now.saturating_add(crate::ns(wait));
                a.last_error = Some(reason.clone());
                let a = a.clone();
                warn!(id, receiver = %n.receiver, reason, attempt = a.count, retry_in = ?wait, "notification not delivered; retrying");
                self.metrics
                    .fail(&self.metrics.requests_failed, &n.receiver, &reason);
                self.update(id, "retrying", &a, now);
            }
            Outcome::Failed { reason } => {
                a.last_error = Some(reason.clone());
                warn!(id, receiver = %n.receiver, reason, "notification refused by the receiver; not retried");
                self.metrics
                    .fail(&self.metrics.requests_failed, &n.receiver, &reason);
                self.give_up(id, &reason, now);
            }
        }
    }

    fn give_up(&mut self, id: &str, reason: &str, now: i64) {
        let Some(n) = self.outbox.get(id).cloned() else {
            return;
        };
        if let Err(e) = self.outbox.failed(id, reason, now) {
            warn!(error = %e, id, "cannot journal a failed notification");
        }
        let mut a = self.attempts.remove(id).unwrap_or_default();
        a.last_error.get_or_insert_with(|| reason.to_string());
        self.metrics.fail(&self.metrics.failed, &n.receiver, reason);
        self.update(id, "failed", &a, now);
    }

    fn remember(&mut self, v: NotificationView) {
        self.recent.push_front(v);
        self.recent.truncate(RECENT);
    }

    fn update(&mut self, id: &str, status: &'static str, a: &Attempts, now: i64) {
        if let Some(v) = self.recent.iter_mut().find(|v| v.id == id) {
            v.status = status;
            v.attempts = a.count;
            v.last_error.clone_from(&a.last_error);
            v.updated_at = go_time(now);
        }
        // Published with the alerts at the next tick (within a second).
    }

    /// Publishes the alerts for the API, and their gauge.
    fn publish(&mut self, silences: &[Silence], now: i64) {
        let firing = self.pipeline.firing_labels(now);
        let mut by_fp: BTreeMap<u64, AlertView> = BTreeMap::new();
        for g in self.pipeline.groups() {
            for a in g.alerts.values() {
                let v = by_fp
                    .entry(a.fingerprint())
                    .or_insert_with(|| alert_view(a, silences, self.pipeline.inhibit_rules(), &firing, now));
                if !v.receivers.iter().any(|r| r.name == g.opts.receiver) {
                    v.receivers.push(ReceiverRef {
                        name: g.opts.receiver.clone(),
                    });
                }
            }
        }
        self.metrics.alerts.clear();
        for v in by_fp.values() {
            self.metrics
                .alerts
                .get_or_create(&StateLabels {
                    state: v.status.state.to_string(),
                })
                .inc();
        }
        *self.handle.alerts.write() = Arc::new(by_fp.into_values().collect());
        let snapshot: Vec<NotificationView> = self.recent.iter().cloned().collect();
        *self.handle.notifications.write() = Arc::new(snapshot);
    }
}

fn alert_view(
    a: &Alert,
    silences: &[Silence],
    rules: &[crate::inhibit::InhibitRule],
    firing: &[LabelSet],
    now: i64,
) -> AlertView {
    let silenced_by = crate::silence::silenced_by(silences, &a.labels, now);
    let inhibited_by: Vec<String> = if a.is_resolved(now) {
        Vec::new()
    } else {
        inhibited_by(rules, &a.labels, firing.iter())
            .into_iter()
            .map(fingerprint_hex)
            .collect()
    };
    let state = if a.is_resolved(now) {
        "resolved"
    } else if silenced_by.is_empty() && inhibited_by.is_empty() {
        "active"
    } else {
        "suppressed"
    };
    AlertView {
        fingerprint: format!("{:016x}", a.fingerprint()),
        labels: a.labels.clone(),
        annotations: a.annotations.clone(),
        starts_at: go_time(a.starts_at_ns),
        ends_at: a.ends_at_ns.map_or_else(|| ZERO_TIME.to_string(), go_time),
        updated_at: go_time(a.updated_at_ns),
        generator_url: a.generator_url.clone(),
        status: AlertStatus {
            state,
            silenced_by,
            inhibited_by,
        },
        receivers: Vec::new(),
    }
}

fn view(n: &Notification, url: &str, status: &'static str, a: &Attempts) -> NotificationView {
    NotificationView {
        id: n.id.clone(),
        receiver: n.receiver.clone(),
        group_key: n.group_key.clone(),
        url: url.to_string(),
        status,
        attempts: a.count,
        last_error: a.last_error.clone(),
        firing: n.firing.len(),
        resolved: n.resolved.len(),
        created_at: go_time(n.created_at_ns),
        updated_at: go_time(n.created_at_ns),
    }
}

/// How far ahead `endsAt` is set on a firing alert pushed to Alertmanager, and how often it is
/// pushed again (Prometheus: `4 × resend_delay` ahead, resent every minute). If slod stops,
/// Alertmanager resolves the alert by itself when `endsAt` passes.
const AM_ENDS_AHEAD: Duration = Duration::from_secs(4 * 60);
const AM_RESEND: Duration = Duration::from_secs(60);
const AM_RETRY: Duration = Duration::from_secs(5);

/// Pushes alerts to Alertmanagers (`POST <url>/api/v2/alerts`), as Prometheus does: every
/// alert routed to an `alertmanager_configs` receiver, firing ones again every minute with
/// `endsAt` four minutes ahead, and once more with `endsAt` in the past when it resolves.
/// Alertmanager groups, silences, inhibits and notifies by itself, so slod's grouping, silences
/// and notification log do not apply to these receivers.
#[derive(Debug)]
struct AmPusher {
    /// Alertmanager URLs and timeouts, per receiver.
    targets: BTreeMap<String, Vec<(String, Duration)>>,
    /// Per Alertmanager URL, per alert: when it was last pushed, as what, and whether as
    /// resolved.
    pushed: BTreeMap<String, BTreeMap<u64, (i64, Alert, bool)>>,
    /// Per Alertmanager URL: no push before this (after a failure).
    retry_at: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert<'a> {
    labels: &'a LabelSet,
    annotations: &'a BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
}

impl AmPusher {
    fn new(cfg: &Alerting) -> AmPusher {
        AmPusher {
            targets: cfg.alertmanagers.clone(),
            pushed: BTreeMap::new(),
            retry_at: BTreeMap::new(),
        }
    }

    async fn push(
        &mut self,
        pipeline: &Pipeline,
        client: &reqwest::Client,
        metrics: &AlertingMetrics,
        now: i64,
    ) {
        if self.targets.is_empty() {
            return;
        }
        // The alerts each Alertmanager should know of now.
        let mut current: BTreeMap<String, (String, Duration, BTreeMap<u64, Alert>)> = BTreeMap::new();
        for g in pipeline.groups() {
            let Some(urls) = self.targets.get(&g.opts.receiver) else {
                continue;
            };
            for (url, timeout) in urls {
                let entry = current
                    .entry(url.clone())
                    .or_insert_with(|| (g.opts.receiver.clone(), *timeout, BTreeMap::new()));
                for a in g.alerts.values() {
                    entry.2.insert(a.fingerprint(), a.clone());
                }
            }
        }
        let urls: BTreeSet<String> = current.keys().chain(self.pushed.keys()).cloned().collect();
        for url in urls {
            if self.retry_at.get(&url).is_some_and(|t| *t > now) {
                continue;
            }
            let (receiver, timeout, alerts) = current.remove(&url).unwrap_or_else(|| {
                let receiver = self
                    .targets
                    .iter()
                    .find(|(_, us)| us.iter().any(|(u, _)| *u == url))
                    .map(|(r, _)| r.clone())
                    .unwrap_or_default();
                (receiver, Duration::from_secs(10), BTreeMap::new())
            });
            let pushed = self.pushed.entry(url.clone()).or_default();
            let mut batch: Vec<(u64, Alert, bool)> = Vec::new();
            for (fp, a) in &alerts {
                let resolved = a.is_resolved(now);
                let due = match pushed.get(fp) {
                    None => true,
                    Some((_, _, done)) if resolved => !done,
                    Some((at, _, done)) => *done || now.saturating_sub(*at) >= crate::ns(AM_RESEND),
                };
                if due {
                    batch.push((*fp, a.clone(), resolved));
                }
            }
            // Alerts gone from the groups: forgotten if their resolution was pushed, else
            // resolved now.
            pushed.retain(|fp, (_, _, done)| alerts.contains_key(fp) || !*done);
            for (fp, (_, a, _)) in pushed.iter() {
                if !alerts.contains_key(fp) {
                    let mut a = a.clone();
                    a.ends_at_ns = Some(a.ends_at_ns.unwrap_or(now).min(now));
                    batch.push((*fp, a, true));
                }
            }
            if batch.is_empty() {
                continue;
            }
            let ahead = now.saturating_add(crate::ns(AM_ENDS_AHEAD));
            let body: Vec<PostableAlert> = batch
                .iter()
                .map(|(_, a, resolved)| PostableAlert {
                    labels: &a.labels,
                    annotations: &a.annotations,
                    starts_at: go_time(a.starts_at_ns),
                    ends_at: go_time(if *resolved {
                        a.ends_at_ns.unwrap_or(now)
                    } else {
                        ahead
                    }),
                    generator_url: &a.generator_url,
                })
                .collect();
            metrics.request(&receiver);
            let sent = client
                .post(format!("{url}/api/v2/alerts"))
                .timeout(timeout)
                .header(
                    reqwest::header::USER_AGENT,
                    concat!("slod/", env!("CARGO_PKG_VERSION")),
                )
                .json(&body)
                .send()
                .await;
            let failure = match sent {
                Ok(r) if r.status().is_success() => None,
                Ok(r) => Some(format!("status_{}", r.status().as_u16())),
                Err(e) if e.is_timeout() => Some("timeout".to_string()),
                Err(_) => Some("network".to_string()),
            };
            match failure {
                None => {
                    for (fp, a, resolved) in batch {
                        if resolved && !alerts.contains_key(&fp) {
                            pushed.remove(&fp);
                        } else {
                            pushed.insert(fp, (now, a, resolved));
                        }
                    }
                    self.retry_at.remove(&url);
                }
                Some(reason) => {
                    warn!(
                        url,
                        reason,
                        alerts = batch.len(),
                        "cannot push alerts to Alertmanager; retrying"
                    );
                    metrics.fail(&metrics.requests_failed, &receiver, &reason);
                    self.retry_at
                        .insert(url.clone(), now.saturating_add(crate::ns(AM_RETRY)));
                }
            }
        }
    }
}
