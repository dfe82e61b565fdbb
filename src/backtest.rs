//! `slod backtest`: replay an SLO file's alert policy over recorded per-minute events, or
//! (`--from-store`) over the telemetry in a data directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use slod_slo::backtest::{self, Period};
use slod_slo::burn::Guard;
use slod_slo::policy::Policy;
use slod_slo::spec;

#[derive(Debug, Args)]
pub(crate) struct BacktestArgs {
    /// SLO file (native or OpenSLO v1); every SLO in it is replayed over the same events.
    #[arg(long)]
    slo: PathBuf,
    /// CSV with header `minute,good,total`: RFC 3339 UTC minutes and event counts.
    #[arg(long, required_unless_present = "from_store", conflicts_with = "from_store")]
    input: Option<PathBuf>,
    /// Replay over the telemetry stored in a data directory instead of a CSV: every instance
    /// of every SLO in the file (one per function, workflow or queue its selector matches),
    /// counted by the daemon's own SLI code from the committed Parquet files. Safe while a
    /// daemon runs on the directory (nothing is written); rows still only in its WAL are not
    /// read.
    #[arg(long)]
    from_store: bool,
    /// With --from-store: the config file giving `storage.data_dir`, `functions:` (timeouts,
    /// latency thresholds) and the `slo:` policy and low-traffic guard. Default: built-in
    /// defaults.
    #[arg(long, requires = "from_store")]
    config: Option<PathBuf>,
    /// With --from-store: the data directory (overrides the config's `storage.data_dir`).
    #[arg(long, requires = "from_store")]
    data_dir: Option<PathBuf>,
    /// With --from-store: start of the replay, RFC 3339 (default: the longest SLO window
    /// before --to). Windows fill from here: nothing earlier is read.
    #[arg(long, requires = "from_store", value_parser = parse_time)]
    from: Option<i64>,
    /// With --from-store: end of the replay, RFC 3339 (default: now).
    #[arg(long, requires = "from_store", value_parser = parse_time)]
    to: Option<i64>,
    /// Evaluation interval (a whole number of minutes).
    #[arg(long, default_value = "1m", value_parser = parse_step)]
    step: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

fn parse_step(v: &str) -> Result<Duration, String> {
    slod_slo::duration::parse(v)
        .filter(|d| !d.is_zero() && d.as_secs() % 60 == 0)
        .ok_or_else(|| format!("{v:?} is not a whole number of minutes (e.g. 1m, 5m)"))
}

fn parse_time(v: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp())
        .map_err(|e| format!("{v:?} is not an RFC 3339 time such as 2026-11-24T08:00:00Z: {e}"))
}

pub(crate) fn run(args: BacktestArgs) -> Result<ExitCode> {
    let periods = match &args.input {
        Some(input) => replay(&args.slo, input, args.step)?,
        None => crate::runtime()?.block_on(replay_store(&args))?,
    };
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&periods)?),
        Format::Table => print!("{}", backtest::table(&periods)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads the SLO file and the events and replays every SLO; the CLI prints the result.
pub(crate) fn replay(slo_file: &Path, input: &Path, step: Duration) -> Result<Vec<Period>> {
    let slos = load_slos(slo_file)?;
    let csv = std::fs::read_to_string(input).with_context(|| format!("cannot read {}", input.display()))?;
    let events = backtest::read_csv(&csv).map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
    let policy = Policy::default();
    Ok(slos
        .iter()
        .flat_map(|s| backtest::run(s, &policy, Guard::default(), &events, step))
        .collect())
}

/// `--from-store`: counts every SLO instance's minutes from the committed Parquet files of
/// the data directory and replays each, labelled with its instance.
async fn replay_store(args: &BacktestArgs) -> Result<Vec<Period>> {
    let slos = load_slos(&args.slo)?;
    let mut config = match &args.config {
        Some(path) => crate::config::Config::load(path)?,
        None => crate::config::Config::default(),
    };
    if let Some(d) = &args.data_dir {
        config.storage.data_dir = d.clone();
    }
    let settings = config
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid config (run `slod check`):\n{}", e.join("\n")))?;
    let data_dir = settings.storage.data_dir.clone();
    let files = slod_storage::Storage::committed_files(&data_dir)
        .with_context(|| format!("cannot read the manifest of {}", data_dir.display()))?;
    if files.is_empty() {
        bail!(
            "{} holds no flushed telemetry (its manifest lists no Parquet file): point --data-dir \
             at a slod data directory; rows still in the WAL are read once the daemon flushes them",
            data_dir.display()
        );
    }
    let to = args.to.unwrap_or_else(|| chrono::Utc::now().timestamp());
    let longest = slos
        .iter()
        .map(|s| s.window.period().as_secs() as i64)
        .max()
        .unwrap_or(30 * 86_400);
    let from = args.from.unwrap_or(to - longest);
    if from >= to {
        bail!("--from must be before --to");
    }
    let ctx = store_context(&data_dir, &files, &settings.catalogue)?;
    let rollups = slod_slo::rollup::Rollups::new(slos.clone());
    let counts = rollups
        .minute_counts(&ctx, from, to)
        .await
        .context("cannot count the SLIs from the store")?;
    let eval = &settings.slo.eval;
    let mut out = Vec::new();
    for (key, events) in counts {
        let Some(spec) = slos.iter().find(|s| s.name == key.slo) else {
            continue;
        };
        for mut p in backtest::run(spec, &eval.policy, eval.guard, &events, args.step) {
            p.labels = key.labels.clone();
            out.push(p);
        }
    }
    Ok(out)
}

/// A query context over the committed Parquet files (one listing table per storage table,
/// empty where a table has no file) with the signal catalogue on top.
fn store_context(
    data_dir: &Path,
    files: &[slod_storage::FileMeta],
    catalogue: &slod_slo::catalogue::CatalogueSettings,
) -> Result<datafusion::prelude::SessionContext> {
    use std::sync::Arc;

    use datafusion::datasource::MemTable;
    use datafusion::datasource::file_format::parquet::ParquetFormat;
    use datafusion::datasource::listing::{
        ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
    };
    use datafusion::prelude::{SessionConfig, SessionContext};
    use slod_storage::Table;

    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema("slod", "public");
    let ctx = SessionContext::new_with_config(config);
    let root = std::path::absolute(data_dir)?;
    for table in Table::ALL {
        let urls = files
            .iter()
            .filter(|f| f.table == table)
            .map(|f| {
                let path = root.join(&f.path);
                ListingTableUrl::parse(path.to_string_lossy())
                    .with_context(|| format!("bad file path {}", path.display()))
            })
            .collect::<Result<Vec<_>>>()?;
        if urls.is_empty() {
            let empty = MemTable::try_new(table.schema(), vec![vec![]])?;
            ctx.register_table(table.name(), Arc::new(empty))?;
            continue;
        }
        let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let listing = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(table.schema());
        ctx.register_table(table.name(), Arc::new(ListingTable::try_new(listing)?))?;
    }
    slod_slo::catalogue::register_catalogue(&ctx, catalogue)?;
    Ok(ctx)
}

/// Parses an SLO file; every problem is reported with a pointer to `slod check`.
fn load_slos(slo_file: &Path) -> Result<Vec<slod_slo::spec::SloSpec>> {
    let text = std::fs::read_to_string(slo_file)
        .with_context(|| format!("cannot read SLO file {}", slo_file.display()))?;
    let (slos, errors) = spec::parse_file(&slo_file.display().to_string(), &text);
    if !errors.is_empty() {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        bail!(
            "invalid SLO file (run `slod check {}`):\n{}",
            slo_file.display(),
            all.join("\n")
        );
    }
    if slos.is_empty() {
        bail!("{} defines no SLO", slo_file.display());
    }
    Ok(slos)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented examples (docs/slo.md): each replay's JSON is a reviewed snapshot in
    /// `config/backtest/expected/`.
    #[test]
    fn backtest_examples_match_their_snapshots() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/backtest");
        for name in ["sharp-outage", "slow-burn", "low-traffic", "recovery"] {
            let periods = replay(
                &dir.join("slo.yaml"),
                &dir.join(format!("{name}.csv")),
                Duration::from_secs(60),
            )
            .unwrap();
            insta::with_settings!({snapshot_path => dir.join("expected"), prepend_module_to_snapshot => false}, {
                insta::assert_json_snapshot!(name, periods);
            });
        }
    }

    #[test]
    fn bad_inputs_say_what_to_fix() {
        let dir = tempfile::tempdir().unwrap();
        let slo = dir.path().join("slo.yaml");
        std::fs::write(
            &slo,
            "slos:\n  - name: a\n    sli: availability\n    objective: 0.99\n",
        )
        .unwrap();
        let cases = [
            ("", "the file is empty"),
            ("time,ok,all\n", "header is"),
            (
                "minute,good,total\n2026-01-01T00:00:00Z,5\n",
                "line 2: expected 3 columns",
            ),
            (
                "minute,good,total\nyesterday,1,2\n",
                "line 2: \"yesterday\" is not an RFC 3339 time",
            ),
            (
                "minute,good,total\n2026-01-01T00:00:30Z,1,2\n",
                "not the start of a minute",
            ),
            (
                "minute,good,total\n2026-01-01T00:00:00Z,3,2\n",
                "good (3) exceeds total (2)",
            ),
            (
                "minute,good,total\n2026-01-01T00:00:00Z,-1,2\n",
                "good \"-1\" is not a non-negative number",
            ),
            (
                "minute,good,total\n2026-01-01T00:00:00Z,1,2\n2026-01-01T00:00:00Z,1,2\n",
                "appears twice",
            ),
        ];
        for (csv, want) in cases {
            let input = dir.path().join("events.csv");
            std::fs::write(&input, csv).unwrap();
            let err = format!("{:#}", replay(&slo, &input, Duration::from_secs(60)).unwrap_err());
            assert!(err.contains(want), "{csv:?}: {err}");
        }
        std::fs::write(&slo, "slos:\n  - name: a\n    sli: availabilty\n").unwrap();
        let err = format!(
            "{:#}",
            replay(&slo, &dir.path().join("events.csv"), Duration::from_secs(60)).unwrap_err()
        );
        assert!(
            err.contains("unknown SLI kind \"availabilty\"") && err.contains("slod check"),
            "{err}"
        );
        assert!(parse_step("90s").is_err() && parse_step("5m").is_ok());
    }
}
