//! `function_minute` kept in memory across ticks for the rules.
//!
//! A rule with a lookback reads the catalogue through a context scoped to that lookback
//! ([`super::scope`]); derived there from raw spans, `function_minute` (and
//! `function_errors_1m`, `function_cost_1m` on top of it) costs the window functions of
//! `invocations` over the whole lookback, once per rule and per tick: the tick grew with the
//! hours of spans behind it. The cache holds `function_minute`'s rows for the longest lookback
//! of the rules that read it and, at each tick, recomputes only the minutes that can have
//! changed — the same ones the SLI rollups recompute: the trailing [`TRAILING`] minutes and every
//! minute that received data since the last tick (from `ingest_time`) — each from raw tables
//! scoped to `[from − INSTANCE_LOOKBACK, to + DEDUPE_AHEAD)`, the context the rollups use, with
//! `invocations` derived once per tick and scope and shared with the rollups ([`crate::shared`]).
//! A rule then reads the cached minutes of its own lookback. Rules see a richer
//! context than before: cold starts and retries near the start of a lookback are derived from
//! the hour before it, as the rollups derive them, instead of from the lookback alone.
//!
//! If an update fails the cache is dropped: rules fall back to deriving from raw spans at that
//! tick, and the next tick rebuilds it whole.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::{DataFrame, SessionContext};

use super::RuleSpec;
use crate::rollup::batch::Rows;
use crate::rollup::sql::{DEDUPE_AHEAD, INSTANCE_LOOKBACK, dirty_minutes};
use crate::rollup::{INGEST_OVERLAP_NS, MERGE_GAP, TRAILING, floor_minute, ranges, sql_ts};
use crate::shared::SharedInvocations;

/// The cached view.
pub const VIEW: &str = "function_minute";
/// Views that read it (a rule naming any of them benefits from the cache).
const READERS: [&str; 3] = ["function_minute", "function_errors_1m", "function_cost_1m"];
/// Rules with a longer lookback derive from raw spans as before (the cache stays small).
const MAX_HORIZON: i64 = 6 * 3600;

/// What one update did.
#[derive(Debug, Clone, Copy, Default)]
pub struct MinuteUpdate {
    /// Minutes recomputed.
    pub minutes: usize,
}

#[derive(Debug, Default)]
pub struct MinuteCache {
    /// Seconds of minutes kept; 0 = no rule needs the cache.
    horizon: i64,
    /// `function_minute`'s rows of the kept minutes, or `None` until built.
    rows: Option<RecordBatch>,
    /// Ingest time (ns) up to which new data has been looked for.
    watermark_ns: i64,
    /// Where `invocations` is derived once per tick and scope.
    shared: SharedInvocations,
    /// What reads the cached rows: the served rules' SQL and that of the views over
    /// `function_minute` (lower case). Only the columns named there are kept ([`kept`]).
    reads: String,
}

/// Whether `rule` reads `function_minute`, directly or through a view over it, within a
/// lookback the cache can serve.
fn reads_minutes(rule: &RuleSpec) -> Option<i64> {
    let lookback = rule.lookback?.as_secs() as i64;
    let sql = rule.sql.to_ascii_lowercase();
    (lookback <= MAX_HORIZON && READERS.iter().any(|v| sql.contains(v))).then_some(lookback)
}

/// The columns of `function_minute` (`all`) to keep for rules reading `reads`: `minute`, and
/// every column `reads` names as a word; all of them when it selects `*`. Projecting away what
/// no rule reads lets DataFusion drop the joins behind it (`retries_1m` reads raw spans' links
/// and client spans' attribute maps, `function_concurrency_1m` sorts every invocation).
pub(crate) fn kept(all: &[String], reads: &str) -> Vec<String> {
    if selects_everything(reads) {
        return all.to_vec();
    }
    all.iter()
        .filter(|c| c.as_str() == "minute" || names_word(reads, c))
        .cloned()
        .collect()
}

/// Whether `sql` (lower case) holds `word` delimited by non-identifier characters.
fn names_word(sql: &str, word: &str) -> bool {
    let ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    sql.match_indices(word)
        .any(|(i, _)| !ident(sql[..i].chars().next_back()) && !ident(sql[i + word.len()..].chars().next()))
}

/// Whether `sql` (lower case) has a `*` that selects columns (`SELECT *`, `t.*`, `a, *`),
/// not a product or `count(*)`.
fn selects_everything(sql: &str) -> bool {
    sql.match_indices('*').any(|(i, _)| {
        let before = sql[..i].trim_end();
        before.ends_with(',')
            || before.ends_with('.')
            || before.ends_with("select")
            || before.ends_with("distinct")
    })
}

impl MinuteCache {
    pub fn new(rules: &[RuleSpec]) -> MinuteCache {
        let served: Vec<String> = rules
            .iter()
            .filter(|r| reads_minutes(r).is_some())
            .map(|r| r.sql.to_ascii_lowercase())
            .collect();
        // The views over function_minute are registered (and planned) in every rule's
        // context, read or not: what they name is kept too.
        let mut reads = served.join("\n");
        for view in crate::catalogue::VIEWS {
            let sql = view.sql.to_ascii_lowercase();
            if view.name != VIEW && names_word(&sql, VIEW) {
                reads.push('\n');
                reads.push_str(&sql);
            }
        }
        MinuteCache {
            horizon: rules.iter().filter_map(reads_minutes).max().unwrap_or(0),
            reads,
            ..MinuteCache::default()
        }
    }

    /// The cached view for rules with `lookback`, scoped to `from_s` (unix s): its rows with
    /// `minute ≥ from_s`; none when they derive it from raw spans (no cache, or a longer
    /// lookback).
    pub fn overrides(
        &self,
        lookback: Duration,
        from_s: i64,
    ) -> Result<Vec<(&'static str, Arc<dyn TableProvider>)>> {
        let Some(rows) = &self.rows else {
            return Ok(Vec::new());
        };
        if lookback.as_secs() as i64 > self.horizon {
            return Ok(Vec::new());
        }
        let keep = minute_mask(rows, |m| m >= from_s)?;
        let rows = filter_record_batch(rows, &keep)?;
        let table = MemTable::try_new(rows.schema(), vec![vec![rows]])?;
        Ok(vec![(VIEW, Arc::new(table))])
    }

    /// Reads `invocations` through `shared`, which the SLI rollups share too.
    pub fn share(&mut self, shared: SharedInvocations) {
        self.shared = shared;
    }

    /// `function_minute` for the minutes of `[from, to)`, from raw tables scoped to
    /// `[from − INSTANCE_LOOKBACK, to + DEDUPE_AHEAD)`: it reads `invocations` several times
    /// (directly, for retries, for concurrency), derived once per tick and scope.
    async fn minutes_of(&self, ctx: &SessionContext, from: i64, to: i64, tick_ns: i64) -> Result<DataFrame> {
        let (lo, hi) = (from - INSTANCE_LOOKBACK, to + DEDUPE_AHEAD);
        let scoped = self.shared.scoped(ctx, lo, hi, tick_ns, VIEW).await?;
        let df = scoped
            .sql(&format!(
                "SELECT * FROM {VIEW} WHERE minute >= {} AND minute < {}",
                sql_ts(from),
                sql_ts(to)
            ))
            .await?;
        let all: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
        let kept = kept(&all, &self.reads);
        let kept: Vec<&str> = kept.iter().map(String::as_str).collect();
        df.select_columns(&kept)
    }

    /// Recomputes what can have changed since the last update at `now_ns`, within `timeout`.
    /// On failure the cache is dropped (rules derive from raw spans) and rebuilt next time.
    pub async fn update(
        &mut self,
        ctx: &SessionContext,
        now_ns: i64,
        timeout: Duration,
    ) -> Result<MinuteUpdate> {
        if self.horizon == 0 {
            return Ok(MinuteUpdate::default());
        }
        let result = match tokio::time::timeout(timeout, self.recompute(ctx, now_ns)).await {
            Ok(r) => r,
            Err(_) => Err(DataFusionError::Execution(format!(
                "updating {VIEW} took longer than {}s (limits.query_timeout)",
                timeout.as_secs()
            ))),
        };
        if result.is_err() {
            self.rows = None;
        }
        result
    }

    async fn recompute(&mut self, ctx: &SessionContext, now_ns: i64) -> Result<MinuteUpdate> {
        let now = now_ns.div_euclid(1_000_000_000);
        let end = floor_minute(now) + 60;
        let oldest = floor_minute(now - self.horizon) - 60;
        let mut stats = MinuteUpdate::default();
        let mut minutes: BTreeSet<i64> = BTreeSet::new();
        if self.rows.is_some() {
            let since = (self.watermark_ns - INGEST_OVERLAP_NS).max(0);
            let dirty = Rows::collect(ctx, &dirty_minutes(since, now_ns)).await?;
            minutes.extend(dirty.timestamps("minute").into_iter().flatten());
            minutes.extend((floor_minute(now - TRAILING)..end).step_by(60));
        } else {
            minutes.extend((oldest..end).step_by(60));
        }
        let minutes: BTreeSet<i64> = minutes
            .into_iter()
            .filter(|m| (oldest..end).contains(m))
            .collect();
        let recomputed = ranges(&minutes, 60, MERGE_GAP);
        let mut fresh = Vec::new();
        let mut schema: Option<SchemaRef> = None;
        for &(from, to) in &recomputed {
            let df = self.minutes_of(ctx, from, to, now_ns).await?;
            schema.get_or_insert_with(|| Arc::new(df.schema().as_arrow().clone()));
            fresh.extend(df.collect().await?);
            stats.minutes += ((to - from) / 60) as usize;
        }
        // Keep the old rows of minutes not recomputed and still within the horizon.
        let mut parts = Vec::new();
        if let Some(old) = &self.rows {
            let keep = minute_mask(old, |m| {
                m >= oldest && !recomputed.iter().any(|(f, t)| (*f..*t).contains(&m))
            })?;
            parts.push(filter_record_batch(old, &keep)?);
        }
        parts.extend(fresh);
        let schema = match parts.first() {
            Some(b) => b.schema(),
            None => schema.ok_or_else(|| DataFusionError::Internal(format!("no schema for {VIEW}")))?,
        };
        self.rows = Some(concat_batches(&schema, &parts)?);
        self.watermark_ns = now_ns;
        Ok(stats)
    }
}

#[cfg(test)]
impl MinuteCache {
    pub(crate) fn with_shared(mut self, shared: SharedInvocations) -> MinuteCache {
        self.shared = shared;
        self
    }

    pub(crate) fn rows(&self) -> Option<&RecordBatch> {
        self.rows.as_ref()
    }
}

/// A row mask from the `minute` column (unix seconds).
fn minute_mask(rows: &RecordBatch, keep: impl Fn(i64) -> bool) -> Result<BooleanArray> {
    let column = rows
        .column_by_name("minute")
        .ok_or_else(|| DataFusionError::Internal(format!("{VIEW} has no minute column")))?;
    let per_second = match column.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => 1,
        DataType::Timestamp(TimeUnit::Millisecond, _) => 1_000,
        DataType::Timestamp(TimeUnit::Microsecond, _) => 1_000_000,
        DataType::Timestamp(TimeUnit::Nanosecond, _) => 1_000_000_000,
        other => {
            return Err(DataFusionError::Internal(format!(
                "{VIEW}.minute is {other}, not a timestamp"
            )));
        }
    };
    let values = cast(column, &DataType::Int64)?;
    let values = values.as_primitive::<Int64Type>();
    Ok((0..values.len())
        .map(|i| Some(values.is_valid(i) && keep(values.value(i).div_euclid(per_second))))
        .collect())
}
