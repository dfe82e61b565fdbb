//! The evaluator's results as live SQL tables (`slo_status`, `slo_history`, `sli_rollup`,
//! `slo_rules`),
//! Prometheus gauges, and a handle the HTTP API reads (`/api/v1/slos`).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Float64Array, Float64Builder, MapBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampSecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::Session;
use datafusion::datasource::TableProvider;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use parking_lot::RwLock;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::condition::AlertCondition;
use crate::evaluator::{HistoryEntry, SloStatus};

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Second, Some("UTC".into()))
}

fn map_f64_type() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(
                vec![
                    Field::new("keys", DataType::Utf8, false),
                    Field::new("values", DataType::Float64, true),
                ]
                .into(),
            ),
            false,
        )),
        false,
    )
}

pub fn status_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("slo", DataType::Utf8, false),
        Field::new("labels", slod_storage::string_map_type(), false),
        Field::new("sli_kind", DataType::Utf8, false),
        Field::new("objective", DataType::Float64, false),
        Field::new("window", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, true),
        Field::new("sli", DataType::Float64, true),
        Field::new("error_budget_remaining", DataType::Float64, true),
        Field::new("good", DataType::Float64, false),
        Field::new("total", DataType::Float64, false),
        Field::new("sli_per_window", map_f64_type(), false),
        Field::new("burn_rates", map_f64_type(), false),
        Field::new("last_data_at", ts_type(), true),
        Field::new("evaluated_at", ts_type(), false),
    ]))
}

pub fn history_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("time", ts_type(), false),
        Field::new("slo", DataType::Utf8, false),
        Field::new("labels", slod_storage::string_map_type(), false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("windows", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("burn_rate", DataType::Float64, false),
        Field::new("error_budget_remaining", DataType::Float64, true),
    ]))
}

/// Builds a `Map<Utf8, Utf8>` column with the storage map type's field names.
pub(crate) fn string_maps<'a>(
    rows: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> DfResult<ArrayRef> {
    let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for m in rows {
        for (k, v) in m {
            b.keys().append_value(k);
            b.values().append_value(v);
        }
        b.append(true)?;
    }
    Ok(datafusion::arrow::compute::cast(
        &b.finish(),
        &slod_storage::string_map_type(),
    )?)
}

fn f64_maps<'a>(rows: impl Iterator<Item = &'a BTreeMap<String, Option<f64>>>) -> DfResult<ArrayRef> {
    let mut b = MapBuilder::new(None, StringBuilder::new(), Float64Builder::new());
    for m in rows {
        for (k, v) in m {
            b.keys().append_value(k);
            b.values().append_option(*v);
        }
        b.append(true)?;
    }
    Ok(datafusion::arrow::compute::cast(&b.finish(), &map_f64_type())?)
}

pub fn status_batch(rows: &[SloStatus]) -> DfResult<RecordBatch> {
    let s =
        |f: fn(&SloStatus) -> String| Arc::new(StringArray::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let f =
        |f: fn(&SloStatus) -> Option<f64>| Arc::new(rows.iter().map(f).collect::<Float64Array>()) as ArrayRef;
    Ok(RecordBatch::try_new(
        status_schema(),
        vec![
            s(|r| r.slo.clone()),
            string_maps(rows.iter().map(|r| &r.labels))?,
            s(|r| r.sli_kind.clone()),
            f(|r| Some(r.objective)),
            s(|r| r.window.clone()),
            s(|r| r.state.as_str().into()),
            Arc::new(rows.iter().map(|r| r.severity.clone()).collect::<StringArray>()),
            f(|r| r.sli),
            f(|r| r.error_budget_remaining),
            f(|r| Some(r.good)),
            f(|r| Some(r.total)),
            f64_maps(rows.iter().map(|r| &r.sli_per_window))?,
            f64_maps(rows.iter().map(|r| &r.burn_rates))?,
            Arc::new(
                TimestampSecondArray::from(rows.iter().map(|r| r.last_data_at).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ),
            Arc::new(
                TimestampSecondArray::from(rows.iter().map(|r| r.evaluated_at).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ),
        ],
    )?)
}

pub fn history_batch<'a>(rows: impl Iterator<Item = &'a HistoryEntry>) -> DfResult<RecordBatch> {
    let rows: Vec<&HistoryEntry> = rows.collect();
    let state = |r: &&HistoryEntry| match r.state {
        crate::condition::ConditionState::Firing => "firing",
        crate::condition::ConditionState::Resolved => "resolved",
    };
    Ok(RecordBatch::try_new(
        history_schema(),
        vec![
            Arc::new(
                TimestampSecondArray::from(rows.iter().map(|r| r.time).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.slo.clone()))),
            string_maps(rows.iter().map(|r| &r.labels))?,
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.severity.clone()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.windows.clone()),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(state))),
            Arc::new(rows.iter().map(|r| Some(r.burn_rate)).collect::<Float64Array>()),
            Arc::new(
                rows.iter()
                    .map(|r| r.error_budget_remaining)
                    .collect::<Float64Array>(),
            ),
        ],
    )?)
}

/// The rollups as of one tick; the `sli_rollup` batch is built on first query only.
#[derive(Debug, Default)]
pub struct RollupView {
    series: BTreeMap<crate::rollup::SeriesKey, Arc<crate::rollup::TieredSeries>>,
    batch: std::sync::OnceLock<RecordBatch>,
}

impl RollupView {
    pub fn new(series: BTreeMap<crate::rollup::SeriesKey, Arc<crate::rollup::TieredSeries>>) -> RollupView {
        RollupView {
            series,
            batch: std::sync::OnceLock::new(),
        }
    }

    pub fn batch(&self) -> DfResult<RecordBatch> {
        if let Some(b) = self.batch.get() {
            return Ok(b.clone());
        }
        let b = crate::rollup::persist::to_batch(&self.series)?;
        Ok(self.batch.get_or_init(|| b).clone())
    }
}

/// The latest evaluation, shared by the tables, the metrics and the HTTP API.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub statuses: Vec<SloStatus>,
    pub conditions: Vec<AlertCondition>,
    pub status: RecordBatch,
    pub history: RecordBatch,
    pub rollup: Arc<RollupView>,
    /// SQL alert rules: their last evaluation (`GET /api/v1/rules`) and the `slo_rules` table.
    pub rules: Vec<crate::rules::engine::RuleStatus>,
    pub rule_instances: Vec<crate::rules::RuleInstance>,
    pub rules_table: RecordBatch,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            statuses: Vec::new(),
            conditions: Vec::new(),
            status: RecordBatch::new_empty(status_schema()),
            history: RecordBatch::new_empty(history_schema()),
            rollup: Arc::default(),
            rules: Vec::new(),
            rule_instances: Vec::new(),
            rules_table: RecordBatch::new_empty(crate::rules::output::schema()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Which {
    Status,
    History,
    Rollup,
    Rules,
}

/// A cheap-to-clone handle on the latest [`Snapshot`].
#[derive(Debug, Clone, Default)]
pub struct SloHandle {
    inner: Arc<RwLock<Arc<Snapshot>>>,
}

impl SloHandle {
    pub fn get(&self) -> Arc<Snapshot> {
        self.inner.read().clone()
    }

    pub fn publish(&self, snapshot: Snapshot) {
        *self.inner.write() = Arc::new(snapshot);
    }

    /// Registers `slo_status`, `slo_history`, `sli_rollup` and `slo_rules` in `ctx`.
    pub fn register(&self, ctx: &SessionContext) -> DfResult<()> {
        for (name, which, schema) in [
            ("slo_status", Which::Status, status_schema()),
            ("slo_history", Which::History, history_schema()),
            ("sli_rollup", Which::Rollup, crate::rollup::persist::schema()),
            ("slo_rules", Which::Rules, crate::rules::output::schema()),
        ] {
            ctx.register_table(
                name,
                Arc::new(LiveTable {
                    handle: self.clone(),
                    which,
                    schema,
                }),
            )?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct LiveTable {
    handle: SloHandle,
    which: Which,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for LiveTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn table_type(&self) -> TableType {
        TableType::View
    }
    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let snap = self.handle.get();
        let batch = match self.which {
            Which::Status => snap.status.clone(),
            Which::History => snap.history.clone(),
            Which::Rollup => snap.rollup.batch()?,
            Which::Rules => snap.rules_table.clone(),
        };
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema.clone(),
            projection.cloned(),
        )?)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Labels {
    slo: String,
    labels: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WindowLabels {
    slo: String,
    labels: String,
    window: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TierLabels {
    slo: String,
    labels: String,
    severity: String,
    windows: String,
}

/// SLO gauges on `/metrics`. The instance's own labels are one `labels` label
/// (`faas_name="checkout",service="shop"`), so every family has a fixed label set.
#[derive(Debug, Clone)]
pub struct SloMetrics {
    burn_rate: Family<WindowLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    sli: Family<WindowLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    budget: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    objective: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    no_data: Family<Labels, Gauge<i64>>,
    firing: Family<TierLabels, Gauge<i64>>,
    tick: prometheus_client::metrics::histogram::Histogram,
}

impl SloMetrics {
    pub fn new(registry: &mut Registry) -> SloMetrics {
        let m = SloMetrics {
            burn_rate: Family::default(),
            sli: Family::default(),
            budget: Family::default(),
            objective: Family::default(),
            no_data: Family::default(),
            firing: Family::default(),
            tick: prometheus_client::metrics::histogram::Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.01, 2.0, 14),
            ),
        };
        let r = registry.sub_registry_with_prefix("slod_slo");
        r.register(
            "burn_rate",
            "Error-budget burn rate over a window (bad ratio / (1 - objective))",
            m.burn_rate.clone(),
        );
        r.register("sli", "SLI (good / valid events) over a window", m.sli.clone());
        r.register(
            "error_budget_remaining",
            "Fraction of the SLO window's error budget left (negative when overspent)",
            m.budget.clone(),
        );
        r.register("objective", "SLO objective", m.objective.clone());
        r.register(
            "no_data",
            "1 when the SLO instance has had no valid events for slo.no_data_after",
            m.no_data.clone(),
        );
        r.register(
            "alert_firing",
            "1 while a policy tier's alert condition holds",
            m.firing.clone(),
        );
        r.register(
            "tick_duration_seconds",
            "Duration of one evaluation tick: rollup maintenance, SLOs and SQL rules",
            m.tick.clone(),
        );
        m
    }

    /// Records how long one evaluation tick took.
    pub fn observe_tick(&self, seconds: f64) {
        self.tick.observe(seconds);
    }

    pub fn update(&self, statuses: &[SloStatus]) {
        for f in [&self.burn_rate, &self.sli] {
            f.clear();
        }
        self.budget.clear();
        self.objective.clear();
        self.no_data.clear();
        self.firing.clear();
        for s in statuses {
            let labels = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect::<Vec<_>>()
                .join(",");
            let base = Labels {
                slo: s.slo.clone(),
                labels: labels.clone(),
            };
            let win = |w: &String| WindowLabels {
                slo: s.slo.clone(),
                labels: labels.clone(),
                window: w.clone(),
            };
            for (w, v) in &s.burn_rates {
                if let Some(v) = v {
                    self.burn_rate.get_or_create(&win(w)).set(*v);
                }
            }
            for (w, v) in &s.sli_per_window {
                if let Some(v) = v {
                    self.sli.get_or_create(&win(w)).set(*v);
                }
            }
            if let Some(b) = s.error_budget_remaining {
                self.budget.get_or_create(&base).set(b);
            }
            self.objective.get_or_create(&base).set(s.objective);
            self.no_data
                .get_or_create(&base)
                .set(i64::from(s.state == crate::evaluator::SloState::NoData));
            for t in &s.tiers {
                self.firing
                    .get_or_create(&TierLabels {
                        slo: s.slo.clone(),
                        labels: labels.clone(),
                        severity: t.severity.clone(),
                        windows: t.windows.clone(),
                    })
                    .set(i64::from(t.firing));
            }
        }
    }
}
