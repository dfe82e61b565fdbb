//! The `slod` binary: CLI, config loading, wiring and shutdown.

mod bench;
mod config;
mod loadgen;
mod query;
mod serve;

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
    /// Run the daemon: OTLP receivers, storage, the HTTP API and the PostgreSQL wire server.
    Serve(ServeArgs),
    /// Run one SQL query against a running slod and print the result.
    Query(query::QueryArgs),
    /// Validate a config file and report every problem (exit 2 when invalid).
    Check(CheckArgs),
    /// Send realistic serverless telemetry (live or backfilled) to an OTLP endpoint.
    Loadgen(loadgen::LoadgenArgs),
    /// Benchmarks (`slod bench ingest`).
    Bench(bench::BenchArgs),
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
    /// Config files to check (default: ./slod.yaml when it exists).
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
        Command::Query(args) => runtime()?.block_on(query::run(args)),
        Command::Check(args) => Ok(check(args)),
        Command::Loadgen(args) => runtime()?.block_on(loadgen::run(args)),
        Command::Bench(args) => runtime()?.block_on(bench::run(args)),
    }
}

fn check(args: CheckArgs) -> ExitCode {
    let files = if args.files.is_empty() {
        vec![PathBuf::from("slod.yaml")]
    } else {
        args.files
    };
    let mut ok = true;
    for f in &files {
        let problems = match config::Config::load(f) {
            Ok(c) => c.validate().err().unwrap_or_default(),
            Err(e) => vec![format!("{e:#}")],
        };
        if problems.is_empty() {
            println!("{}: ok", f.display());
        } else {
            ok = false;
            for p in problems {
                println!("{}: {p}", f.display());
            }
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::from(2) }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SLOD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
