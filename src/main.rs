//! The `slod` binary: CLI, config loading, wiring and shutdown.

mod alerts;
mod backtest;
mod bench;
mod check;
mod config;
mod demo;
mod loadgen;
mod query;
mod serve;
mod slo;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// slod — an observability and SLO daemon for serverless OpenTelemetry.
///
/// Point OTLP exporters at it (gRPC :4317, HTTP :4318), query with SQL (HTTP :8080,
/// PostgreSQL wire :5433).
#[derive(Debug, Parser)]
#[command(name = "slod", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// See the whole product at work: slod with default SLOs on a temporary data directory, a
    /// day of realistic serverless history, live traffic with an incident every 3 minutes,
    /// the SLO table and alerts as they fire and resolve.
    Demo(demo::DemoArgs),
    /// Run the daemon: OTLP receivers, storage, the HTTP API and the PostgreSQL wire server.
    Serve(ServeArgs),
    /// Run one SQL query against a running slod and print the result.
    Query(query::QueryArgs),
    /// Validate config and SLO files (native or OpenSLO), reporting every problem with
    /// file:line and a hint (exit 0 when valid, 2 when not). A config's slo.files are checked too.
    Check(CheckArgs),
    /// Send realistic serverless telemetry (live or backfilled) to an OTLP endpoint.
    Loadgen(loadgen::LoadgenArgs),
    /// Benchmarks (`slod bench ingest`).
    Bench(bench::BenchArgs),
    /// Replay an SLO's alert policy over recorded per-minute events (no server needed).
    Backtest(backtest::BacktestArgs),
    /// Show a running slod's alerts (firing, suppressed, resolving) and recent notifications
    /// with their delivery status.
    Alerts(alerts::AlertsArgs),
    /// Add, list and expire silences of a running slod.
    Silence(alerts::SilenceArgs),
}

#[derive(Debug, Args, Clone, Default)]
pub(crate) struct ServeArgs {
    /// Config file (slod.yaml). Without it slod runs with the documented defaults.
    #[arg(long, short = 'c', env = "SLOD_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (WAL, Parquet, manifest); overrides storage.data_dir.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// OTLP/gRPC listen address; overrides server.otlp_grpc_addr.
    #[arg(long)]
    otlp_grpc_addr: Option<SocketAddr>,
    /// OTLP/HTTP listen address; overrides server.otlp_http_addr.
    #[arg(long)]
    otlp_http_addr: Option<SocketAddr>,
    /// HTTP API listen address; overrides server.http_addr.
    #[arg(long)]
    http_addr: Option<SocketAddr>,
    /// PostgreSQL wire listen address; overrides server.pg_addr.
    #[arg(long)]
    pg_addr: Option<SocketAddr>,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Config or SLO files to check (default: ./slod.yaml).
    files: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("slod: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            init_logging();
            let settings = match serve::settings(&args) {
                Ok(s) => s,
                Err(errors) => {
                    for e in errors {
                        eprintln!("slod: invalid config: {e}");
                    }
                    return Ok(ExitCode::from(2));
                }
            };
            runtime()?.block_on(serve::serve(settings))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => {
            init_logging_default("warn");
            runtime()?.block_on(demo::run(args))
        }
        Command::Query(args) => runtime()?.block_on(query::run(args)),
        Command::Check(args) => Ok(check::run(args.files)),
        Command::Loadgen(args) => runtime()?.block_on(loadgen::run(args)),
        Command::Bench(args) => runtime()?.block_on(bench::run(args)),
        Command::Backtest(args) => backtest::run(args),
        Command::Alerts(args) => runtime()?.block_on(alerts::alerts(args)),
        Command::Silence(args) => runtime()?.block_on(alerts::silence(args)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn init_logging() {
    init_logging_default("info");
}

/// Logs to stderr at `default` level, or as `SLOD_LOG` says.
fn init_logging_default(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SLOD_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
