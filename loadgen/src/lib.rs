//! slod loadgen: seeded, deterministic synthetic serverless OTLP telemetry shaped like real
//! exporters (`reference/serverless-telemetry.md`, `collector/testdata/`).
//!
//! A [`Simulation`] plays a fleet of AWS Lambda, Azure Functions and Cloud Run functions and
//! Temporal, Step Functions and Durable Functions workflows through a [`Scenario`], second by
//! second of simulated time, and yields OTLP export requests (spans, platform metrics, logs).
//! The same (seed, scenario, start, duration, volume, fleet size) always gives the same bytes.
//! [`TokenBucket`] bounds how fast a sender may send them; [`Batcher`] coalesces and splits.
//!
//! Used by `slod loadgen`, `slod bench`, `slod demo` and the tests. Depends on no other slod
//! crate (DESIGN §1).

mod downstream;
mod export;
mod fleet;
mod instances;
mod invocation;
mod logs;
mod metrics;
mod otlp;
mod outbox;
mod queue;
mod rate;
mod resource;
mod rng;
mod scenario;
mod scope;
mod sim;
mod spans;
mod traffic;
mod workflow;

pub use export::{Batcher, Export, Signal, split};
pub use fleet::{Engine, Function, Platform, Runtime, Trigger, Workflow, fleet, workflows};
pub use rate::TokenBucket;
pub use rng::Rng;
pub use scenario::{Incident, IncidentKind, Plan, Rollout, Scenario, Target};
pub use sim::{Counts, SimConfig, Simulation, Tick, point_count, record_count, span_count};
pub use spans::{SpanBatchGen, encode_traces};
