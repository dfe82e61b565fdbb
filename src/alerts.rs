//! `slod alerts` and `slod silence add|ls|rm`: the alerting API of a running slod from the
//! command line (as `amtool alert` and `amtool silence`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use slod_alerting::matcher::{MatchOp, Matcher};

#[derive(Debug, Args, Clone)]
pub(crate) struct Target {
    /// Base URL of slod's HTTP API.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        env = "SLOD_URL",
        global = true
    )]
    url: String,
    /// Bearer token, when the API requires one.
    #[arg(long, env = "SLOD_QUERY_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct AlertsArgs {
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Args)]
pub(crate) struct SilenceArgs {
    #[command(subcommand)]
    command: SilenceCommand,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Subcommand)]
enum SilenceCommand {
    /// Silence the alerts every matcher matches, e.g.
    /// `slod silence add 'slo="availability"' 'cloud_region=~"eu-.*"' --duration 2h --comment "provider outage"`.
    Add {
        /// Matchers: name="value", name!="value", name=~"regex", name!~"regex".
        #[arg(required = true)]
        matchers: Vec<String>,
        /// How long from now.
        #[arg(long, short = 'd', default_value = "1h")]
        duration: humantime::Duration,
        /// Why (required, as in Alertmanager).
        #[arg(long, short = 'c')]
        comment: String,
        /// Who (default: $USER).
        #[arg(long, short = 'a', env = "USER")]
        author: Option<String>,
    },
    /// List silences (active and pending; --all adds expired ones).
    Ls {
        #[arg(long)]
        all: bool,
    },
    /// Expire silences by id.
    Rm {
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

impl Target {
    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url.trim_end_matches('/'))
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = self.endpoint(path);
        let mut req = reqwest::Client::new()
            .request(method, &url)
            .timeout(Duration::from_secs(30));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.with_context(|| {
            format!("cannot reach slod at {url}: is `slod serve` running? set --url otherwise")
        })?;
        let status = resp.status();
        let v: Value = resp
            .json()
            .await
            .with_context(|| format!("{url} answered {status} without JSON"))?;
        if !status.is_success() {
            let msg = v["error"].as_str().unwrap_or("unknown error");
            anyhow::bail!("{msg}");
        }
        Ok(v["data"].clone())
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// Prints rows as aligned columns.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let out: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", out.join("  ").trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

fn labels_text(v: &Value, skip: &[&str]) -> String {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !skip.contains(&k.as_str()))
                .map(|(k, v)| format!("{k}={}", s(v)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

pub(crate) async fn alerts(args: AlertsArgs) -> Result<ExitCode> {
    let t = &args.target;
    let alerts = t.call(reqwest::Method::GET, "/api/v1/alerts", None).await?;
    let notifications = t
        .call(reqwest::Method::GET, "/api/v1/notifications", None)
        .await?;
    if t.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "alerts": alerts, "notifications": notifications }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = alerts
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            vec![
                s(&a["labels"]["alertname"]).to_string(),
                s(&a["labels"]["severity"]).to_string(),
                s(&a["status"]["state"]).to_string(),
                s(&a["startsAt"]).to_string(),
                labels_text(&a["labels"], &["alertname", "severity"]),
            ]
        })
        .collect();
    println!("ALERTS ({})", rows.len());
    table(&["ALERTNAME", "SEVERITY", "STATE", "SINCE", "LABELS"], &rows);
    let rows: Vec<Vec<String>> = notifications
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            vec![
                s(&n["createdAt"]).to_string(),
                s(&n["receiver"]).to_string(),
                s(&n["status"]).to_string(),
                n["attempts"].to_string(),
                format!("{} firing, {} resolved", n["firing"], n["resolved"]),
                n["lastError"].as_str().unwrap_or("-").to_string(),
                s(&n["groupKey"]).to_string(),
            ]
        })
        .collect();
    println!("\nNOTIFICATIONS ({}, newest first)", rows.len());
    table(
        &[
            "CREATED",
            "RECEIVER",
            "STATUS",
            "ATTEMPTS",
            "ALERTS",
            "LAST ERROR",
            "GROUP",
        ],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn silence(args: SilenceArgs) -> Result<ExitCode> {
    let t = &args.target;
    match args.command {
        SilenceCommand::Add {
            matchers,
            duration,
            comment,
            author,
        } => {
            let mut api = Vec::new();
            for m in &matchers {
                let m = Matcher::parse(m)?;
                let (is_regex, is_equal) = match m.op {
                    MatchOp::Equal => (false, true),
                    MatchOp::NotEqual => (false, false),
                    MatchOp::Regex => (true, true),
                    MatchOp::NotRegex => (true, false),
                };
                api.push(
                    json!({ "name": m.name, "value": m.value, "isRegex": is_regex, "isEqual": is_equal }),
                );
            }
            let ends = chrono::Utc::now()
                + chrono::Duration::from_std(*duration).context("--duration is too long")?;
            let body = json!({
                "matchers": api,
                "endsAt": ends.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "createdBy": author.unwrap_or_else(|| "slod-cli".into()),
                "comment": comment,
            });
            let data = t
                .call(reqwest::Method::POST, "/api/v1/silences", Some(body))
                .await?;
            println!("{}", s(&data["silenceID"]));
        }
        SilenceCommand::Ls { all } => {
            let data = t.call(reqwest::Method::GET, "/api/v1/silences", None).await?;
            let list: Vec<&Value> = data
                .as_array()
                .into_iter()
                .flatten()
                .filter(|x| all || s(&x["status"]["state"]) != "expired")
                .collect();
            if t.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|x| {
                    let matchers: Vec<String> = x["matchers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|m| {
                            let op = match (m["isRegex"].as_bool(), m["isEqual"].as_bool()) {
                                (Some(false), Some(false)) => "!=",
                                (Some(true), Some(true)) => "=~",
                                (Some(true), Some(false)) => "!~",
                                _ => "=",
                            };
                            format!("{}{op}{:?}", s(&m["name"]), s(&m["value"]))
                        })
                        .collect();
                    vec![
                        s(&x["id"]).to_string(),
                        s(&x["status"]["state"]).to_string(),
                        matchers.join(","),
                        s(&x["endsAt"]).to_string(),
                        s(&x["createdBy"]).to_string(),
                        s(&x["comment"]).to_string(),
                    ]
                })
                .collect();
            table(
                &["ID", "STATE", "MATCHERS", "ENDS AT", "CREATED BY", "COMMENT"],
                &rows,
            );
        }
        SilenceCommand::Rm { ids } => {
            for id in ids {
                t.call(reqwest::Method::DELETE, &format!("/api/v1/silences/{id}"), None)
                    .await?;
                println!("expired {id}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
