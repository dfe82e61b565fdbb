//! End-to-end tests: the real `slod` binary on loopback, driven by real clients
//! (the OpenTelemetry Python SDK, tonic, reqwest/curl-style HTTP, psql, psycopg,
//! tokio-postgres, node-postgres, DuckDB as an oracle).

#![allow(unreachable_pub, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod alerting;
mod bad_input;
mod demo;
mod durability;
mod loadgen;
mod otlp_json;
mod pg;
mod python_sdk;
mod query_api;
mod rules;
mod server;
mod slo;
mod spans;
