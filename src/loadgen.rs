//! `slod loadgen`: sends realistic serverless telemetry (the `slod-loadgen` simulation) to one
//! OTLP endpoint.
//!
//! One rule paces everything: the simulation covers the window `[start, start + backfill +
//! duration)` second by second; a simulated second whose end is already past is sent at
//! once, a later one when the wall clock reaches it. So `--backfill 24h` writes a day of
//! history with its real timestamps as fast as allowed, then `--duration` continues live.
//! `--rate` caps the items (spans + metric points + log records) sent per second with a token
//! bucket; without it a backfill goes as fast as the target acknowledges. 429/503 and gRPC
//! UNAVAILABLE are retried after the server's hint, and the retries count against the rate.

mod transport;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use slod_loadgen::{Batcher, Export, Scenario, SimConfig, Simulation, Target, TokenBucket};
use tokio::sync::{Mutex, Semaphore, mpsc};

use transport::{Answer, Client, Protocol};

const NS: u64 = 1_000_000_000;
/// Attempts per request before it counts as failed.
const MAX_ATTEMPTS: u32 = 10;

fn scenario_help() -> String {
    let mut s = String::from("Scenario to play:\n");
    for sc in Scenario::ALL {
        s.push_str(&format!("  {:<19} {}\n", sc.name(), sc.describe()));
    }
    s
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    slod loadgen                                  # 60 s of steady traffic to 127.0.0.1:4318\n  \
    slod loadgen --scenario error_burst --duration 10m --rate 2000\n  \
    slod loadgen --backfill 24h --scenario mixed   # a day of history, as fast as slod takes it\n  \
    slod loadgen --backfill 1h --start 2026-11-24T00:00:00Z --seed 7   # reproducible data\n  \
    slod loadgen --scenario throttle_storm --plan  # show what will happen, send nothing\n\n\
    loadgen sends only to --target: it reads no OTEL_EXPORTER_OTLP_* variables, uses no proxy,\n\
    follows no redirects and discovers nothing.")]
pub(crate) struct LoadgenArgs {
    /// Where to send: host, host:port or http://host:port (the protocol's default port when
    /// none is given: 4317 gRPC, 4318 HTTP). The only address loadgen contacts.
    #[arg(long, default_value = "127.0.0.1")]
    target: String,
    /// OTLP transport.
    #[arg(long, value_enum, default_value_t = Protocol::HttpProtobuf)]
    protocol: Protocol,
    /// At most this many items per second (spans, metric data points and log records each
    /// count one), never exceeded, retries included. Default: no cap (live traffic is paced
    /// by the clock; a backfill goes as fast as the target acknowledges).
    #[arg(long, value_name = "ITEMS_PER_SEC")]
    rate: Option<f64>,
    /// Live traffic after the backfill (e.g. 90s, 10m). Default: 60s without --backfill,
    /// none with it.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// History to write before now (e.g. 24h), with correct past timestamps.
    #[arg(long, value_parser = humantime::parse_duration)]
    backfill: Option<Duration>,
    /// Functions in the fleet (3 workflows come on top).
    #[arg(long, default_value_t = 10)]
    functions: usize,
    /// Seed: the same seed, scenario, start, volume and fleet give the same data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value = "steady", value_parser = |s: &str| s.parse::<Scenario>(), help = scenario_help())]
    scenario: Scenario,
    /// Traffic the simulated fleet makes, in spans per simulated second when healthy
    /// (incidents add to it). Default: 100; for a live run with --rate, 80 % of the rate
    /// (room for logs and metrics).
    #[arg(long, value_name = "SPANS_PER_SEC")]
    volume: Option<f64>,
    /// Start of the simulated window: RFC 3339 (2026-11-24T00:00:00Z) or Unix seconds.
    /// Default: now minus --backfill, rounded down to the minute.
    #[arg(long)]
    start: Option<String>,
    /// Repeat the scenario's incidents every period (e.g. 10m). Default: once per run.
    #[arg(long, value_parser = humantime::parse_duration)]
    incident_every: Option<Duration>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Most items in one request.
    #[arg(long, default_value_t = 2000)]
    batch: u64,
    /// Print the incident plan as JSON and exit without sending anything.
    #[arg(long)]
    plan: bool,
    /// No progress bar; only the summary.
    #[arg(long)]
    quiet: bool,
    /// Generate and encode everything as fast as possible but send nothing; reports the
    /// generator's own throughput.
    #[arg(long)]
    dry_run: bool,
}

impl LoadgenArgs {
    /// `slod demo`'s traffic: `scenario` over `[start, start + backfill + duration)` to
    /// `target` (OTLP/HTTP protobuf), `volume` spans/s, incidents every `incident_every`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn demo(
        target: &str,
        scenario: Scenario,
        start_secs: u64,
        backfill: Duration,
        duration: Duration,
        volume: f64,
        incident_every: Option<Duration>,
        quiet: bool,
    ) -> LoadgenArgs {
        LoadgenArgs {
            target: target.to_string(),
            protocol: Protocol::HttpProtobuf,
            rate: None,
            duration: Some(duration),
            backfill: Some(backfill),
            functions: 10,
            seed: 1,
            scenario,
            volume: Some(volume),
            start: Some(start_secs.to_string()),
            incident_every,
            connections: 4,
            batch: 2000,
            plan: false,
            quiet,
            dry_run: false,
        }
    }
}

/// The window and pacing decided from the arguments.
#[derive(Debug)]
struct Window {
    start_ns: u64,
    length: Duration,
}

fn parse_start(s: &str) -> Result<u64> {
    if let Ok(secs) = s.trim().parse::<u64>() {
        return Ok(secs * NS);
    }
    let t = humantime::parse_rfc3339_weak(s.trim()).with_context(|| {
        format!("--start {s:?}: expected RFC 3339 (2026-11-24T00:00:00Z) or Unix seconds")
    })?;
    Ok(t.duration_since(UNIX_EPOCH)?.as_nanos() as u64)
}

fn window(a: &LoadgenArgs, now_ns: u64) -> Result<Window> {
    let backfill = a.backfill.unwrap_or_default();
    let live = a.duration.unwrap_or(if a.backfill.is_some() {
        Duration::ZERO
    } else {
        Duration::from_secs(60)
    });
    let length = backfill + live;
    if length < Duration::from_secs(1) {
        bail!("nothing to send: give --duration or --backfill of at least 1s");
    }
    let start_ns = match &a.start {
        Some(s) => parse_start(s)?,
        None if a.backfill.is_some() => (now_ns - backfill.as_nanos() as u64) / (60 * NS) * (60 * NS),
        None => now_ns / NS * NS,
    };
    Ok(Window { start_ns, length })
}

/// Counters shared by the sender tasks and the progress display.
#[derive(Debug, Default)]
struct Stats {
    sent: AtomicU64,
    requests: AtomicU64,
    acked: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    bytes: AtomicU64,
    simulated_secs: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

/// `--rate` as a token bucket shared by all senders.
#[derive(Debug)]
struct Limiter {
    bucket: Option<Mutex<TokenBucket>>,
    started: Instant,
}

impl Limiter {
    async fn acquire(&self, n: u64) {
        let Some(bucket) = &self.bucket else { return };
        loop {
            let wait = match bucket.lock().await.try_take(n, self.started.elapsed()) {
                Ok(()) => return,
                Err(w) => w,
            };
            tokio::time::sleep(wait).await;
        }
    }
}

pub(crate) async fn run(a: LoadgenArgs) -> Result<ExitCode> {
    let bad = |x: f64| x.is_nan() || x <= 0.0;
    if a.rate.is_some_and(bad) || a.volume.is_some_and(bad) {
        bail!("--rate and --volume must be positive numbers");
    }
    if a.functions == 0 || a.connections == 0 || a.batch == 0 {
        bail!("--functions, --connections and --batch must be at least 1");
    }
    let now_ns = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64;
    let w = window(&a, now_ns)?;
    let cfg = SimConfig {
        seed: a.seed,
        scenario: a.scenario,
        start_ns: w.start_ns,
        duration: w.length,
        period: a.incident_every,
        volume: a.volume.unwrap_or(match (a.backfill, a.rate) {
            (None, Some(r)) => r * 0.8,
            _ => 100.0,
        }),
        functions: a.functions,
    };
    let sim = Simulation::new(cfg);
    if a.plan {
        let fleet: Vec<&str> = sim.fleet().iter().map(|f| f.name.as_str()).collect();
        let out = serde_json::json!({ "plan": sim.plan(), "fleet": fleet, "seed": a.seed });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    if a.dry_run {
        return dry_run(sim, a.batch);
    }
    let base = transport::endpoint(&a.target, a.protocol)?;
    let client = Client::new(base.clone(), a.protocol, Duration::from_secs(30))?;
    // The bucket holds at most one request: a request never needs more than the capacity.
    let max_items = a
        .rate
        .map_or(a.batch, |r| a.batch.min((r / 10.0).ceil().max(1.0) as u64));
    let limiter = Arc::new(Limiter {
        bucket: a.rate.map(|r| Mutex::new(TokenBucket::new(r, max_items as f64))),
        started: Instant::now(),
    });
    let stats = Arc::new(Stats::default());
    if !a.quiet {
        eprintln!(
            "slod loadgen: {} (seed {}) → {base} ({}), {} simulated seconds from {}, {}",
            a.scenario,
            a.seed,
            a.protocol
                .to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_string()),
            sim.ticks(),
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_nanos(w.start_ns)),
            a.rate
                .map_or("no rate cap".into(), |r| format!("at most {r} items/s")),
        );
        for i in &sim.plan().incidents {
            let target = match &i.target {
                Target::Fleet => "every function",
                Target::Workflows => "every workflow",
                Target::Function { name, .. } => name.as_str(),
            };
            eprintln!(
                "  {} on {target} from {} to {}",
                serde_json::to_value(i.kind)?.as_str().unwrap_or_default(),
                humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_nanos(i.start_ns)),
                humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_nanos(i.end_ns)),
            );
        }
    }
    let total_secs = sim.ticks();
    let (tx, rx) = mpsc::channel::<(u64, Vec<Export>)>(8);
    let wall = (now_ns, Instant::now());
    let generator = std::thread::spawn(move || generate(sim, max_items, wall, tx));
    let bar = progress(a.quiet, total_secs);
    let dispatch = tokio::spawn(dispatch(
        rx,
        client,
        limiter,
        stats.clone(),
        a.connections,
        wall,
        w.start_ns,
    ));
    let started = Instant::now();
    while !dispatch.is_finished() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        update(&bar, &stats, started.elapsed());
    }
    dispatch.await??;
    generator
        .join()
        .map_err(|_| anyhow::anyhow!("the generator thread panicked"))?;
    update(&bar, &stats, started.elapsed());
    bar.finish_and_clear();
    summary(&a, &stats, started.elapsed())
}

/// `--dry-run`: the generator alone (simulate, batch, encode as protobuf), timed.
fn dry_run(sim: Simulation, batch: u64) -> Result<ExitCode> {
    let started = Instant::now();
    let mut batcher = Batcher::new(batch);
    let (mut spans, mut items, mut bytes, mut requests) = (0u64, 0u64, 0usize, 0u64);
    let mut count = |exports: Vec<Export>| {
        for e in exports {
            if let Export::Traces(_) = e {
                spans += e.items();
            }
            items += e.items();
            bytes += e.encode().len();
            requests += 1;
        }
    };
    for tick in sim {
        count(batcher.push(tick));
    }
    count(batcher.flush());
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    println!(
        "slod loadgen --dry-run: generated {spans} spans, {items} items in {requests} requests ({:.1} MB protobuf) in {secs:.1}s: {:.0} spans/s, {:.0} items/s",
        bytes as f64 / 1e6,
        spans as f64 / secs,
        items as f64 / secs,
    );
    Ok(ExitCode::SUCCESS)
}

/// The simulation on its own thread: batches ticks and hands them over with the simulated
/// time at which they may go out.
fn generate(sim: Simulation, max_items: u64, wall: (u64, Instant), tx: mpsc::Sender<(u64, Vec<Export>)>) {
    let mut batcher = Batcher::new(max_items);
    let now = || wall.0 + wall.1.elapsed().as_nanos() as u64;
    for tick in sim {
        let end = tick.end_ns;
        let mut ready = batcher.push(tick);
        // Live (or nearly): send each second as it completes; history: fill whole batches.
        if end + NS >= now() {
            ready.extend(batcher.flush());
        }
        if !ready.is_empty() && tx.blocking_send((end, ready)).is_err() {
            return;
        }
    }
    let rest = batcher.flush();
    if !rest.is_empty() {
        let _ = tx.blocking_send((0, rest));
    }
}

async fn dispatch(
    mut rx: mpsc::Receiver<(u64, Vec<Export>)>,
    client: Client,
    limiter: Arc<Limiter>,
    stats: Arc<Stats>,
    connections: usize,
    wall: (u64, Instant),
    start_ns: u64,
) -> Result<()> {
    let permits = Arc::new(Semaphore::new(connections));
    let mut tasks = tokio::task::JoinSet::new();
    while let Some((release, exports)) = rx.recv().await {
        let now = wall.0 + wall.1.elapsed().as_nanos() as u64;
        if release > now {
            tokio::time::sleep(Duration::from_nanos(release - now)).await;
        }
        // Simulated seconds handed to the senders (the final flush, 0, means all of them).
        let done = if release == 0 {
            u64::MAX
        } else {
            release.saturating_sub(start_ns) / NS
        };
        stats.simulated_secs.store(done, Ordering::Relaxed);
        for e in exports {
            let permit = permits.clone().acquire_owned().await?;
            let (mut client, limiter, stats) = (client.clone(), limiter.clone(), stats.clone());
            tasks.spawn(async move {
                send(&mut client, &limiter, &stats, e).await;
                drop(permit);
            });
            while tasks.try_join_next().is_some() {}
        }
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// One request until it is acknowledged, refused for good, or out of attempts.
async fn send(client: &mut Client, limiter: &Limiter, stats: &Stats, e: Export) {
    let items = e.items();
    let body = match client.body(&e) {
        Ok(b) => b,
        Err(err) => {
            fail(stats, items, format!("cannot encode: {err}"));
            return;
        }
    };
    for attempt in 0..MAX_ATTEMPTS {
        limiter.acquire(items).await;
        stats.sent.fetch_add(items, Ordering::Relaxed);
        stats.requests.fetch_add(1, Ordering::Relaxed);
        stats.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        match client.send(&e, body.clone()).await {
            Answer::Ok { rejected } => {
                stats
                    .acked
                    .fetch_add(items - rejected.min(items), Ordering::Relaxed);
                stats.rejected.fetch_add(rejected, Ordering::Relaxed);
                return;
            }
            Answer::Retry { after, why } => {
                if attempt + 1 == MAX_ATTEMPTS {
                    fail(
                        stats,
                        items,
                        format!("gave up after {MAX_ATTEMPTS} attempts: {why}"),
                    );
                    return;
                }
                stats.retried.fetch_add(1, Ordering::Relaxed);
                // The server's hint, else exponential backoff from 100 ms up to 10 s.
                let backoff = Duration::from_millis(100 << attempt.min(7)).min(Duration::from_secs(10));
                tokio::time::sleep(after.unwrap_or(backoff)).await;
            }
            Answer::Permanent(why) => {
                fail(stats, items, why);
                return;
            }
        }
    }
}

fn fail(stats: &Stats, items: u64, why: String) {
    stats.failed.fetch_add(items, Ordering::Relaxed);
    if let Ok(mut first) = stats.first_error.lock()
        && first.is_none()
    {
        *first = Some(why);
    }
}

fn progress(quiet: bool, total_secs: u64) -> ProgressBar {
    let bar = ProgressBar::new(total_secs);
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:25}] {pos}/{len} simulated s  {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn update(bar: &ProgressBar, s: &Stats, elapsed: Duration) {
    let acked = s.acked.load(Ordering::Relaxed);
    let simulated = s.simulated_secs.load(Ordering::Relaxed);
    bar.set_position(bar.length().unwrap_or(0).min(simulated));
    bar.set_message(format!(
        "sent {} acked {acked} retried {} failed {}  {:.0} items/s",
        s.sent.load(Ordering::Relaxed),
        s.retried.load(Ordering::Relaxed),
        s.failed.load(Ordering::Relaxed),
        acked as f64 / elapsed.as_secs_f64().max(1e-3),
    ));
}

fn summary(a: &LoadgenArgs, s: &Stats, elapsed: Duration) -> Result<ExitCode> {
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64().max(1e-3);
    println!(
        "slod loadgen: {} seed {}: sent {} items in {} requests ({:.1} MB), acked {}, rejected {}, retried {} requests, failed {} items, {:.1}s, {:.0} items/s",
        a.scenario,
        a.seed,
        load(&s.sent),
        load(&s.requests),
        load(&s.bytes) as f64 / 1e6,
        load(&s.acked),
        load(&s.rejected),
        load(&s.retried),
        load(&s.failed),
        secs,
        load(&s.sent) as f64 / secs,
    );
    let first = s.first_error.lock().ok().and_then(|e| e.clone());
    if let Some(err) = first {
        eprintln!("slod loadgen: first failure: {err}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
