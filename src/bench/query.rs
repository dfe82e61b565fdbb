//! `slod bench query`: typical SLI queries through the PostgreSQL wire protocol over ten
//! million `slod loadgen` spans flushed to Parquet, beside DuckDB running the same questions
//! on the very same files in the same run.
//!
//! Steps: (1) a real `slod serve` takes a day of `--scenario mixed` traffic from `slod
//! loadgen` over OTLP/HTTP (skipped when `--data-dir` already holds data); (2) SIGTERM flushes
//! everything to Parquet and the daemon restarts on the same directory, so queries read only
//! Parquet files; (3) once compaction has settled, each query runs once to warm up and then
//! `--runs` times through tokio-postgres (simple protocol, every row fetched as text), and the
//! same questions run in DuckDB (Python package, the venv of `scripts/setup-python.sh sql`)
//! over the manifest's file list with the same thread count. Medians are reported with the
//! slod/DuckDB ratio, and the two engines' answers are compared cell by cell: a benchmark of
//! wrong answers would be worthless.
//!
//! Semantics are the same on both sides: exact percentiles (DataFusion `percentile_cont`,
//! DuckDB `quantile_cont`, both interpolating), 5-minute buckets from the epoch, NULLs last.
//! DuckDB must be 2.0 or later: 1.5.x prunes row groups with the bloom filter of a BLOB
//! column using the constant's escaped text, so `trace_id = from_hex('…')` finds nothing
//! (duckdb/duckdb#23053, fixed by #23829); `scripts/requirements-sql.txt` pins 2.0.1.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use serde::Deserialize;
use slod_storage::{Storage, Table};
use tokio_postgres::{NoTls, SimpleQueryMessage};

use super::daemon::Daemon;
use super::proc_stats;

const DUCKDB_SCRIPT: &str = include_str!("query_duckdb.py");
/// The simulated day: fixed, so the same `--spans` gives the same data.
const START: &str = "2026-11-23T00:00:00Z";
const DAY_S: u64 = 86_400;

#[derive(Debug, Args)]
#[command(after_help = "Example:\n  \
    ./scripts/setup-python.sh sql      # DuckDB, the baseline\n  \
    slod bench query --data-dir /tmp/slod-bench   # keeps the data for the next run")]
pub(crate) struct QueryArgs {
    /// Spans to generate (at least): one simulated day of `mixed` traffic at this volume.
    #[arg(long, default_value_t = 10_000_000)]
    pub(super) spans: u64,
    /// Timed runs per query after one warm-up run; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub(super) runs: usize,
    /// Python interpreter with the `duckdb` package.
    #[arg(long, env = "SLOD_BENCH_PYTHON", default_value = ".venv/bin/python")]
    pub(super) python: PathBuf,
    /// Data directory to generate into and query; reused as it is when it already holds
    /// spans. Default: a temporary directory, removed at the end.
    #[arg(long)]
    pub(super) data_dir: Option<PathBuf>,
    /// Write the report (Markdown) here as well as printing it.
    #[arg(long)]
    pub(super) output: Option<PathBuf>,
}

/// One question, in slod's SQL and in DuckDB's.
struct Query {
    name: &'static str,
    what: String,
    slod: String,
    duckdb: String,
}

fn queries(t0: &str, t1: &str, hour: &str, trace_hex: &str) -> Vec<Query> {
    let rates = |bucket: &str| {
        format!(
            "SELECT {bucket} AS t, faas_name, count(*) AS invocations, \
             avg(CASE WHEN is_error THEN 1.0 ELSE 0.0 END) AS error_rate, \
             avg(CASE WHEN faas_coldstart THEN 1.0 ELSE 0.0 END) AS cold_start_rate \
             FROM spans WHERE is_invocation AND start_time >= {t0} AND start_time < {t1} \
             GROUP BY 1, 2 ORDER BY 1, 2 NULLS LAST"
        )
    };
    let throttled = format!(
        "SELECT faas_name, count(*) AS throttles FROM spans \
         WHERE is_throttle AND start_time >= {t0} AND start_time < {t1} \
         GROUP BY faas_name ORDER BY throttles DESC, faas_name NULLS LAST LIMIT 10"
    );
    let trace = |id: &str| {
        format!(
            "SELECT name, start_time, duration_ns FROM spans WHERE trace_id = {id} \
             ORDER BY start_time, name"
        )
    };
    vec![
        Query {
            name: "p95_per_function_1h",
            what: "P95 duration per function over the last hour".into(),
            slod: format!(
                "SELECT faas_name, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ns) AS p95_ns \
                 FROM spans WHERE is_invocation AND start_time >= {hour} AND start_time < {t1} \
                 GROUP BY faas_name ORDER BY faas_name NULLS LAST"
            ),
            duckdb: format!(
                "SELECT faas_name, quantile_cont(duration_ns, 0.95) AS p95_ns \
                 FROM spans WHERE is_invocation AND start_time >= {hour} AND start_time < {t1} \
                 GROUP BY faas_name ORDER BY faas_name NULLS LAST"
            ),
        },
        Query {
            name: "rates_per_5m_24h",
            what: "error and cold-start rates per function per 5 min over 24 h".into(),
            slod: rates("date_bin(INTERVAL '5 minutes', start_time)"),
            duckdb: rates("to_timestamp(floor(epoch(start_time) / 300) * 300)"),
        },
        Query {
            name: "top_throttled_24h",
            what: "top 10 throttled functions over 24 h".into(),
            slod: throttled.clone(),
            duckdb: throttled,
        },
        Query {
            name: "trace_by_id",
            what: "every span of one trace by its id".into(),
            slod: trace(&format!("trace_id('{trace_hex}')")),
            duckdb: trace(&format!("from_hex('{trace_hex}')")),
        },
    ]
}

#[derive(Debug, Deserialize)]
struct DuckOut {
    version: String,
    results: std::collections::HashMap<String, DuckResult>,
}

#[derive(Debug, Deserialize)]
struct DuckResult {
    seconds: Vec<f64>,
    rows: Vec<Vec<String>>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn timestamp(s: &str) -> Option<f64> {
    let t = chrono::DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z").ok()?;
    Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9)
}

/// Cells agree when equal as text, as numbers, or as instants (slod's timestamptz text vs
/// DuckDB's epoch seconds, to the microsecond). Numbers agree within a relative 1e-6:
/// DataFusion 55's `percentile_cont` truncates its interpolation weight to 6 decimals
/// (`INTERPOLATION_PRECISION`), so a P95 between two durations 17 ms apart can be 17 ns
/// lower than DuckDB's; sums and averages agree to far better than that.
fn same_cell(slod: &str, duck: &str) -> bool {
    if slod == duck {
        return true;
    }
    let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0);
    match (slod.parse::<f64>(), duck.parse::<f64>()) {
        (Ok(a), Ok(b)) => close(a, b, 1e-6),
        (Err(_), Ok(b)) => timestamp(slod).is_some_and(|a| (a - b).abs() < 1e-6),
        _ => false,
    }
}

/// The first difference between the two answers, if any.
fn compare(slod: &[Vec<String>], duck: &[Vec<String>]) -> Option<String> {
    if slod.len() != duck.len() {
        return Some(format!(
            "{} rows from slod, {} from DuckDB",
            slod.len(),
            duck.len()
        ));
    }
    for (i, (a, b)) in slod.iter().zip(duck).enumerate() {
        if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| !same_cell(x, y)) {
            return Some(format!("row {i}: slod {a:?}, DuckDB {b:?}"));
        }
    }
    None
}

async fn simple_rows(client: &tokio_postgres::Client, sql: &str) -> Result<Vec<Vec<String>>> {
    let mut rows = Vec::new();
    for m in client
        .simple_query(sql)
        .await
        .with_context(|| format!("slod: {sql}"))?
    {
        if let SimpleQueryMessage::Row(r) = m {
            rows.push(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            );
        }
    }
    Ok(rows)
}

fn spans_files(data: &Path) -> Result<Vec<slod_storage::FileMeta>> {
    Ok(Storage::committed_files(data)?
        .into_iter()
        .filter(|f| f.table == Table::Spans)
        .collect())
}

/// Waits until compaction leaves the spans files alone for 8 s (at most 5 minutes).
async fn settle(data: &Path) -> Result<Vec<slod_storage::FileMeta>> {
    let started = Instant::now();
    let mut files = spans_files(data)?;
    let mut stable_since = Instant::now();
    while stable_since.elapsed() < Duration::from_secs(8) {
        if started.elapsed() > Duration::from_secs(300) {
            bail!("compaction did not settle within 5 minutes");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = spans_files(data)?;
        if now != files {
            files = now;
            stable_since = Instant::now();
        }
    }
    Ok(files)
}

fn check_python(python: &Path) -> Result<()> {
    let ok = std::process::Command::new(python)
        .args(["-c", "import duckdb"])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ensure!(
        ok,
        "DuckDB is the baseline and {} cannot import it: run ./scripts/setup-python.sh sql \
         (it creates .venv with duckdb) from the repository, or pass --python",
        python.display()
    );
    Ok(())
}

fn run_duckdb(python: &Path, files: &[String], threads: usize, runs: usize, qs: &[Query]) -> Result<DuckOut> {
    use std::io::Write;
    let input = serde_json::json!({
        "files": files,
        "threads": threads,
        "runs": runs,
        "queries": qs.iter().map(|q| serde_json::json!({"name": q.name, "sql": q.duckdb})).collect::<Vec<_>>(),
    });
    let mut child = std::process::Command::new(python)
        .args(["-c", DUCKDB_SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", python.display()))?;
    child
        .stdin
        .take()
        .context("no stdin")?
        .write_all(input.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(out.status.success(), "the DuckDB side failed ({})", out.status);
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Fills `data` with one simulated day of at least `spans` spans through a real daemon.
async fn generate(config: &Path, data: &Path, spans: u64, client: &reqwest::Client) -> Result<()> {
    // loadgen's volume is spans per simulated second when healthy; mixed's incidents add a
    // little, the throttles and errors take some away: aim 3 % over.
    let volume = spans as f64 / DAY_S as f64 * 1.03;
    println!(
        "generating: slod loadgen --scenario mixed --backfill 24h --start {START} --volume {volume:.1} --functions 40 --seed 42"
    );
    let mut daemon = Daemon::start(config, data, client).await?;
    let started = Instant::now();
    let status = tokio::process::Command::new(std::env::current_exe()?)
        .arg("loadgen")
        .args(["--target", &format!("127.0.0.1:{}", daemon.http)])
        .args(["--scenario", "mixed", "--backfill", "24h", "--start", START])
        .args([
            "--volume",
            &format!("{volume:.3}"),
            "--functions",
            "40",
            "--seed",
            "42",
        ])
        .status()
        .await?;
    ensure!(status.success(), "slod loadgen failed ({status})");
    let took = started.elapsed();
    daemon.stop()?;
    let rows: u64 = spans_files(data)?.iter().map(|f| f.rows).sum();
    println!(
        "generated {rows} spans in {:.0} s ({:.0} spans/s acknowledged, fsync on), flushed to Parquet",
        took.as_secs_f64(),
        rows as f64 / took.as_secs_f64()
    );
    Ok(())
}

pub(crate) async fn run(a: QueryArgs) -> Result<ExitCode> {
    ensure!(a.runs > 0 && a.spans > 0, "--runs and --spans must be positive");
    check_python(&a.python)?;
    let tmp = tempfile::tempdir()?;
    let data = a.data_dir.clone().unwrap_or_else(|| tmp.path().join("data"));
    let config = tmp.path().join("slod.yaml");
    // Fixed 2026 dates: no retention. No SLOs or rules: nothing else competes for the cores.
    std::fs::write(
        &config,
        "storage: { retention: null, maintenance_interval: 2s }\n\
         slo: { default_templates: false, default_rules: false }\n\
         limits: { query_timeout: 300s }\n",
    )?;
    let client = reqwest::Client::new();
    if spans_files(&data).map(|f| f.is_empty()).unwrap_or(true) {
        generate(&config, &data, a.spans, &client).await?;
    } else {
        println!("reusing the spans in {}", data.display());
    }

    let daemon = Daemon::start(&config, &data, &client).await?;
    let files = settle(&data).await?;
    let rows: u64 = files.iter().map(|f| f.rows).sum();
    let bytes: u64 = files.iter().map(|f| f.bytes).sum();
    if rows < a.spans {
        println!("note: {rows} spans stored, fewer than --spans {}", a.spans);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "querying {rows} spans in {} Parquet files ({:.0} MiB); {threads} threads on both sides, {} runs each",
        files.len(),
        bytes as f64 / (1 << 20) as f64,
        a.runs
    );

    let (pg, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} dbname=slod user=bench sslmode=disable",
            daemon.pg
        ),
        NoTls,
    )
    .await
    .context("cannot connect over pgwire")?;
    tokio::spawn(conn);

    let day_start = chrono::DateTime::parse_from_rfc3339(START)?.with_timezone(&chrono::Utc);
    let lit = |t: chrono::DateTime<chrono::Utc>| format!("'{}'", t.format("%Y-%m-%dT%H:%M:%SZ"));
    let t1 = day_start + chrono::Duration::seconds(DAY_S as i64);
    let hour = t1 - chrono::Duration::hours(1);
    let mid = day_start + chrono::Duration::hours(13);
    let trace_hex = simple_rows(
        &pg,
        &format!(
            "SELECT encode(trace_id, 'hex') FROM spans WHERE is_invocation \
             AND start_time >= {} AND start_time < {} LIMIT 1",
            lit(mid),
            lit(mid + chrono::Duration::seconds(10))
        ),
    )
    .await?
    .first()
    .and_then(|r| r.first().cloned())
    .context("no invocation to look up by trace id")?;
    let qs = queries(&lit(day_start), &lit(t1), &lit(hour), &trace_hex);

    let mut slod = Vec::new();
    let mut peak_rss_kib = 0;
    for q in &qs {
        simple_rows(&pg, &q.slod).await?;
        let mut seconds = Vec::new();
        let mut rows = Vec::new();
        for _ in 0..a.runs {
            let t = Instant::now();
            rows = simple_rows(&pg, &q.slod).await?;
            seconds.push(t.elapsed().as_secs_f64());
        }
        if let Some((_, hwm, _)) = proc_stats(daemon.pid) {
            peak_rss_kib = peak_rss_kib.max(hwm);
        }
        println!(
            "  slod   {:<22} {:>9.1} ms",
            q.name,
            median(seconds.clone()) * 1e3
        );
        slod.push((seconds, rows));
    }
    let paths: Vec<String> = files
        .iter()
        .map(|f| data.join(&f.path).to_string_lossy().into_owned())
        .collect();
    let duck = run_duckdb(&a.python, &paths, threads, a.runs, &qs)?;
    drop(daemon);

    let mut report = format!(
        "{rows} spans (one simulated day, `slod loadgen --scenario mixed`, 40 functions) in {} Parquet \
         files, {:.0} MiB; {threads} threads for both engines; median of {} runs after a warm-up. \
         slod through pgwire (tokio-postgres, simple protocol, every row fetched as text), \
         DuckDB {} in Python on the manifest's files (execute + fetchall). slod peak RSS {:.0} MiB.\n\n\
         | query | slod (pgwire) | DuckDB | slod / DuckDB | rows | answers |\n|---|---|---|---|---|---|\n",
        files.len(),
        bytes as f64 / (1 << 20) as f64,
        a.runs,
        duck.version,
        peak_rss_kib as f64 / 1024.0,
    );
    let mut all_agree = true;
    let mut within_target = true;
    for (q, (seconds, rows)) in qs.iter().zip(slod) {
        let d = duck
            .results
            .get(q.name)
            .with_context(|| format!("DuckDB gave no result for {}", q.name))?;
        let (s_ms, d_ms) = (median(seconds) * 1e3, median(d.seconds.clone()) * 1e3);
        let ratio = s_ms / d_ms;
        let agree = compare(&rows, &d.rows);
        if let Some(diff) = &agree {
            all_agree = false;
            eprintln!("{}: the answers differ: {diff}", q.name);
        }
        within_target &= ratio <= 1.5 && (q.name != "trace_by_id" || s_ms < 50.0);
        report.push_str(&format!(
            "| {} ({}) | {s_ms:.1} ms | {d_ms:.1} ms | {ratio:.2} | {} | {} |\n",
            q.name,
            q.what,
            rows.len(),
            if agree.is_none() { "same" } else { "DIFFER" }
        ));
    }
    report.push_str(&format!(
        "\nTarget (every query within 1.5x of DuckDB, trace by id under 50 ms): {}.\n",
        if within_target { "met" } else { "not met" }
    ));
    println!("\n{report}");
    if let Some(path) = &a.output {
        std::fs::write(path, &report).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if all_agree {
        ExitCode::SUCCESS
    } else {
        eprintln!("slod bench query: slod and DuckDB disagree (above): that is a bug");
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_compare_as_text_numbers_and_instants() {
        assert!(same_cell("checkout", "checkout"));
        assert!(!same_cell("checkout", "search"));
        assert!(same_cell("0.30000000000000004", "0.3"));
        assert!(same_cell("732390274.455869", "732390291.55"));
        assert!(!same_cell("0.31", "0.3"));
        assert!(!same_cell("732390274", "732391291"));
        assert!(same_cell("2026-11-23 00:05:00+00", "1795392300.0"));
        assert!(same_cell("2026-11-23 00:05:00.000001+00:00", "1795392300.000001"));
        assert!(!same_cell("2026-11-23 00:10:00+00", "1795392300.0"));
        assert!(same_cell("NULL", "NULL"));
        assert!(!same_cell("NULL", "0"));
    }

    #[test]
    fn answers_differ_on_rows_and_cells() {
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(compare(&[r(&["a", "1"])], &[r(&["a", "1.0"])]).is_none());
        assert!(compare(&[r(&["a", "1"])], &[]).is_some());
        assert!(compare(&[r(&["a", "1"])], &[r(&["a", "2"])]).is_some());
    }
}
