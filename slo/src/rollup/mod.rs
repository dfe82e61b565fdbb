//! SLI rollups (`sli_rollup`): per SLO and label set, good/total per minute (recent hours) and
//! per hour (beyond), computed incrementally from the catalogue views.
//!
//! Each tick recomputes (a) the trailing [`TRAILING`] minutes and (b) every minute that received
//! data since the last tick — found from the `ingest_time` of all tables, so data arriving hours
//! late (normal for Lambda) changes the minute it belongs to. Late minutes older than the minute
//! tier are recomputed as whole hours. Evaluation then reads only these series.

pub(crate) mod batch;
pub mod persist;
pub mod series;
pub(crate) mod sql;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::error::Result as DfResult;
use datafusion::prelude::SessionContext;
use globset::GlobMatcher;
use serde::Serialize;

use crate::burn::Counts;
use crate::shared::SharedInvocations;
use crate::spec::{Sli, SloSpec, Subject};
use batch::Rows;
pub use series::{MINUTE_TIER, TieredSeries};

/// `TIMESTAMP '…'` literal of unix seconds (UTC), as rollup and rule SQL write times.
pub fn sql_ts(unix: i64) -> String {
    sql::ts(unix)
}

/// Minutes always recomputed at each tick (data still arriving for them).
pub const TRAILING: i64 = 15 * 60;
/// Late-data detection overlaps the previous tick by this much (rows are stamped with their
/// ingest time just before they become visible).
pub(crate) const INGEST_OVERLAP_NS: i64 = 30_000_000_000;
/// Dirty minutes closer than this are recomputed in one query.
pub(crate) const MERGE_GAP: i64 = 30 * 60;

/// One SLO instance: the SLO's name and the labels of what it is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SeriesKey {
    pub slo: String,
    pub labels: BTreeMap<String, String>,
}

/// A compiled selector: canonical key → matcher.
#[derive(Debug, Clone)]
struct Selector(Vec<(String, GlobMatcher)>);

impl Selector {
    fn new(spec: &SloSpec) -> Selector {
        Selector(
            spec.selector
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), globset::Glob::new(v).ok()?.compile_matcher())))
                .collect(),
        )
    }

    fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.0
            .iter()
            .all(|(k, m)| get(k).is_some_and(|v| m.is_match(v.as_str())))
    }
}

/// `(column, label)` of a function instance's labels.
const FUNCTION_LABELS: [(&str, &str); 4] = [
    ("service_name", "service"),
    ("faas_name", "faas_name"),
    ("cloud_provider", "cloud_provider"),
    ("cloud_region", "cloud_region"),
];

/// `(column, label)` of a workflow instance's labels (metrics rows have no service).
const WORKFLOW_LABELS: [(&str, &str); 4] = [
    ("workflow_name", "workflow"),
    ("service_name", "service"),
    ("cloud_provider", "cloud_provider"),
    ("cloud_region", "cloud_region"),
];

/// An instance's labels from row `i`: one per column present and not NULL.
fn row_labels(rows: &Rows, i: usize, columns: &[(&str, &str)]) -> BTreeMap<String, String> {
    columns
        .iter()
        .filter_map(|(col, label)| Some((label.to_string(), rows.str(col, i)?)))
        .collect()
}

/// What one tick did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpdateStats {
    pub minutes_recomputed: usize,
    pub hours_recomputed: usize,
    pub queries: usize,
    pub series: usize,
}

/// Every SLO's series, kept current by [`Rollups::update`].
#[derive(Debug)]
pub struct Rollups {
    slos: Vec<(SloSpec, Selector)>,
    /// Copy-on-write per series, so a published snapshot (the `sli_rollup` table) shares
    /// unchanged series with the evaluator instead of copying them every tick.
    pub(crate) series: BTreeMap<SeriesKey, Arc<TieredSeries>>,
    /// Ingest time (ns) up to which late data has been looked for.
    pub(crate) watermark_ns: i64,
    /// How far back hours are kept (the longest SLO window plus a day).
    keep: i64,
    /// `invocations` shared with the rules within a tick, when the loop shares it.
    shared: Option<SharedInvocations>,
}

pub(crate) fn floor_minute(t: i64) -> i64 {
    t.div_euclid(60) * 60
}

fn floor_hour(t: i64) -> i64 {
    t.div_euclid(3600) * 3600
}

/// Merges sorted points into `[from, to)` ranges of `step`, joining gaps up to `gap`.
pub(crate) fn ranges(points: &BTreeSet<i64>, step: i64, gap: i64) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &p in points {
        match out.last_mut() {
            Some(last) if p <= last.1 + gap => last.1 = last.1.max(p + step),
            _ => out.push((p, p + step)),
        }
    }
    out
}

impl Rollups {
    pub fn new(slos: Vec<SloSpec>) -> Rollups {
        let keep = slos
            .iter()
            .map(|s| s.window.period().as_secs() as i64)
            .max()
            .unwrap_or(30 * 86_400)
            + 86_400;
        Rollups {
            slos: slos
                .into_iter()
                .map(|s| (Selector::new(&s), s))
                .map(|(sel, s)| (s, sel))
                .collect(),
            series: BTreeMap::new(),
            watermark_ns: 0,
            keep,
            shared: None,
        }
    }

    /// Reads `invocations` through `shared` in [`Rollups::update`], so what the rules derive
    /// for the same scope in the same tick is derived once.
    pub fn share(&mut self, shared: SharedInvocations) {
        self.shared = Some(shared);
    }

    pub fn slos(&self) -> impl Iterator<Item = &SloSpec> {
        self.slos.iter().map(|(s, _)| s)
    }

    /// Adds (or replaces) a series, e.g. rebuilt elsewhere or synthesised by a benchmark.
    pub fn insert(&mut self, key: SeriesKey, series: TieredSeries) {
        self.series.insert(key, Arc::new(series));
    }

    pub fn series(&self) -> &BTreeMap<SeriesKey, Arc<TieredSeries>> {
        &self.series
    }

    /// The instances of one SLO.
    pub fn instances<'a>(
        &'a self,
        slo: &'a str,
    ) -> impl Iterator<Item = (&'a SeriesKey, &'a TieredSeries)> + 'a {
        self.series
            .iter()
            .filter(move |(k, _)| k.slo == slo)
            .map(|(k, s)| (k, s.as_ref()))
    }

    /// Recomputes the trailing minutes and every minute (or old hour) that received data since
    /// the last tick. `now` is unix seconds; `now_ns` the same instant in nanoseconds.
    pub async fn update(&mut self, ctx: &SessionContext, now_ns: i64) -> DfResult<UpdateStats> {
        let now = now_ns.div_euclid(1_000_000_000);
        let mut stats = UpdateStats::default();
        let since = (self.watermark_ns - INGEST_OVERLAP_NS).max(0);
        let mut minutes: BTreeSet<i64> = BTreeSet::new();
        // A first tick (no watermark) rebuilds everything the raw tables hold.
        let dirty = Rows::collect(ctx, &sql::dirty_minutes(since, now_ns)).await?;
        stats.queries += 1;
        minutes.extend(dirty.timestamps("minute").into_iter().flatten());
        let mut t = floor_minute(now - TRAILING);
        while t <= now {
            minutes.insert(t);
            t += 60;
        }
        let floor = floor_hour(now - MINUTE_TIER);
        let oldest = now - self.keep;
        let recent: BTreeSet<i64> = minutes
            .iter()
            .copied()
            .filter(|m| *m >= floor && *m <= now)
            .collect();
        let old_hours: BTreeSet<i64> = minutes
            .iter()
            .filter(|m| **m < floor && **m >= oldest)
            .map(|m| floor_hour(*m))
            .collect();
        for (from, to) in ranges(&old_hours, 3600, 0) {
            stats.queries += self.recompute(ctx, from, to, Granularity::Hour, now_ns).await?;
            stats.hours_recomputed += ((to - from) / 3600) as usize;
        }
        for (from, to) in ranges(&recent, 60, MERGE_GAP) {
            stats.queries += self.recompute(ctx, from, to, Granularity::Minute, now_ns).await?;
            stats.minutes_recomputed += ((to - from) / 60) as usize;
        }
        for s in self.series.values_mut() {
            Arc::make_mut(s).prune(now, oldest);
        }
        self.series.retain(|_, s| !s.is_empty());
        self.watermark_ns = now_ns;
        stats.series = self.series.len();
        Ok(stats)
    }

    /// Per instance, the counts of every minute of `[from, to)` with events (unix seconds),
    /// computed from the tables of `ctx` without touching the series (what `slod backtest
    /// --from-store` replays). Read a day at a time.
    pub async fn minute_counts(
        &self,
        ctx: &SessionContext,
        from: i64,
        to: i64,
    ) -> DfResult<BTreeMap<SeriesKey, Vec<(i64, Counts)>>> {
        let mut out: BTreeMap<SeriesKey, Vec<(i64, Counts)>> = BTreeMap::new();
        let mut start = floor_minute(from);
        while start < to {
            let end = (start + 86_400).min(to);
            let (acc, _) = self.counts(ctx, start, end, Granularity::Minute, None).await?;
            for ((key, t), c) in acc {
                out.entry(key).or_default().push((t, c));
            }
            start = end;
        }
        for events in out.values_mut() {
            events.sort_by_key(|(t, _)| *t);
        }
        Ok(out)
    }

    /// Recomputes `[from, to)` for every SLO; returns the number of queries run.
    async fn recompute(
        &mut self,
        ctx: &SessionContext,
        from: i64,
        to: i64,
        g: Granularity,
        tick_ns: i64,
    ) -> DfResult<usize> {
        let (acc, queries) = self.counts(ctx, from, to, g, Some(tick_ns)).await?;
        // Replace every bucket of the range: first forget what existed, then set the new counts.
        for series in self.series.values_mut() {
            let series = Arc::make_mut(series);
            match g {
                Granularity::Minute => series.reset_minutes(from, to),
                Granularity::Hour => series.reset_hours(from, to),
            }
        }
        for ((key, t), counts) in acc {
            let series = Arc::make_mut(self.series.entry(key).or_default());
            match g {
                Granularity::Minute => series.set_minute(t, counts),
                Granularity::Hour => series.set_hour(t, counts),
            }
        }
        Ok(queries)
    }

    /// Every SLO's counts per bucket of `[from, to)`, and the number of queries run. Within an
    /// evaluation tick (`tick_ns`), `invocations` is read through the shared scopes.
    async fn counts(
        &self,
        ctx: &SessionContext,
        from: i64,
        to: i64,
        g: Granularity,
        tick_ns: Option<i64>,
    ) -> DfResult<(HashMap<(SeriesKey, i64), Counts>, usize)> {
        let mut acc: HashMap<(SeriesKey, i64), Counts> = HashMap::new();
        let mut queries = 0;
        let specs: Vec<SloSpec> = self.slos().cloned().collect();
        let subjects: BTreeSet<_> = specs.iter().map(|s| format!("{:?}", s.sli.subject())).collect();
        let bucket = g.sql();

        if subjects.contains("Function") {
            let thresholds = sql::thresholds(&specs, false);
            let (lo, hi) = (from - sql::INSTANCE_LOOKBACK, to + sql::DEDUPE_AHEAD);
            let scoped = match (&self.shared, tick_ns) {
                (Some(shared), Some(tick_ns)) => shared.scoped(ctx, lo, hi, tick_ns, "invocations").await?,
                _ => crate::rules::scope::scoped_with(ctx, lo, Some(hi), &[], Some("invocations")).await?,
            };
            let spans = Rows::collect(&scoped, &sql::invocations(from, to, bucket, &thresholds)).await?;
            let metrics = Rows::collect(ctx, &sql::function_metrics(from, to, bucket)).await?;
            queries += 2;
            let histograms = if thresholds.is_empty() {
                Rows::default()
            } else {
                queries += 1;
                let q = sql::duration_histograms(from, to, bucket, &thresholds);
                Rows::collect(ctx, &q).await?
            };
            self.assign_functions(&spans, &metrics, &histograms, &thresholds, &mut acc);
        }
        if subjects.contains("Workflow") {
            let thresholds = sql::thresholds(&specs, true);
            let (lo, hi) = (from - sql::WORKFLOW_LOOKBACK, to + sql::DEDUPE_AHEAD);
            let scoped =
                crate::rules::scope::scoped_with(ctx, lo, Some(hi), &[], Some("workflow_executions")).await?;
            let rows = Rows::collect(&scoped, &sql::workflows(from, to, bucket, &thresholds)).await?;
            let metrics = Rows::collect(ctx, &sql::workflow_metrics(from, to, bucket)).await?;
            queries += 2;
            let histograms = if thresholds.is_empty() {
                Rows::default()
            } else {
                queries += 1;
                let q = sql::workflow_histograms(from, to, bucket, &thresholds);
                Rows::collect(ctx, &q).await?
            };
            self.assign_workflows(&rows, &metrics, &histograms, &mut acc);
        }
        if subjects.contains("Queue") {
            let rows = Rows::collect(ctx, &sql::dlq(from, to)).await?;
            queries += 1;
            self.assign_dlq(&rows, g, &mut acc);
        }
        for (spec, _) in &self.slos {
            if let Sli::Custom { sql: text } = &spec.sli {
                queries += 1;
                // One broken custom SLI must not stop every other SLO: it is logged and skipped.
                let result = Rows::collect(ctx, &sql::custom(text, from, to))
                    .await
                    .and_then(|rows| assign_custom(spec, &rows, g, &mut acc));
                if let Err(e) = result {
                    tracing::warn!(slo = %spec.name, error = %e, "custom SLI query failed; its rollup is not updated");
                }
            }
        }
        Ok((acc, queries))
    }

    fn assign_functions(
        &self,
        spans: &Rows,
        metrics: &Rows,
        histograms: &Rows,
        thresholds: &[Option<u64>],
        acc: &mut HashMap<(SeriesKey, i64), Counts>,
    ) {
        let labels = |rows: &Rows, i: usize| row_labels(rows, i, &FUNCTION_LABELS);
        // Spans win: (bucket, function) pairs described by spans ignore the metrics.
        let mut by_spans: BTreeSet<(i64, Option<String>)> = BTreeSet::new();
        for i in 0..spans.len() {
            let Some(bucket) = spans.timestamp("bucket", i) else {
                continue;
            };
            by_spans.insert((bucket, spans.str("faas_name", i)));
            let total = spans.f64("total", i).unwrap_or(0.0);
            for (spec, sel) in &self.slos {
                if spec.sli.subject() != Subject::Function || !sel.matches(|k| spans.str(k, i)) {
                    continue;
                }
                let good = match &spec.sli {
                    Sli::Availability => spans.f64("ok", i),
                    Sli::Throttling => spans.f64("not_throttled", i),
                    Sli::ColdStart => spans.f64("warm", i),
                    Sli::Latency { threshold } => {
                        let t = threshold.map(|d| d.as_millis() as u64);
                        thresholds
                            .contains(&t)
                            .then(|| spans.f64(&sql::threshold_column(t), i))
                            .flatten()
                    }
                    _ => None,
                };
                let key = SeriesKey {
                    slo: spec.name.clone(),
                    labels: labels(spans, i),
                };
                acc.entry((key, bucket)).or_default().add(Counts {
                    good: good.unwrap_or(0.0),
                    total,
                });
            }
        }
        for i in 0..metrics.len() {
            let Some(bucket) = metrics.timestamp("bucket", i) else {
                continue;
            };
            if by_spans.contains(&(bucket, metrics.str("faas_name", i))) {
                continue;
            }
            let invocations = metrics.f64("invocations", i);
            let errors = metrics.f64("errors", i).unwrap_or(0.0);
            let throttles = metrics.f64("throttles", i).unwrap_or(0.0);
            let cold_starts = metrics.f64("cold_starts", i);
            for (spec, sel) in &self.slos {
                if spec.sli.subject() != Subject::Function || !sel.matches(|k| metrics.str(k, i)) {
                    continue;
                }
                // Platform metrics count throttled requests apart from invocations (Lambda's
                // Invocations excludes them), so throttling's valid events are both.
                let counts = match (&spec.sli, invocations) {
                    (Sli::Availability, Some(n)) => Counts {
                        good: (n - errors).max(0.0),
                        total: n,
                    },
                    (Sli::Throttling, n) if n.is_some() || throttles > 0.0 => Counts {
                        good: n.unwrap_or(0.0),
                        total: n.unwrap_or(0.0) + throttles,
                    },
                    (Sli::ColdStart, Some(n)) if cold_starts.is_some() => Counts {
                        good: (n - cold_starts.unwrap_or(0.0)).max(0.0),
                        total: n,
                    },
                    _ => continue,
                };
                let key = SeriesKey {
                    slo: spec.name.clone(),
                    labels: labels(metrics, i),
                };
                acc.entry((key, bucket)).or_default().add(counts);
            }
        }
        // Latency where only the platform's duration histograms describe the function.
        for i in 0..histograms.len() {
            let Some(bucket) = histograms.timestamp("bucket", i) else {
                continue;
            };
            if by_spans.contains(&(bucket, histograms.str("faas_name", i))) {
                continue;
            }
            let total = histograms.f64("total", i).unwrap_or(0.0);
            for (spec, sel) in &self.slos {
                let Sli::Latency { threshold } = &spec.sli else {
                    continue;
                };
                if !sel.matches(|k| histograms.str(k, i)) {
                    continue;
                }
                let column = sql::threshold_column(threshold.map(|d| d.as_millis() as u64));
                let Some(good) = histograms.f64(&column, i) else {
                    continue;
                };
                let key = SeriesKey {
                    slo: spec.name.clone(),
                    labels: labels(histograms, i),
                };
                acc.entry((key, bucket)).or_default().add(Counts { good, total });
            }
        }
    }

    fn assign_workflows(
        &self,
        rows: &Rows,
        metrics: &Rows,
        histograms: &Rows,
        acc: &mut HashMap<(SeriesKey, i64), Counts>,
    ) {
        // Spans win: (bucket, workflow) pairs described by executions ignore the metrics.
        let mut by_spans: BTreeSet<(i64, Option<String>)> = BTreeSet::new();
        for i in 0..rows.len() {
            let Some(bucket) = rows.timestamp("bucket", i) else {
                continue;
            };
            by_spans.insert((bucket, rows.str("workflow_name", i)));
            let total = rows.f64("total", i).unwrap_or(0.0);
            for (spec, sel) in &self.slos {
                if spec.sli.subject() != Subject::Workflow || !sel.matches(|k| rows.str(k, i)) {
                    continue;
                }
                let good = match &spec.sli {
                    Sli::WorkflowSuccess => rows.f64("ok", i),
                    Sli::WorkflowLatency { threshold } => {
                        rows.f64(&sql::threshold_column(threshold.map(|d| d.as_millis() as u64)), i)
                    }
                    _ => None,
                };
                let key = SeriesKey {
                    slo: spec.name.clone(),
                    labels: row_labels(rows, i, &WORKFLOW_LABELS),
                };
                acc.entry((key, bucket)).or_default().add(Counts {
                    good: good.unwrap_or(0.0),
                    total,
                });
            }
        }
        // Success from the orchestrators' counters, latency from their histograms.
        for (source, latency) in [(metrics, false), (histograms, true)] {
            for i in 0..source.len() {
                let Some(bucket) = source.timestamp("bucket", i) else {
                    continue;
                };
                let total = source.f64("total", i).unwrap_or(0.0);
                if total <= 0.0 || by_spans.contains(&(bucket, source.str("workflow_name", i))) {
                    continue;
                }
                for (spec, sel) in &self.slos {
                    let good = match (&spec.sli, latency) {
                        (Sli::WorkflowSuccess, false) => source.f64("ok", i),
                        (Sli::WorkflowLatency { threshold }, true) => {
                            source.f64(&sql::threshold_column(threshold.map(|d| d.as_millis() as u64)), i)
                        }
                        _ => continue,
                    };
                    if !sel.matches(|k| source.str(k, i)) {
                        continue;
                    }
                    let key = SeriesKey {
                        slo: spec.name.clone(),
                        labels: row_labels(source, i, &WORKFLOW_LABELS),
                    };
                    acc.entry((key, bucket)).or_default().add(Counts {
                        good: good.unwrap_or(0.0),
                        total,
                    });
                }
            }
        }
    }

    fn assign_dlq(&self, rows: &Rows, g: Granularity, acc: &mut HashMap<(SeriesKey, i64), Counts>) {
        for i in 0..rows.len() {
            let Some(minute) = rows.timestamp("bucket", i) else {
                continue;
            };
            let Some(depth) = rows.f64("depth", i) else {
                continue;
            };
            for (spec, sel) in &self.slos {
                let Sli::Dlq { max_depth } = spec.sli else {
                    continue;
                };
                if !sel.matches(|k| rows.str(k, i)) {
                    continue;
                }
                let mut labels = BTreeMap::new();
                for col in ["queue", "cloud_provider", "cloud_region"] {
                    if let Some(v) = rows.str(col, i) {
                        labels.insert(col.to_string(), v);
                    }
                }
                let key = SeriesKey {
                    slo: spec.name.clone(),
                    labels,
                };
                let good = if depth <= max_depth { 1.0 } else { 0.0 };
                acc.entry((key, g.bucket(minute)))
                    .or_default()
                    .add(Counts { good, total: 1.0 });
            }
        }
    }
}

fn assign_custom(
    spec: &SloSpec,
    rows: &Rows,
    g: Granularity,
    acc: &mut HashMap<(SeriesKey, i64), Counts>,
) -> DfResult<()> {
    let columns: Vec<String> = rows.columns().collect();
    let missing: Vec<&str> = ["minute", "good", "total"]
        .into_iter()
        .filter(|c| !columns.iter().any(|x| x == c))
        .collect();
    if rows.len() > 0 && !missing.is_empty() {
        return Err(datafusion::error::DataFusionError::Plan(format!(
            "custom SLI {:?} returns no {} column(s): return minute, good, total (and optional labels)",
            spec.name,
            missing.join(", ")
        )));
    }
    let label_cols: Vec<String> = rows
        .columns()
        .filter(|c| !matches!(c.as_str(), "minute" | "good" | "total"))
        .collect();
    for i in 0..rows.len() {
        let Some(minute) = rows.timestamp("minute", i) else {
            continue;
        };
        let labels = label_cols
            .iter()
            .filter_map(|c| Some((c.clone(), rows.str(c, i)?)))
            .collect();
        let key = SeriesKey {
            slo: spec.name.clone(),
            labels,
        };
        let total = rows.f64("total", i).unwrap_or(0.0);
        let good = rows.f64("good", i).unwrap_or(0.0).clamp(0.0, total);
        acc.entry((key, g.bucket(minute)))
            .or_default()
            .add(Counts { good, total });
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Granularity {
    Minute,
    Hour,
}

impl Granularity {
    fn sql(self) -> &'static str {
        match self {
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
        }
    }
    fn seconds(self) -> i64 {
        match self {
            Granularity::Minute => 60,
            Granularity::Hour => 3600,
        }
    }
    fn bucket(self, t: i64) -> i64 {
        t.div_euclid(self.seconds()) * self.seconds()
    }
}

#[cfg(test)]
mod tests;
