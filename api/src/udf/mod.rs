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

use datafusion::prelude::SessionContext;

pub(crate) fn register(ctx: &SessionContext) {
    ctx.register_udf(histogram::histogram_quantile());
    ctx.register_udf(histogram::exp_histogram_quantile());
    ctx.register_udaf(histogram::merge_buckets());
    ctx.register_udf(time::time_bucket());
    ctx.register_udf(ids::id_udf("trace_id", 16));
    ctx.register_udf(ids::id_udf("span_id", 8));
}
