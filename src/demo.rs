//! `slod demo`: the whole product in one command. Starts `slod serve` in this process with an
//! embedded config (default SLO templates and rules, a short-window demo policy, a local
//! webhook sink as the alert receiver) on a temporary data directory, backfills a day of
//! realistic serverless history (loadgen's `mixed` scenario: several incidents), then streams
//! live traffic with an error burst every three minutes, and prints as it goes: the ingest
//! rate, the SLO table (SLI, budget left, burn rates, state) and every notification the
//! sink receives. Ctrl-C (or `--duration`) stops it cleanly and removes the data.
//!
//! Timing: the first burst starts on the last minute boundary before the live start (its first
//! seconds are sent at once) and lasts 54 s (loadgen's `error_burst` layout over a 3-minute
//! cycle), so with the demo policy (page at 14.4× over 5m and 1m) the page fires at the next
//! boundary and resolves one minute later, plus an evaluation tick or two and the group
//! timers: within about 2.5 minutes of the live start, so `--duration 3m` shows an alert
//! firing and resolving (unless evaluation ticks take far longer than the 6–13 s measured
//! in release with a day of history).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;

use crate::config::Config;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    slod demo                      # until Ctrl-C\n  \
    slod demo --duration 3m        # a bounded run: an alert fires and resolves\n  \
    slod demo --backfill 1h        # less history, a faster start")]
pub(crate) struct DemoArgs {
    /// Stop after this much live traffic (e.g. 3m). Default: run until Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// History to backfill before the live traffic starts.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    backfill: Duration,
    /// Traffic, in spans per second across the fleet (history and live alike, so the live
    /// traffic is no surge).
    #[arg(long, default_value_t = 30.0)]
    volume: f64,
    /// Seconds between two status tables.
    #[arg(long, default_value_t = 15)]
    every: u64,
}

/// The demo policy: windows short enough for an alert to fire and resolve within minutes.
const DEMO_POLICY: &str = concat!(
    "  policy:   # demo policy: short windows (the default is 1h/5m, 6h/30m, 3d/6h)\n",
    "    - { severity: page,   long: 5m,  short: 1m, burn_rate: 14.4 }\n",
    "    - { severity: ticket, long: 30m, short: 5m, burn_rate: 6 }\n",
);

/// The demo fleet's settings, as its team would write them: each function's timeout, and a
/// latency threshold for the batch jobs.
const DEMO_FUNCTIONS: &str = concat!(
    "functions:\n",
    "  \"*\": { timeout: 30s, latency_threshold: 1s }\n",
    "  orders-api: { timeout: 10s }\n",
    "  checkout-api: { timeout: 15s }\n",
    "  payments-authorize: { timeout: 6s }\n",
    "  inventory-sync: { timeout: 20s }\n",
    "  \"notifications-run*\": { timeout: 60s, latency_threshold: 10s }\n",
    "  reports-nightly: { timeout: 60s, latency_threshold: 10s }\n",
    "  \"billing-reconcile*\": { timeout: 60s, latency_threshold: 10s }\n",
);

const CYCLE: Duration = Duration::from_secs(180);
/// Where loadgen's `error_burst` starts within its cycle (its layout: 40 % to 70 %).
const BURST_AT: f64 = 0.4;

/// Default ports when free, else any free port.
fn port(default: u16) -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", default))
        .or_else(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(default)
}

/// What the sink has seen.
#[derive(Debug, Default)]
struct Sink {
    fired: BTreeMap<String, String>,
    resolved: BTreeMap<String, String>,
}

async fn sink_handler(
    axum::extract::State(state): axum::extract::State<(Arc<Mutex<Sink>>, Instant)>,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let (sink, started) = state;
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return axum::http::StatusCode::BAD_REQUEST;
    };
    let t = started.elapsed().as_secs();
    let alerts = v["alerts"].as_array().cloned().unwrap_or_default();
    let subject = |a: &Value| {
        let l = &a["labels"];
        l["faas_name"]
            .as_str()
            .or(l["workflow_execution_id"].as_str())
            .or(l["workflow"].as_str())
            .or(l["queue"].as_str())
            .unwrap_or("")
            .to_string()
    };
    let mut s = sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (mut firing, mut resolved) = (Vec::new(), Vec::new());
    for a in &alerts {
        let fp = a["fingerprint"].as_str().unwrap_or("").to_string();
        let what = format!(
            "{} {} {}",
            a["labels"]["alertname"].as_str().unwrap_or(""),
            a["labels"]["severity"].as_str().unwrap_or(""),
            subject(a)
        );
        if a["status"] == "firing" {
            s.fired.insert(fp, what);
            firing.push(subject(a));
        } else {
            s.resolved.insert(fp, what);
            resolved.push(subject(a));
        }
    }
    // One line per notification, as an on-call person receives them: grouped.
    let group: Vec<String> = v["groupLabels"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let list = |names: &[String]| {
        let mut shown: Vec<&str> = names.iter().map(String::as_str).take(4).collect();
        if names.len() > 4 {
            shown.push("…");
        }
        shown.join(", ")
    };
    let mut line = format!(
        "[{:>3}m{:02}s] NOTIFICATION {:<8} [{}] {}",
        t / 60,
        t % 60,
        v["status"].as_str().unwrap_or(""),
        v["commonLabels"]["severity"].as_str().unwrap_or("mixed"),
        group.join(" / ")
    );
    if !firing.is_empty() {
        line.push_str(&format!(" — firing: {}", list(&firing)));
    }
    if !resolved.is_empty() {
        line.push_str(&format!(" — resolved: {}", list(&resolved)));
    }
    println!("{line}");
    if firing.len() == 1
        && let Some(summary) = alerts
            .iter()
            .find(|a| a["status"] == "firing")
            .and_then(|a| a["annotations"]["summary"].as_str())
    {
        println!("             {summary}");
    }
    axum::http::StatusCode::OK
}

async fn get(client: &reqwest::Client, url: &str) -> Option<Value> {
    client.get(url).send().await.ok()?.json().await.ok()
}

fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn fmt_pct(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".into(), |x| format!("{:.2}%", x * 100.0))
}

fn fmt_burn(v: &Value) -> String {
    v.as_f64().map_or_else(|| "-".into(), |x| format!("{x:.1}"))
}

/// Prints the SLO table: a state summary, then the instances that burn fastest.
async fn print_status(client: &reqwest::Client, api: &str, rate: f64, tick: Option<f64>, t: u64) {
    let Some(slos) = get(client, &format!("{api}/api/v1/slos")).await else {
        return;
    };
    let rows = slos["data"].as_array().cloned().unwrap_or_default();
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rows {
        *states
            .entry(r["state"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    let summary: Vec<String> = states.iter().map(|(k, v)| format!("{v} {k}")).collect();
    println!(
        "\n[{:>3}m{:02}s] ingest {rate:.0} items/s | evaluation tick {} | SLO instances: {}",
        t / 60,
        t % 60,
        tick.map_or_else(|| "-".to_string(), |s| format!("{s:.2}s")),
        summary.join(", ")
    );
    let mut rows: Vec<&Value> = rows.iter().filter(|r| r["total"].as_f64() > Some(0.0)).collect();
    let burn = |r: &Value| r["burn_rates"]["1m"].as_f64().unwrap_or(0.0);
    rows.sort_by(|a, b| burn(b).total_cmp(&burn(a)));
    println!(
        "  {:<22} {:<32} {:>8} {:>12} {:>8} {:>8}  STATE",
        "SLO", "FUNCTION", "SLI", "BUDGET LEFT", "BURN 5m", "BURN 1m"
    );
    for r in rows.iter().take(8) {
        let subject = r["labels"]["faas_name"]
            .as_str()
            .or(r["labels"]["workflow"].as_str())
            .or(r["labels"]["queue"].as_str())
            .unwrap_or("");
        println!(
            "  {:<22} {:<32} {:>8} {:>12} {:>8} {:>8}  {}",
            r["slo"].as_str().unwrap_or(""),
            subject,
            fmt_pct(&r["sli"]),
            fmt_pct(&r["error_budget_remaining"]),
            fmt_burn(&r["burn_rates"]["5m"]),
            fmt_burn(&r["burn_rates"]["1m"]),
            r["state"].as_str().unwrap_or(""),
        );
    }
}

pub(crate) async fn run(args: DemoArgs) -> Result<ExitCode> {
    let dir = tempfile::Builder::new()
        .prefix("slod-demo-")
        .tempdir()
        .context("cannot create a temporary data directory")?;
    let started = Instant::now();
    // The webhook sink: where the demo's alerts are delivered.
    let sink = Arc::new(Mutex::new(Sink::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink_addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(sink_handler))
        .with_state((sink.clone(), started));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (grpc, http, api, pg) = (port(4317), port(4318), port(8080), port(5433));
    let yaml = format!(
        "server:\n  otlp_grpc_addr: 127.0.0.1:{grpc}\n  otlp_http_addr: 127.0.0.1:{http}\n  http_addr: 127.0.0.1:{api}\n  pg_addr: 127.0.0.1:{pg}\n\
         storage:\n  data_dir: {}\n  retention: null\n\
         {DEMO_FUNCTIONS}\
         slo:\n  evaluation_interval: 5s\n  hold_down: 5s\n{DEMO_POLICY}\
         alerting:\n  external_url: http://127.0.0.1:{api}\n  route: {{ receiver: demo-sink, group_wait: 5s, group_interval: 10s, repeat_interval: 1h }}\n  receivers:\n    - name: demo-sink\n      webhook_configs: [ {{ url: 'http://{sink_addr}/hook' }} ]\n",
        dir.path().join("data").display()
    );
    let config = Config::parse(&yaml, "the demo config")?;
    let mut settings = config.validate().map_err(|e| anyhow::anyhow!(e.join("\n")))?;
    settings.slo.specs = slod_slo::spec::SloSpec::default_templates();
    let rules = slod_slo::rules::load_effective(&[], None, true, &settings.catalogue);
    settings.slo.rules = rules.rules;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(crate::serve::serve_until(settings, {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }));
    let base = format!("http://127.0.0.1:{api}");
    let client = reqwest::Client::new();
    let ready = Instant::now();
    loop {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        if server.is_finished() || ready.elapsed() > Duration::from_secs(30) {
            let _ = stop_tx.send(true);
            return match server.await {
                Ok(Err(e)) => Err(e.context("slod did not start")),
                _ => anyhow::bail!("slod did not become ready within 30s"),
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("slod demo — data in {} (removed at exit)", dir.path().display());
    println!("  OTLP       grpc 127.0.0.1:{grpc}   http http://127.0.0.1:{http}");
    println!("  HTTP API   {base}   (try: curl -s {base}/api/v1/slos | head -c 600)");
    println!(
        "  SQL        psql -h 127.0.0.1 -p {pg} slod   (try: SELECT slo, labels['faas_name'], state, sli, error_budget_remaining FROM slo_status ORDER BY sli LIMIT 10;)"
    );
    println!(
        "  alerts     slod alerts --url {base}   (notifications go to the demo's webhook sink at http://{sink_addr}/hook)"
    );
    println!("  policy     DEMO POLICY: page at 14.4x burn over 5m and 1m, ticket at 6x over 30m and 5m");
    println!(
        "             (the default, 14.4x over 1h and 5m, could not fire and resolve within a short demo)"
    );

    let target = format!("127.0.0.1:{http}");
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    // History: a day (by default) of `mixed` traffic, with a progress bar.
    // `mixed` lays its day of incidents over the whole backfill: over less than half a day
    // they would crowd the last hour, so a short history is `steady`.
    let history = if args.backfill >= Duration::from_secs(12 * 3600) {
        slod_loadgen::Scenario::Mixed
    } else {
        slod_loadgen::Scenario::Steady
    };
    println!(
        "\nbackfilling {} of history (loadgen --scenario {})…",
        humantime::format_duration(args.backfill),
        history.name()
    );
    // It ends three minutes before the last minute boundary: the live traffic takes over
    // from there (its first seconds are sent at once), without overlap.
    let history_end = now / 60 * 60 - CYCLE.as_secs();
    let history_start = history_end.saturating_sub(args.backfill.as_secs()) / 60 * 60;
    let code = crate::loadgen::run(crate::loadgen::LoadgenArgs::demo(
        &target,
        history,
        history_start,
        Duration::from_secs(history_end - history_start),
        Duration::ZERO,
        args.volume,
        None,
        false,
    ))
    .await?;
    if code != ExitCode::SUCCESS {
        let _ = stop_tx.send(true);
        let _ = server.await;
        anyhow::bail!("the backfill failed (see above)");
    }
    // Live: an error burst every three minutes, the first starting at the last minute
    // boundary (its first seconds are sent at once).
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let boundary = now / 60 * 60;
    let live_start = boundary - (CYCLE.as_secs_f64() * BURST_AT) as u64;
    let caught_up = Duration::from_secs(now - live_start);
    let live = args.duration.unwrap_or(Duration::from_secs(365 * 24 * 3600));
    println!(
        "live traffic: {} spans/s, an error burst every 3 minutes (the first from {}s ago){}\n",
        args.volume,
        now - boundary,
        args.duration.map_or_else(
            || ", until Ctrl-C".to_string(),
            |d| format!(", for {}", humantime::format_duration(d))
        )
    );
    let live_started = Instant::now();
    let loadgen = tokio::spawn(crate::loadgen::run(crate::loadgen::LoadgenArgs::demo(
        &target,
        slod_loadgen::Scenario::ErrorBurst,
        live_start,
        caught_up,
        live,
        args.volume,
        Some(CYCLE),
        true,
    )));
    let m = metrics(&client, &base).await;
    let mut last = (
        Instant::now(),
        counter(&m, "slod_collector_accepted_items_total"),
        counter(&m, "slod_slo_tick_duration_seconds_sum"),
        counter(&m, "slod_slo_tick_duration_seconds_count"),
    );
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let wait = Duration::from_secs(args.every.max(1));
        let end = args.duration.map(|d| d.saturating_sub(live_started.elapsed()));
        tokio::select! {
            _ = tokio::time::sleep(end.map_or(wait, |e| e.min(wait))) => {}
            _ = &mut ctrl_c => { println!("\nCtrl-C: stopping"); break; }
        }
        let m = metrics(&client, &base).await;
        let now = (
            Instant::now(),
            counter(&m, "slod_collector_accepted_items_total"),
            counter(&m, "slod_slo_tick_duration_seconds_sum"),
            counter(&m, "slod_slo_tick_duration_seconds_count"),
        );
        let rate = (now.1 - last.1) / last.0.elapsed().as_secs_f64().max(1e-3);
        let ticks = now.3 - last.3;
        let tick = (ticks > 0.0).then(|| (now.2 - last.2) / ticks);
        last = now;
        print_status(&client, &base, rate, tick, started.elapsed().as_secs()).await;
        if end.is_some_and(|e| e <= wait) {
            break;
        }
    }
    loadgen.abort();
    // Idle keep-alive connections would hold the API's graceful shutdown open.
    drop(client);
    let _ = stop_tx.send(true);
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e.context("slod stopped with an error")),
        Err(e) => anyhow::bail!("slod panicked: {e}"),
    }
    let s = sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let pages =
        |m: &BTreeMap<String, String>| m.values().filter(|w| w.starts_with("SLOBurnRate page")).count();
    println!(
        "\nslod demo: {} alerts fired and {} resolved; SLO burn-rate pages: {} fired, {} resolved. Stopped cleanly; removing {}.",
        s.fired.len(),
        s.resolved.len(),
        pages(&s.fired),
        pages(&s.resolved),
        dir.path().display()
    );
    drop(s);
    // Removed here, not on drop, so a failure is reported instead of ignored.
    let path = dir.path().to_path_buf();
    dir.close()
        .with_context(|| format!("cannot remove the demo's data directory {}", path.display()))?;
    Ok(ExitCode::SUCCESS)
}

async fn metrics(client: &reqwest::Client, base: &str) -> String {
    match client.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}
