//! `slod bench ingest`: OTLP/HTTP protobuf ingest throughput against a real `slod serve`
//! child process with fsync on, beside in-process baselines measured in the same run.
//! `slod bench slo`: SLO evaluation ticks (see `bench/slo.rs`).
//! `slod bench query`: SLI queries over pgwire beside DuckDB (see `bench/query.rs`).

mod daemon;
mod query;
mod slo;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use prost::Message;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    which: Which,
}

#[derive(Debug, Subcommand)]
enum Which {
    /// Ingest throughput: spans/s, MB/s, ack latency and peak RSS, with fsync on.
    Ingest(IngestArgs),
    /// One SLO evaluation tick over 30 days of rollups, warm and from the Parquet snapshot.
    Slo(slo::SloArgs),
    /// Typical SLI queries over pgwire on >= 10 M spans in Parquet, beside DuckDB on the same files.
    Query(query::QueryArgs),
    /// Every benchmark above in turn, with their default sizes; writes bench/report.md.
    All(AllArgs),
}

#[derive(Debug, Args)]
struct AllArgs {
    /// Where the report goes.
    #[arg(long, default_value = "bench/report.md")]
    output: PathBuf,
    /// Spans for the query benchmark.
    #[arg(long, default_value_t = 10_000_000)]
    spans: u64,
    /// Python interpreter with the `duckdb` package (the query benchmark's baseline).
    #[arg(long, env = "SLOD_BENCH_PYTHON", default_value = ".venv/bin/python")]
    python: PathBuf,
}

#[derive(Debug, Args)]
struct IngestArgs {
    /// Seconds of load against the server.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Spans per request.
    #[arg(long, default_value_t = 512)]
    spans_per_request: usize,
    /// Distinct pre-encoded requests cycled through.
    #[arg(long, default_value_t = 64)]
    distinct: usize,
    /// Write the report (Markdown) here as well as printing it.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Skip the second run that measures ingest with the SLO engine busy (default SLO
    /// templates and rules evaluated every --slo-interval) against the first run with no SLOs
    /// and no rules.
    #[arg(long)]
    no_slo_comparison: bool,
    /// Evaluation interval of the SLO engine in the second run (the daemon's default is 30s).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    slo_interval: Duration,
}

/// One run of the real daemon under load.
struct Run {
    sps: f64,
    mbs: f64,
    p50_ms: f64,
    p99_ms: f64,
    cores: f64,
    rss_mib: f64,
    refused: u64,
    elapsed: Duration,
    stages: Stages,
    slo_ticks: f64,
    slo_tick_seconds: f64,
}

pub(crate) async fn run(args: BenchArgs) -> Result<ExitCode> {
    match args.which {
        Which::Ingest(a) => ingest(a).await,
        Which::Slo(a) => slo::run(a),
        Which::Query(a) => query::run(a).await,
        Which::All(a) => all(a).await,
    }
}

/// A pre-encoded request whose trace ids and `faas.invocation_id`s are rewritten at each send,
/// so every request carries new invocations, as a real fleet's would: replaying identical bodies
/// would make every span a copy of one sent before (deduplication's worst case, not ingest's
/// usual one). Rewriting is a copy and a few hundred small writes, not a re-encode.
struct Template {
    body: Bytes,
    /// Offsets of every trace id (16 bytes) and invocation id (32 hex characters).
    trace_ids: Vec<usize>,
    invocation_ids: Vec<usize>,
}

impl Template {
    fn new(
        req: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
        body: Bytes,
    ) -> Result<Template> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        use std::collections::HashSet;
        let spans: Vec<_> = spans_of(req).collect();
        let traces: HashSet<Vec<u8>> = spans
            .iter()
            .filter(|s| s.trace_id.len() == 16)
            .map(|s| s.trace_id.clone())
            .collect();
        let invocations: HashSet<Vec<u8>> = spans
            .iter()
            .flat_map(|s| &s.attributes)
            .filter(|kv| kv.key == "faas.invocation_id")
            .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(v) if v.len() == 32 => Some(v.as_bytes().to_vec()),
                _ => None,
            })
            .collect();
        let trace_ids = occurrences(&body, &traces, 16);
        let invocation_ids = occurrences(&body, &invocations, 32);
        anyhow::ensure!(
            trace_ids.len() >= spans.len() && invocation_ids.len() >= invocations.len(),
            "bench: cannot find the ids to rewrite in a request ({} trace ids for {} spans)",
            trace_ids.len(),
            spans.len()
        );
        Ok(Template {
            body,
            trace_ids,
            invocation_ids,
        })
    }

    /// The body of send number `n`: trace ids start with `n`, invocation ids with its hex.
    fn fresh(&self, n: u64) -> Bytes {
        let mut b = self.body.to_vec();
        for &o in &self.trace_ids {
            b[o..o + 8].copy_from_slice(&n.to_be_bytes());
        }
        let hex = format!("{n:016x}");
        for &o in &self.invocation_ids {
            b[o..o + 16].copy_from_slice(hex.as_bytes());
        }
        Bytes::from(b)
    }
}

/// Every span of a request.
fn spans_of(
    req: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
) -> impl Iterator<Item = &opentelemetry_proto::tonic::trace::v1::Span> {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
}

/// Offsets in `body` of every occurrence of the `len`-byte `values`.
fn occurrences(body: &[u8], values: &std::collections::HashSet<Vec<u8>>, len: usize) -> Vec<usize> {
    let firsts: std::collections::HashSet<&[u8]> = values.iter().map(|v| &v[..8]).collect();
    let mut out = Vec::new();
    let mut p = 0;
    while p + len <= body.len() {
        if firsts.contains(&body[p..p + 8]) && values.contains(&body[p..p + len]) {
            out.push(p);
            p += len;
        } else {
            p += 1;
        }
    }
    out
}

/// Tops every span up to `target` attributes with the code-location and thread attributes
/// real instrumentations add (the benchmark's "about 20 attributes per span").
fn pad_attributes(
    req: &mut opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
    target: usize,
) {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    let extra: [(&str, Value); 8] = [
        ("code.function.name", Value::StringValue("handler".into())),
        (
            "code.file.path",
            Value::StringValue("/var/task/app/handler.py".into()),
        ),
        ("code.line.number", Value::IntValue(42)),
        ("thread.id", Value::IntValue(140_245_127_812_928)),
        ("thread.name", Value::StringValue("MainThread".into())),
        ("process.runtime.name", Value::StringValue("cpython".into())),
        (
            "otel.library.name",
            Value::StringValue("opentelemetry.instrumentation.botocore".into()),
        ),
        (
            "aws.lambda.log_stream",
            Value::StringValue("2026/11/24/[$LATEST]a1b2c3d4".into()),
        ),
    ];
    for span in req
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans)
    {
        for (k, v) in extra.iter().take(target.saturating_sub(span.attributes.len())) {
            span.attributes.push(KeyValue {
                key: (*k).into(),
                value: Some(AnyValue {
                    value: Some(v.clone()),
                }),
                ..Default::default()
            });
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Resident set size and peak (KiB) and CPU seconds of a process, from /proc.
fn proc_stats(pid: u32) -> Option<(u64, u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some((field("VmRSS:")?, field("VmHWM:")?, ticks / 100.0))
}

fn rate(n: f64, d: Duration) -> f64 {
    n / d.as_secs_f64().max(1e-9)
}

async fn ingest(a: IngestArgs) -> Result<ExitCode> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as u64;
    let mut g = slod_loadgen::SpanBatchGen::new(42, slod_loadgen::fleet(40));
    let templates: Vec<Template> = (0..a.distinct)
        .map(|_| {
            let mut req = g.request(a.spans_per_request, now);
            pad_attributes(&mut req, 20);
            Template::new(&req, Bytes::from(slod_loadgen::encode_traces(&req)))
        })
        .collect::<Result<_>>()?;
    let bodies: Vec<Bytes> = templates.iter().map(|t| t.body.clone()).collect();
    let bytes_per_req = bodies.iter().map(|b| b.len()).sum::<usize>() / bodies.len();
    let attrs = {
        let r = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
            bodies[0].as_ref(),
        )?;
        let spans: Vec<_> = spans_of(&r).collect();
        spans.iter().map(|s| s.attributes.len()).sum::<usize>() as f64 / spans.len() as f64
    };
    println!(
        "slod bench ingest: {} spans/request (~{attrs:.1} span attributes + 13 resource attributes), {bytes_per_req} bytes/request",
        a.spans_per_request
    );

    // Baselines, one core, same process: protobuf decode only; decode + convert to Arrow.
    let base = |convert: bool| -> Result<(f64, f64)> {
        let started = Instant::now();
        let mut spans = 0u64;
        let mut bytes = 0u64;
        while started.elapsed() < Duration::from_secs(3) {
            for b in &bodies {
                let req = slod_collector::Request::decode_protobuf(slod_collector::Signal::Traces, b)?;
                if convert {
                    let c = req.convert(1)?;
                    spans += c.accepted;
                } else {
                    spans += a.spans_per_request as u64;
                    std::hint::black_box(&req);
                }
                bytes += b.len() as u64;
            }
        }
        Ok((
            rate(spans as f64, started.elapsed()),
            rate(bytes as f64, started.elapsed()) / 1e6,
        ))
    };
    let (decode_sps, decode_mbs) = base(false)?;
    let (convert_sps, _) = base(true)?;
    println!("baseline decode-only (1 core):        {decode_sps:>10.0} spans/s  {decode_mbs:.1} MB/s");
    println!("baseline decode + Arrow (1 core):     {convert_sps:>10.0} spans/s");

    let bodies = Arc::new(templates);
    let base = run_daemon(&a, bodies.clone(), bytes_per_req, false).await?;
    let with_slo = if a.no_slo_comparison {
        None
    } else {
        Some(run_daemon(&a, bodies, bytes_per_req, true).await?)
    };
    let Run {
        sps,
        mbs,
        p50_ms: p50,
        p99_ms: p99,
        cores,
        rss_mib: rss,
        refused,
        elapsed,
        stages,
        ..
    } = &base;
    let (sps, elapsed) = (*sps, *elapsed);
    let report = format!(
        "| measure | value |\n|---|---|\n\
         | spans/s acknowledged (fsync on, {conn} connections) | {sps:.0} |\n\
         | MB/s (protobuf, uncompressed) | {mbs:.1} |\n\
         | ack latency p50 / p99 | {p50:.1} ms / {p99:.1} ms |\n\
         | server CPU used | {cores:.2} cores ({per_core:.0} spans/s per core) |\n\
         | server peak RSS | {rss:.0} MiB |\n\
         | refused (429/503) requests | {refused} |\n\
         | baseline: decode only, 1 core | {decode_sps:.0} spans/s (ratio {r1:.2}) |\n\
         | baseline: decode + Arrow, 1 core | {convert_sps:.0} spans/s (ratio {r2:.2}) |\n\
         | WAL group commits (fsyncs) | {fsyncs:.0}, {per_fsync:.1} requests each, mean {fsync_ms:.2} ms |\n\
         | flushes to Parquet | {flushes:.0}, {flush_s:.1} s in total ({flush_share:.0}% of the run on the flush thread): sort {sort_s:.1} s, Parquet encode + fsync {encode_s:.1} s |\n",
        conn = a.connections,
        per_core = sps / cores.max(1e-9),
        r1 = sps / decode_sps,
        r2 = sps / convert_sps,
        fsyncs = stages.fsyncs,
        per_fsync = stages.wal_records / stages.fsyncs.max(1.0),
        fsync_ms = stages.fsync_seconds / stages.fsyncs.max(1.0) * 1e3,
        flushes = stages.flushes,
        flush_s = stages.flush_seconds,
        flush_share = stages.flush_seconds / elapsed.as_secs_f64() * 100.0,
        sort_s = stages.sort_seconds,
        encode_s = stages.encode_seconds,
    );
    let mut report = report;
    if let Some(on) = &with_slo {
        report.push_str(&format!(
            "| with the SLO engine busy (default templates + rules every {}) | {:.0} spans/s ({:+.1}% vs without), {:.2} cores, {:.0} MiB peak RSS; {:.0} ticks, mean {:.0} ms |\n",
            humantime::format_duration(a.slo_interval),
            on.sps,
            (on.sps / sps - 1.0) * 100.0,
            on.cores,
            on.rss_mib,
            on.slo_ticks,
            on.slo_tick_seconds / on.slo_ticks.max(1.0) * 1e3,
        ));
    }
    println!("\n{report}");
    if let Some(path) = a.output {
        std::fs::write(&path, &report).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts `slod serve` (SLO engine idle, or busy with `slo_busy`), loads it for
/// `a.seconds` and reads its figures.
async fn run_daemon(
    a: &IngestArgs,
    bodies: Arc<Vec<Template>>,
    bytes_per_req: usize,
    slo_busy: bool,
) -> Result<Run> {
    println!(
        "run: {}",
        if slo_busy {
            "SLO engine busy (default SLO templates and rules)"
        } else {
            "no SLOs, no rules"
        }
    );
    // The real daemon.
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("slod.yaml");
    let yaml = if slo_busy {
        format!(
            "slo: {{ evaluation_interval: {} }}\n",
            humantime::format_duration(a.slo_interval)
        )
    } else {
        "slo: { default_templates: false, default_rules: false }\n".to_string()
    };
    std::fs::write(&config, yaml)?;
    let data = dir.path().join("data");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(a.connections)
        .build()?;
    let mut daemon = daemon::Daemon::start(&config, &data, &client).await?;
    let (pid, http, api) = (daemon.pid, daemon.http, daemon.api);
    let (_, _, cpu_before) = proc_stats(pid).unwrap_or_default();

    let url = Arc::new(format!("http://127.0.0.1:{http}/v1/traces"));
    let acked = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    // Numbers every send (both runs start apart: their data directories differ anyway).
    let sent = Arc::new(AtomicU64::new(1));
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let pb = ProgressBar::new(a.seconds);
    pb.set_style(ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{bar:30}] {msg}",
    )?);
    let load_started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..a.connections {
        let (client, url, bodies, acked, refused, sent) = (
            client.clone(),
            url.clone(),
            bodies.clone(),
            acked.clone(),
            refused.clone(),
            sent.clone(),
        );
        let spans = a.spans_per_request as u64;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = c;
            while Instant::now() < deadline {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                let body = bodies[i % bodies.len()].fresh(n);
                i += 1;
                let t = Instant::now();
                match client
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        lat.push(t.elapsed());
                        acked.fetch_add(spans, Ordering::Relaxed);
                    }
                    Ok(r) if r.status() == 429 || r.status() == 503 => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Ok(r) => return Err(anyhow::anyhow!("unexpected status {}", r.status())),
                    Err(e) => return Err(e.into()),
                }
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut peak_rss = 0u64;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some((rss, _, _)) = proc_stats(pid) {
            peak_rss = peak_rss.max(rss);
        }
        let el = load_started.elapsed();
        pb.set_position(el.as_secs());
        pb.set_message(format!(
            "{:.0} spans/s",
            rate(acked.load(Ordering::Relaxed) as f64, el)
        ));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let elapsed = load_started.elapsed();
    pb.finish_and_clear();
    let (_, hwm, cpu_after) = proc_stats(pid).unwrap_or_default();
    let metrics = client
        .get(format!("http://127.0.0.1:{api}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let stages = Stages::parse(&metrics);
    daemon.stop()?;

    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let spans = acked.load(Ordering::Relaxed) as f64;
    let cores = (cpu_after - cpu_before) / elapsed.as_secs_f64();
    let tick = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok(Run {
        sps: rate(spans, elapsed),
        mbs: rate(lat.len() as f64 * bytes_per_req as f64, elapsed) / 1e6,
        p50_ms: pct(0.5).as_secs_f64() * 1e3,
        p99_ms: pct(0.99).as_secs_f64() * 1e3,
        cores,
        rss_mib: (peak_rss.max(hwm)) as f64 / 1024.0,
        refused: refused.load(Ordering::Relaxed),
        elapsed,
        stages,
        slo_ticks: tick("slod_slo_tick_duration_seconds_count"),
        slo_tick_seconds: tick("slod_slo_tick_duration_seconds_sum"),
    })
}

/// Per-stage figures read from the server's own `/metrics` (Prometheus text).
#[derive(Debug, Default)]
struct Stages {
    fsyncs: f64,
    fsync_seconds: f64,
    wal_records: f64,
    flushes: f64,
    flush_seconds: f64,
    sort_seconds: f64,
    encode_seconds: f64,
}

impl Stages {
    fn parse(text: &str) -> Stages {
        let value = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Stages {
            fsyncs: value("slod_wal_fsync_duration_seconds_count"),
            fsync_seconds: value("slod_wal_fsync_duration_seconds_sum"),
            wal_records: value("slod_wal_records_total"),
            flushes: value("slod_storage_flush_duration_seconds_count"),
            flush_seconds: value("slod_storage_flush_duration_seconds_sum"),
            sort_seconds: value("slod_storage_write_stage_seconds_total{stage=\"sort\"}"),
            encode_seconds: value("slod_storage_write_stage_seconds_total{stage=\"encode\"}"),
        }
    }
}

/// One line about the machine: cores, memory, CPU model, from /proc.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / (1 << 20) as f64);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cores} cores, {mem_gib:.0} GiB, {cpu}")
}

/// `slod bench all`: ingest, SLO and query benchmarks one after another (never two at a time:
/// they would share the cores), then bench/report.md with every table, the machine and the commit.
async fn all(a: AllArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let part = |name: &str| dir.path().join(format!("{name}.md"));
    println!("== slod bench ingest --seconds 20");
    let ingest_ok = ingest(IngestArgs {
        seconds: 20,
        connections: 8,
        spans_per_request: 512,
        distinct: 64,
        output: Some(part("ingest")),
        no_slo_comparison: false,
        slo_interval: Duration::from_secs(5),
    })
    .await?;
    println!("== slod bench slo --slos 1000 --days 30 --runs 3");
    let slo_ok = slo::run(slo::SloArgs {
        slos: 1000,
        days: 30,
        runs: 3,
        output: Some(part("slo")),
        raw_days: 7,
    })?;
    println!("== slod bench query --spans {}", a.spans);
    let query_ok = query::run(query::QueryArgs {
        spans: a.spans,
        runs: 5,
        python: a.python.clone(),
        data_dir: None,
        output: Some(part("query")),
    })
    .await?;
    let read = |name: &str| {
        std::fs::read_to_string(part(name))
            .unwrap_or_else(|_| "(no report: it failed, see its output)\n".into())
    };
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let report = format!(
        "# slod benchmark report\n\n\
         `slod bench all` at commit `{commit}`, {date}, on {machine}; release build; {secs:.0} s in all.\n\
         Every ratio is to a baseline measured in the same run.\n\n\
         ## Ingest (`slod bench ingest --seconds 20`)\n\n\
         OTLP/HTTP protobuf, 512 spans a request, 8 connections, fsync on; baselines: protobuf decode\n\
         only and decode + Arrow conversion on one core; then the same load with the SLO engine busy.\n\n{ingest}\n\
         ## SLO evaluation (`slod bench slo --slos 1000 --days 30 --runs 3`)\n\n{slo}\n\
         ## Queries (`slod bench query --spans {spans}`)\n\n{query}",
        date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine = machine(),
        secs = started.elapsed().as_secs_f64(),
        ingest = read("ingest"),
        slo = read("slo"),
        spans = a.spans,
        query = read("query"),
    );
    if let Some(parent) = a.output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&a.output, &report).with_context(|| format!("cannot write {}", a.output.display()))?;
    println!(
        "wrote {} ({:.0} s)",
        a.output.display(),
        started.elapsed().as_secs_f64()
    );
    let ok = [ingest_ok, slo_ok, query_ok]
        .iter()
        .all(|c| *c == ExitCode::SUCCESS);
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
