//! SQL functions slod adds to DataFusion for serverless questions, registered once on the
//! shared `SessionContext` so HTTP and pgwire both have them. Each is documented, with an
//! example the test suite runs, in `docs/sql.md`.
//!
//! - `histogram.rs`: percentiles from explicit-bucket and exponential histograms, and the
//!   `merge_buckets` aggregate that adds bucket counts across rows;
//! - `time.rs`: `time_bucket(width, ts)` (what Grafana's TimescaleDB mode sends);
//! - `ids.rs`: `trace_id('hex')` / `span_id('hex')`, constant-folded so a lookup by id still
//!   prunes Parquet row groups with the `trace_id` bloom filter and statistics.

mod histogram;
mod ids;
mod time;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

pub(crate) fn register(ctx: &SessionContext) {
    ctx.register_udf(histogram::histogram_quantile());
    ctx.register_udf(histogram::exp_histogram_quantile());
    ctx.register_udaf(histogram::merge_buckets());
    ctx.register_udf(time::time_bucket());
    ctx.register_udf(ids::id_udf("trace_id", 16));
    ctx.register_udf(ids::id_udf("span_id", 8));
}

/// A function built with exact argument types, behind a signature that casts what the caller
/// passes to those types, so literals work as written: `histogram_quantile(0.5, [1, 2],
/// [3, 4, 5])` needs no `arrow_cast` to `List(UInt64)`, `exp_histogram_quantile(0.5, 0, 0, 0,
/// [2, 2])` none to `Int32`. Arguments that cannot be cast are a planning error.
pub(crate) fn coerced(inner: ScalarUDF, args: Vec<DataType>) -> ScalarUDF {
    ScalarUDF::new_from_impl(Coerced {
        inner,
        signature: Signature::user_defined(Volatility::Immutable),
        args,
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Coerced {
    inner: ScalarUDF,
    signature: Signature,
    args: Vec<DataType>,
}

impl ScalarUDFImpl for Coerced {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType, DataFusionError> {
        self.inner.return_type(&self.args)
    }

    fn coerce_types(&self, given: &[DataType]) -> Result<Vec<DataType>, DataFusionError> {
        if given.len() != self.args.len() {
            let want: Vec<String> = self.args.iter().map(ToString::to_string).collect();
            return plan_err!(
                "{}() takes {} arguments ({}), got {}; see docs/sql.md",
                self.inner.name(),
                self.args.len(),
                want.join(", "),
                given.len()
            );
        }
        Ok(self.args.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue, DataFusionError> {
        self.inner.invoke_with_args(args)
    }
}
