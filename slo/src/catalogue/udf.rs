//! Scalar UDFs that look up per-function settings and prices, so view SQL stays static and
//! every view reads the same settings. Names start with `slod_`; see `docs/signals.md`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

use super::settings::Resolved;

/// A UDF's name and one-line description (for docs and tests).
#[derive(Debug, Clone, Copy)]
pub struct UdfDoc {
    pub name: &'static str,
    pub signature: &'static str,
    pub description: &'static str,
}

pub const UDFS: &[UdfDoc] = &[
    UdfDoc {
        name: "slod_function_timeout_ms",
        signature: "slod_function_timeout_ms(faas_name Utf8) -> Float64",
        description: "configured timeout of the function in ms (functions: timeout; default 30s)",
    },
    UdfDoc {
        name: "slod_function_latency_threshold_ms",
        signature: "slod_function_latency_threshold_ms(faas_name Utf8) -> Float64",
        description: "latency SLI threshold of the function in ms (functions: latency_threshold; default 1s)",
    },
    UdfDoc {
        name: "slod_function_cost_budget_per_hour",
        signature: "slod_function_cost_budget_per_hour(faas_name Utf8) -> Float64",
        description: "functions: cost_per_hour_budget of the function in USD; NULL when none is set (no default budget)",
    },
    UdfDoc {
        name: "slod_function_memory_mb",
        signature: "slod_function_memory_mb(faas_name Utf8, reported_mb Int64) -> Int64",
        description: "configured memory: functions: memory_mb when set, else the reported faas.max_memory",
    },
    UdfDoc {
        name: "slod_is_dlq",
        signature: "slod_is_dlq(queue Utf8) -> Boolean",
        description: "queue name matches (?i)(dlq|dead[-_.]?letter) or is configured as a DLQ",
    },
    UdfDoc {
        name: "slod_price_gb_second",
        signature: "slod_price_gb_second(platform Utf8) -> Float64",
        description: "price per GB-second for a cloud.platform (pricing.<platform>.gb_second, else pricing.gb_second)",
    },
    UdfDoc {
        name: "slod_price_request",
        signature: "slod_price_request(platform Utf8) -> Float64",
        description: "price per invocation for a cloud.platform (pricing.<platform>.request, else pricing.request)",
    },
    UdfDoc {
        name: "slod_price_state_transition",
        signature: "slod_price_state_transition(engine Utf8) -> Float64",
        description: "price per orchestrator state transition: pricing.state_transition for step_functions, 0 for other engines unless configured",
    },
    UdfDoc {
        name: "slod_histogram_quantile",
        signature: "slod_histogram_quantile(q Float64, explicit_bounds List<Float64>, bucket_counts List<UInt64>) -> Float64 (aggregate)",
        description: "quantile of merged explicit-bucket histograms, linear interpolation inside the bucket (Prometheus histogram_quantile)",
    },
    UdfDoc {
        name: "slod_bucket_delta",
        signature: "slod_bucket_delta(counts List<UInt64>, previous List<UInt64>) -> List<UInt64>",
        description: "per-bucket increase of a cumulative histogram since its previous point; the counts themselves after a reset",
    },
];

/// `(?i)(dlq|dead[-_.]?letter)` without a regex engine.
pub(crate) fn dlq_name(queue: &str) -> bool {
    let q = queue.to_ascii_lowercase();
    if q.contains("dlq") || q.contains("deadletter") {
        return true;
    }
    ["dead-letter", "dead_letter", "dead.letter"]
        .iter()
        .any(|p| q.contains(p))
}

fn utf8_arg(args: &[ColumnarValue], i: usize, n: usize) -> Result<ArrayRef> {
    let a = args
        .get(i)
        .ok_or_else(|| datafusion::error::DataFusionError::Internal(format!("missing argument {i}")))?
        .to_array(n)?;
    Ok(arrow::compute::cast(&a, &DataType::Utf8)?)
}

fn rows(args: &[ColumnarValue]) -> usize {
    args.iter()
        .find_map(|a| match a {
            ColumnarValue::Array(a) => Some(a.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1)
}

/// A UDF mapping one string (NULL → `on_null`) to a float.
fn str_to_f64(
    name: &str,
    r: &Arc<Resolved>,
    f: impl Fn(&Resolved, &str) -> Option<f64> + Send + Sync + 'static,
    on_null: impl Fn(&Resolved) -> Option<f64> + Send + Sync + 'static,
) -> ScalarUDF {
    let r = r.clone();
    create_udf(
        name,
        vec![DataType::Utf8],
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let n = rows(args);
            let a = utf8_arg(args, 0, n)?;
            let s = a.as_string::<i32>();
            let out: Float64Array = s
                .iter()
                .map(|v| match v {
                    Some(v) => f(&r, v),
                    None => on_null(&r),
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

pub(crate) fn scalar_udfs(r: &Arc<Resolved>) -> Vec<ScalarUDF> {
    let mut out = vec![
        str_to_f64(
            "slod_function_timeout_ms",
            r,
            |r, n| Some(r.timeout_ms(n)),
            |_| None,
        ),
        str_to_f64(
            "slod_function_latency_threshold_ms",
            r,
            |r, n| Some(r.latency_threshold_ms(n)),
            |_| None,
        ),
        str_to_f64(
            "slod_function_cost_budget_per_hour",
            r,
            |r, n| r.cost_per_hour_budget(n),
            |_| None,
        ),
        str_to_f64(
            "slod_price_gb_second",
            r,
            |r, p| Some(r.price_gb_second(p)),
            |r| Some(r.price_gb_second("")),
        ),
        str_to_f64(
            "slod_price_request",
            r,
            |r, p| Some(r.price_request(p)),
            |r| Some(r.price_request("")),
        ),
        str_to_f64(
            "slod_price_state_transition",
            r,
            |r, e| Some(r.price_state_transition(e)),
            |r| Some(r.price_state_transition("")),
        ),
    ];
    let res = r.clone();
    out.push(create_udf(
        "slod_function_memory_mb",
        vec![DataType::Utf8, DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let n = rows(args);
            let names = utf8_arg(args, 0, n)?;
            let names = names.as_string::<i32>();
            let reported = args
                .get(1)
                .ok_or_else(|| datafusion::error::DataFusionError::Internal("missing argument 1".into()))?
                .to_array(n)?;
            let reported = arrow::compute::cast(&reported, &DataType::Int64)?;
            let reported = reported.as_primitive::<Int64Type>();
            let out: Int64Array = (0..n)
                .map(|i| {
                    let name = names.is_valid(i).then(|| names.value(i));
                    name.and_then(|n| res.memory_mb(n))
                        .or_else(|| reported.is_valid(i).then(|| reported.value(i)))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
    let res = r.clone();
    out.push(create_udf(
        "slod_is_dlq",
        vec![DataType::Utf8],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let n = rows(args);
            let a = utf8_arg(args, 0, n)?;
            let out: BooleanArray = a
                .as_string::<i32>()
                .iter()
                .map(|q| q.map(|q| dlq_name(q) || res.is_configured_dlq(q)))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
    out
}
