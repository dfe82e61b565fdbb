//! `slod query "SQL"`: runs a query through a running slod's HTTP API and prints it.

use std::process::ExitCode;

use anyhow::{Context, Result};
use arrow::ipc::reader::StreamReader;
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// The SQL statement (read-only: SELECT, EXPLAIN, SHOW, DESCRIBE).
    sql: String,
    /// Base URL of slod's HTTP API.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "SLOD_URL")]
    url: String,
    /// Output format.
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "json", "ndjson"])]
    format: String,
    /// Bearer token, when the API requires one.
    #[arg(long, env = "SLOD_QUERY_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

pub(crate) async fn run(args: QueryArgs) -> Result<ExitCode> {
    let accept = match args.format.as_str() {
        "table" => "application/vnd.apache.arrow.stream",
        "csv" => "text/csv",
        "ndjson" => "application/x-ndjson",
        _ => "application/json",
    };
    let url = format!("{}/api/v1/sql", args.url.trim_end_matches('/'));
    let mut req = reqwest::Client::new()
        .post(&url)
        .header("accept", accept)
        .body(args.sql.clone());
    if let Some(t) = &args.token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.with_context(|| {
        format!("cannot reach slod at {url}: is `slod serve` running? set --url otherwise")
    })?;
    let status = resp.status();
    let body = resp.bytes().await?;
    if !status.is_success() {
        let msg = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        eprintln!("slod: {msg}");
        return Ok(ExitCode::from(1));
    }
    if args.format == "table" {
        let reader = StreamReader::try_new(std::io::Cursor::new(body), None)?;
        let batches = reader.collect::<Result<Vec<_>, _>>()?;
        println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        eprintln!("({rows} row{})", if rows == 1 { "" } else { "s" });
    } else {
        use std::io::Write;
        std::io::stdout().write_all(&body)?;
    }
    Ok(ExitCode::SUCCESS)
}
