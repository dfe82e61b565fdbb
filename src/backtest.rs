//! `slod backtest`: replay an SLO file's alert policy over recorded per-minute events.

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
    #[arg(long)]
    input: PathBuf,
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

pub(crate) fn run(args: BacktestArgs) -> Result<ExitCode> {
    let periods = replay(&args.slo, &args.input, args.step)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&periods)?),
        Format::Table => print!("{}", backtest::table(&periods)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads the SLO file and the events and replays every SLO; the CLI prints the result.
pub(crate) fn replay(slo_file: &Path, input: &Path, step: Duration) -> Result<Vec<Period>> {
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
    let csv = std::fs::read_to_string(input).with_context(|| format!("cannot read {}", input.display()))?;
    let events = backtest::read_csv(&csv).map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
    let policy = Policy::default();
    Ok(slos
        .iter()
        .flat_map(|s| backtest::run(s, &policy, Guard::default(), &events, step))
        .collect())
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
