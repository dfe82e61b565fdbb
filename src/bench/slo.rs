//! `slod bench slo`: one evaluation tick of N SLOs with 30 days of rollups behind each, warm
//! (rollups in memory) and cold (rollups read back from the Parquet snapshot first).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use slod_slo::burn::Counts;
use slod_slo::evaluator::{EvalSettings, Evaluator};
use slod_slo::rollup::{MINUTE_TIER, SeriesKey, TieredSeries, persist};
use slod_slo::spec::parse_file;

#[derive(Debug, Args)]
pub(crate) struct SloArgs {
    /// SLOs (one instance each).
    #[arg(long, default_value_t = 1000)]
    pub(super) slos: usize,
    /// Days of rollups behind each SLO.
    #[arg(long, default_value_t = 30)]
    pub(super) days: i64,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub(super) runs: usize,
    /// Write the report (Markdown) here as well as printing it.
    #[arg(long)]
    pub(super) output: Option<std::path::PathBuf>,
    /// Days of raw invocations (1,000 a minute) the raw-scan baseline scans for one SLO.
    #[arg(long, default_value_t = 7)]
    pub(super) raw_days: i64,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn run(a: SloArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        a.slos > 0 && a.runs > 0 && a.days > 0,
        "--slos, --days and --runs must be positive"
    );
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as i64;
    let now = now_ns / 1_000_000_000 / 60 * 60;
    let mut yaml = String::from("slos:\n");
    for i in 0..a.slos {
        yaml.push_str(&format!(
            "  - {{ name: bench-{i}, sli: availability, objective: 0.999, window: {}d, selector: {{ faas_name: fn-{i} }} }}\n",
            a.days
        ));
    }
    let (specs, errors) = parse_file("bench.yaml", &yaml);
    anyhow::ensure!(errors.is_empty(), "{errors:?}");
    println!(
        "slod bench slo: {} SLOs × (minute tier {} h + hour tier {} d) of rollups, default policy (1h/5m, 6h/30m, 3d/6h)",
        a.slos,
        MINUTE_TIER / 3600,
        a.days
    );

    // Synthetic rollups: 1,000 requests a minute, a few failures, every minute and hour filled.
    let build = Instant::now();
    let mut evaluator = Evaluator::new(specs, EvalSettings::default());
    let floor = (now - MINUTE_TIER) / 3600 * 3600;
    let mut rows = 0usize;
    for i in 0..a.slos {
        let minutes: Vec<(i64, Counts)> = (0..(now - floor) / 60)
            .map(|k| {
                let bad = ((k as usize + i) % 7) as f64 * 0.1;
                (
                    floor + k * 60,
                    Counts {
                        good: 1000.0 - bad,
                        total: 1000.0,
                    },
                )
            })
            .collect();
        let hours: Vec<(i64, Counts)> = (0..a.days * 24 + 1)
            .map(|h| {
                let t = (now / 3600 - h) * 3600;
                (
                    t,
                    Counts {
                        good: 59_982.0,
                        total: 60_000.0,
                    },
                )
            })
            .collect();
        rows += minutes.len() + hours.len();
        let key = SeriesKey {
            slo: format!("bench-{i}"),
            labels: BTreeMap::from([("faas_name".to_string(), format!("fn-{i}"))]),
        };
        evaluator
            .rollups
            .insert(key, TieredSeries::restore(minutes, hours, floor));
    }
    println!("built {rows} rollup rows in {:.0} ms", ms(build.elapsed()));

    // Warm: evaluate from memory.
    let mut warm = Vec::new();
    let mut firing = 0;
    for _ in 0..a.runs {
        let t = Instant::now();
        let out = evaluator.evaluate(now_ns);
        warm.push(t.elapsed());
        firing = out.conditions.len();
        anyhow::ensure!(out.statuses.len() == a.slos, "one status per SLO");
    }
    let warm = median(warm);

    // Baseline: the same windows from raw invocations, for one SLO instance.
    let windows: Vec<i64> = [3600, 300, 21_600, 1800, 259_200]
        .into_iter()
        .filter(|w| *w <= a.raw_days * 86_400)
        .collect();
    let (raw, raw_rows) = raw_scan(now, a.raw_days, a.runs, &windows)?;

    // Cold: snapshot to Parquet, then load it into a fresh evaluator and evaluate.
    let dir = tempfile::tempdir()?;
    let t = Instant::now();
    persist::save(&evaluator.rollups, dir.path())?;
    let save = t.elapsed();
    let size = std::fs::metadata(dir.path().join("sli_rollup.parquet"))?.len();
    let specs: Vec<_> = evaluator.rollups.slos().cloned().collect();
    let mut cold_load = Vec::new();
    let mut cold_eval = Vec::new();
    for _ in 0..a.runs {
        let mut fresh = Evaluator::new(specs.clone(), EvalSettings::default());
        let t = Instant::now();
        persist::load(&mut fresh.rollups, dir.path())?;
        cold_load.push(t.elapsed());
        anyhow::ensure!(fresh.rollups.series().len() == a.slos, "snapshot lost series");
        let t = Instant::now();
        fresh.evaluate(now_ns);
        cold_eval.push(t.elapsed());
    }
    let (load, eval) = (median(cold_load), median(cold_eval));

    let per_slo_us = ms(warm) * 1e3 / a.slos as f64;
    let mut report = String::new();
    report.push_str("| measure | value |\n|---|---|\n");
    report.push_str(&format!(
        "| warm tick, {} SLOs (all windows, budgets, states) | {:.1} ms ({per_slo_us:.1} µs per SLO) |\n",
        a.slos,
        ms(warm)
    ));
    report.push_str(&format!(
        "| cold tick: read snapshot ({:.1} MB Parquet, {rows} rows) + evaluate | {:.1} ms + {:.1} ms = {:.1} ms |\n",
        size as f64 / 1e6,
        ms(load),
        ms(eval),
        ms(load + eval)
    ));
    report.push_str(&format!("| snapshot write | {:.1} ms |\n", ms(save)));
    report.push_str(&format!(
        "| baseline: one SLO instance's windows and budget by scanning its raw invocations ({:.1} M rows, {} d, in memory, 2 threads) | {:.1} ms — {:.0}× the {per_slo_us:.1} µs from rollups |\n",
        raw_rows as f64 / 1e6,
        a.raw_days,
        ms(raw),
        ms(raw) * 1e3 / per_slo_us.max(1e-9)
    ));
    report.push_str(&format!(
        "| target: warm tick ≤ 1 s | {} ({:.0}× under) |\n",
        if warm <= Duration::from_secs(1) {
            "met"
        } else {
            "NOT met"
        },
        1000.0 / ms(warm).max(1e-9)
    ));
    report.push_str(&format!(
        "| conditions at the last tick | {firing} (expected 0: the synthetic SLIs are within budget) |\n"
    ));
    println!("\n{report}");
    if let Some(path) = &a.output {
        std::fs::write(path, &report)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The raw-scan baseline: one SLO instance's windows computed by scanning its raw invocations
/// (`days` of them at the synthetic rollups' rate, 1,000 a minute) with DataFusion, from
/// memory (best case: no Parquet decoding, no I/O). Returns the median time and the rows.
fn raw_scan(now: i64, days: i64, runs: usize, windows: &[i64]) -> Result<(Duration, usize)> {
    use std::sync::Arc;

    use datafusion::arrow::array::{BooleanArray, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    let per_minute = 1000i64;
    let minutes = days * 1440;
    let schema = Arc::new(Schema::new(vec![
        Field::new("time", DataType::Int64, false),
        Field::new("is_error", DataType::Boolean, false),
    ]));
    let mut batches = Vec::new();
    let (mut times, mut errors) = (Vec::new(), Vec::new());
    for m in 0..minutes {
        let t0 = now - (minutes - m) * 60;
        for k in 0..per_minute {
            times.push(t0 + k * 60 / per_minute);
            errors.push(k < (m % 7) / 5);
        }
        if times.len() >= 1 << 20 || m + 1 == minutes {
            batches.push(RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(std::mem::take(&mut times))),
                    Arc::new(BooleanArray::from(std::mem::take(&mut errors))),
                ],
            )?);
        }
    }
    let rows = (minutes * per_minute) as usize;
    let mut cols: Vec<String> = windows
        .iter()
        .map(|w| {
            format!(
                "sum(CASE WHEN time >= {from} THEN 1 ELSE 0 END) AS total_{w}, \
                 sum(CASE WHEN time >= {from} AND is_error THEN 1 ELSE 0 END) AS bad_{w}",
                from = now - w
            )
        })
        .collect();
    cols.push("count(*) AS total, sum(CASE WHEN is_error THEN 1 ELSE 0 END) AS bad".into());
    let sql = format!(
        "SELECT {} FROM invocations WHERE time >= {} AND time < {now}",
        cols.join(", "),
        now - days * 86_400
    );
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(async {
                let ctx = SessionContext::new();
                ctx.register_table("invocations", Arc::new(MemTable::try_new(schema, vec![batches])?))?;
                let mut times = Vec::new();
                for _ in 0..runs {
                    let t = Instant::now();
                    let out = ctx.sql(&sql).await?.collect().await?;
                    times.push(t.elapsed());
                    anyhow::ensure!(out.first().map_or(0, |b| b.num_rows()) == 1, "one row");
                }
                Ok((median(times), rows))
            })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the raw-scan baseline panicked"))?
    })
}
