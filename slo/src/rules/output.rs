//! Rule results as the `slo_rules` SQL table (one row per pending, firing or just-resolved
//! instance) and as `slod_rule_*` metrics.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampSecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::error::Result as DfResult;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::engine::{RuleInstance, RuleOutput};

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Second, Some("UTC".into()))
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("rule", DataType::Utf8, false),
        Field::new("labels", slod_storage::string_map_type(), false),
        Field::new("state", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        Field::new("active_since", ts_type(), false),
        Field::new("evaluated_at", ts_type(), false),
    ]))
}

pub fn batch(rows: &[RuleInstance]) -> DfResult<RecordBatch> {
    let ts = |f: fn(&RuleInstance) -> i64| {
        Arc::new(TimestampSecondArray::from(rows.iter().map(f).collect::<Vec<_>>()).with_timezone("UTC"))
            as ArrayRef
    };
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.rule.clone()))),
            crate::tables::string_maps(rows.iter().map(|r| &r.labels))?,
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.state.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter()
                    .map(|r| r.labels.get("severity").cloned().unwrap_or_default()),
            )),
            Arc::new(rows.iter().map(|r| Some(r.value)).collect::<Float64Array>()),
            ts(|r| r.active_since),
            ts(|r| r.evaluated_at),
        ],
    )?)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RuleLabel {
    rule: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabels {
    rule: String,
    state: String,
}

/// `slod_rule_evaluation_failures_total{rule}` and `slod_rule_alerts{rule,state}`.
#[derive(Debug, Clone)]
pub struct RuleMetrics {
    failures: Family<RuleLabel, Counter>,
    alerts: Family<StateLabels, Gauge>,
}

impl RuleMetrics {
    /// Registers the families; `rules` (the configured rule names) start at 0 so a failure
    /// counter exists before the first failure.
    pub fn new(registry: &mut Registry, rules: &[String]) -> RuleMetrics {
        let m = RuleMetrics {
            failures: Family::default(),
            alerts: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("slod_rule");
        r.register(
            "evaluation_failures",
            "SQL alert rule evaluations that failed (query error, timeout, bad result)",
            m.failures.clone(),
        );
        r.register(
            "alerts",
            "SQL alert rule instances by state (pending, firing)",
            m.alerts.clone(),
        );
        for rule in rules {
            drop(m.failures.get_or_create(&RuleLabel { rule: rule.clone() }));
        }
        m
    }

    pub fn update(&self, out: &RuleOutput) {
        for rule in &out.failed {
            self.failures
                .get_or_create(&RuleLabel { rule: rule.clone() })
                .inc();
        }
        self.alerts.clear();
        for s in &out.statuses {
            for state in ["pending", "firing"] {
                let n = out
                    .instances
                    .iter()
                    .filter(|i| i.rule == s.rule.name && i.state.as_str() == state)
                    .count();
                self.alerts
                    .get_or_create(&StateLabels {
                        rule: s.rule.name.clone(),
                        state: state.into(),
                    })
                    .set(n as i64);
            }
        }
    }
}
