//! Criterion benches of the hot inner loops (`cargo bench --bench hot_paths`):
//!
//! - `otlp_traces`: one realistic OTLP/protobuf request of ~2,000 spans (loadgen's `steady`
//!   fleet), decoded (prost) and converted to Arrow record batches, beside decoding alone — the
//!   baseline measured in the same run; throughput in spans.
//! - `wal_append`: durable appends of that request to the storage engine (WAL record written
//!   and fdatasync'ed, rows handed to the memtable), one at a time and 16 at once (group
//!   commit shares an fsync); throughput in spans.
//! - `burn_rate`: one SLO instance's policy evaluation (the SRE Workbook's three tiers, six
//!   windows) over 30 days of per-minute counts, and the error budget over the window.
//!
//! `cargo test --all-targets` runs each once (criterion's test mode), so they stay working.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use prometheus_client::registry::Registry;
use prost::Message;
use slod_collector::{Request, Signal, WalDecoder};
use slod_loadgen::{Scenario, SimConfig, Simulation};
use slod_slo::burn::{Counts, DenseSeries, Guard, WindowCounts, budget_remaining, evaluate_policy};
use slod_storage::{Storage, StorageOptions, SystemClock};

/// A traces request of about 2,000 spans from the loadgen fleet, protobuf-encoded.
fn traces_request() -> (Vec<u8>, u64) {
    let sim = Simulation::new(SimConfig {
        seed: 7,
        scenario: Scenario::Steady,
        start_ns: 1_795_478_400_000_000_000,
        duration: Duration::from_secs(120),
        period: None,
        volume: 2_000.0,
        functions: 10,
    });
    for tick in sim {
        if let Some(t) = tick.traces {
            let spans: usize = t
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            if spans >= 1_000 {
                return (t.encode_to_vec(), spans as u64);
            }
        }
    }
    panic!("the simulation produced no request of 1,000 spans");
}

fn otlp_traces(c: &mut Criterion) {
    let (body, spans) = traces_request();
    let mut g = c.benchmark_group("otlp_traces");
    g.throughput(Throughput::Elements(spans));
    g.bench_function("decode_only", |b| {
        b.iter(|| Request::decode_protobuf(Signal::Traces, &body).unwrap())
    });
    g.bench_function("decode_to_arrow", |b| {
        b.iter(|| {
            let r = Request::decode_protobuf(Signal::Traces, &body).unwrap();
            r.convert(1).unwrap()
        })
    });
    g.finish();
}

fn wal_append(c: &mut Criterion) {
    let (body, spans) = traces_request();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = StorageOptions::new(dir.path());
    // Keep everything in the memtable: the bench measures the WAL, not flushes.
    opts.flush_max_bytes = u64::MAX / 2;
    opts.max_buffered_bytes = u64::MAX / 2;
    opts.flush_interval = Duration::from_secs(3600);
    let (storage, _) = {
        let _guard = rt.enter();
        Storage::open(opts, Arc::new(SystemClock), &mut Registry::default(), &WalDecoder).unwrap()
    };
    let request = Request::decode_protobuf(Signal::Traces, &body).unwrap();
    let payload = bytes::Bytes::from(body.clone());
    let mut g = c.benchmark_group("wal_append");
    for concurrent in [1u64, 16] {
        g.throughput(Throughput::Elements(spans * concurrent));
        g.bench_with_input(
            BenchmarkId::new("requests_at_once", concurrent),
            &concurrent,
            |b, &n| {
                b.iter(|| {
                    rt.block_on(async {
                        let appends = (0..n).map(|_| {
                            let batches = request.convert(1).unwrap().batches;
                            storage.append(Signal::Traces as u8, 1, payload.clone(), batches)
                        });
                        for r in futures::future::join_all(appends).await {
                            r.unwrap();
                        }
                    })
                })
            },
        );
    }
    g.finish();
    drop(storage);
}

fn burn_rate(c: &mut Criterion) {
    // 30 days of minutes: 1,000 invocations a minute, 0.2 % failing, a burst in the last hour.
    let minutes = 30 * 24 * 60;
    let buckets = (0..minutes).map(|i| {
        let bad = if i > minutes - 60 { 40.0 } else { 2.0 };
        Counts {
            good: 1000.0 - bad,
            total: 1000.0,
        }
    });
    let origin = 1_795_478_400;
    let series = DenseSeries::new(origin, Duration::from_secs(60), buckets);
    let now = series.end();
    let policy = slod_slo::policy::Policy::default();
    let guard = Guard { min_bad_events: 3.0 };
    let mut g = c.benchmark_group("burn_rate");
    g.bench_function("policy_3_tiers_30d_minutes", |b| {
        b.iter(|| {
            let tiers = evaluate_policy(&series, now, 0.999, &policy, guard);
            let budget = budget_remaining(series.counts(now - 30 * 86_400, now), 0.999);
            (tiers, budget)
        })
    });
    g.finish();
}

criterion_group!(benches, otlp_traces, wal_append, burn_rate);
criterion_main!(benches);
