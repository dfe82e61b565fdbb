//! slod loadgen: seeded, deterministic synthetic serverless OTLP telemetry shaped like real
//! exporters (`reference/serverless-telemetry.md`, `collector/testdata/`).
//!
//! Used by `slod bench`, tests, and (with the demo issue) `slod loadgen` and `slod demo`.
//! Depends on no other slod crate.

mod fleet;
mod spans;

pub use fleet::{Function, Platform, fleet};
pub use spans::{SpanBatchGen, encode_traces};
