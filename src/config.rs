//! `slod.yaml`: one file, one schema (DESIGN §8). Parse (serde, unknown keys refused) →
//! `validate()` (all errors, each with its key path) → runtime values.
//!
//! Sections whose issues have not landed yet (`slo`, `alerting`) are accepted as written and
//! reported as not yet in effect, so a complete example config already loads.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    pub(crate) server: ServerConfig,
    pub(crate) storage: StorageConfig,
    pub(crate) limits: LimitsConfig,
    pub(crate) telemetry: TelemetryConfig,
    pub(crate) functions: std::collections::BTreeMap<String, FunctionConfig>,
    pub(crate) pricing: PricingConfig,
    pub(crate) pg: PgConfig,
    pub(crate) query: QueryConfig,
    pub(crate) slo: Option<serde_yaml::Value>,
    pub(crate) alerting: Option<serde_yaml::Value>,
}

impl Default for Config {
    fn default() -> Self {
        // The documented per-function defaults (DESIGN §8); a config file's `functions:`
        // section replaces them.
        let star = FunctionConfig {
            timeout: Some("30s".into()),
            latency_threshold: Some("1s".into()),
            dlq_queues: Vec::new(),
        };
        Config {
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
            limits: LimitsConfig::default(),
            telemetry: TelemetryConfig::default(),
            functions: [("*".to_string(), star)].into(),
            pricing: PricingConfig::default(),
            pg: PgConfig::default(),
            query: QueryConfig::default(),
            slo: None,
            alerting: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerConfig {
    pub(crate) otlp_grpc_addr: String,
    pub(crate) otlp_http_addr: String,
    pub(crate) http_addr: String,
    pub(crate) pg_addr: String,
    pub(crate) ingest_token_env: String,
    pub(crate) query_token_env: String,
    pub(crate) pg_password_env: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            otlp_grpc_addr: "127.0.0.1:4317".into(),
            otlp_http_addr: "127.0.0.1:4318".into(),
            http_addr: "127.0.0.1:8080".into(),
            pg_addr: "127.0.0.1:5433".into(),
            ingest_token_env: "SLOD_INGEST_TOKEN".into(),
            query_token_env: "SLOD_QUERY_TOKEN".into(),
            pg_password_env: "SLOD_PG_PASSWORD".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StorageConfig {
    pub(crate) data_dir: PathBuf,
    /// `null` = the local file system; object storage arrives with the scale-out work.
    pub(crate) url: Option<String>,
    /// Age after which whole hour partitions are dropped; `null` keeps everything.
    pub(crate) retention: Option<String>,
    pub(crate) flush_max_size: String,
    pub(crate) flush_interval: String,
    pub(crate) wal_group_commit: String,
    pub(crate) compaction_min_files: usize,
    /// How often compaction and retention run (also once at start).
    pub(crate) maintenance_interval: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./data"),
            url: None,
            retention: Some("30d".into()),
            flush_max_size: "64MiB".into(),
            flush_interval: "60s".into(),
            wal_group_commit: "2ms".into(),
            compaction_min_files: 4,
            maintenance_interval: "10s".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LimitsConfig {
    pub(crate) max_request_size: String,
    pub(crate) max_buffered: String,
    pub(crate) query_timeout: String,
    pub(crate) query_memory: String,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_request_size: "64MiB".into(),
            max_buffered: "512MiB".into(),
            query_timeout: "30s".into(),
            query_memory: "1GiB".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TelemetryConfig {
    /// Queue names that are dead-letter queues beyond the `(?i)(dlq|dead[-_.]?letter)` rule.
    pub(crate) dlq_queues: Vec<String>,
    /// Extra span attribute keys that carry a workflow execution id.
    pub(crate) workflow_keys: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FunctionConfig {
    pub(crate) timeout: Option<String>,
    pub(crate) latency_threshold: Option<String>,
    pub(crate) dlq_queues: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PricingConfig {
    pub(crate) gb_second: f64,
    pub(crate) request: f64,
    pub(crate) state_transition: f64,
}

impl Default for PricingConfig {
    fn default() -> Self {
        // Public AWS list prices (x86, us-east-1).
        PricingConfig {
            gb_second: 0.0000166667,
            request: 0.0000002,
            state_transition: 0.000025,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PgConfig {
    pub(crate) tls_cert: Option<PathBuf>,
    pub(crate) tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct QueryConfig {
    pub(crate) engine: String,
    pub(crate) scheduler_url: Option<String>,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            engine: "embedded".into(),
            scheduler_url: None,
        }
    }
}

/// Validated runtime settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) otlp_grpc_addr: SocketAddr,
    pub(crate) otlp_http_addr: SocketAddr,
    pub(crate) http_addr: SocketAddr,
    pub(crate) pg_addr: SocketAddr,
    /// Password pgwire clients must send (from the variable named by `server.pg_password_env`).
    pub(crate) pg_password: Option<String>,
    /// `pg.tls_cert` and `pg.tls_key`, when both are set.
    pub(crate) pg_tls: Option<(PathBuf, PathBuf)>,
    pub(crate) storage: slod_storage::StorageOptions,
    pub(crate) max_request_bytes: usize,
    pub(crate) query_timeout: Duration,
    pub(crate) query_memory_bytes: usize,
    pub(crate) ingest_token: Option<String>,
    pub(crate) query_token: Option<String>,
}

impl Config {
    /// Reads and parses a config file; parse errors carry the file and line.
    pub(crate) fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Config::parse(&text, &path.display().to_string())
    }

    pub(crate) fn parse(text: &str, origin: &str) -> Result<Config> {
        serde_yaml::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            anyhow::anyhow!("{origin}{at}: {e}")
        })
    }

    /// Checks every value, collecting all problems, and builds the runtime settings.
    pub(crate) fn validate(&self) -> Result<Settings, Vec<String>> {
        let mut errors = Vec::new();
        let addr = |key: &str, v: &str, errors: &mut Vec<String>| -> Option<SocketAddr> {
            v.parse()
                .map_err(|_| {
                    errors.push(format!(
                        "{key}: {v:?} is not an address: write ip:port, e.g. 127.0.0.1:4317 (host names are not resolved)"
                    ))
                })
                .ok()
        };
        let s = &self.server;
        let grpc = addr("server.otlp_grpc_addr", &s.otlp_grpc_addr, &mut errors);
        let http = addr("server.otlp_http_addr", &s.otlp_http_addr, &mut errors);
        let api = addr("server.http_addr", &s.http_addr, &mut errors);
        let pg = addr("server.pg_addr", &s.pg_addr, &mut errors);
        let pg_tls = match (&self.pg.tls_cert, &self.pg.tls_key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => None,
            _ => {
                errors.push(
                    "pg: tls_cert and tls_key go together: set both (PEM files) to serve TLS, or neither"
                        .into(),
                );
                None
            }
        };
        let flush_max = size(
            "storage.flush_max_size",
            &self.storage.flush_max_size,
            &mut errors,
        );
        let flush_interval = duration(
            "storage.flush_interval",
            &self.storage.flush_interval,
            &mut errors,
        );
        let group_commit = duration(
            "storage.wal_group_commit",
            &self.storage.wal_group_commit,
            &mut errors,
        );
        let maintenance = duration(
            "storage.maintenance_interval",
            &self.storage.maintenance_interval,
            &mut errors,
        );
        let retention = self
            .storage
            .retention
            .as_ref()
            .and_then(|r| duration("storage.retention", r, &mut errors));
        if retention.is_some_and(|r| r < Duration::from_secs(3600)) {
            errors.push(format!(
                "storage.retention: {:?} would drop data as it arrives: use at least 1h (e.g. 30d), or null to keep everything",
                self.storage.retention.as_deref().unwrap_or_default()
            ));
        }
        let max_request = size(
            "limits.max_request_size",
            &self.limits.max_request_size,
            &mut errors,
        );
        let max_buffered = size("limits.max_buffered", &self.limits.max_buffered, &mut errors);
        let query_timeout = duration("limits.query_timeout", &self.limits.query_timeout, &mut errors);
        let query_memory = size("limits.query_memory", &self.limits.query_memory, &mut errors);
        if self.storage.url.is_some() {
            errors.push(
                "storage.url: object storage is not supported yet; remove the key to use storage.data_dir"
                    .into(),
            );
        }
        if self.query.engine != "embedded" {
            errors.push(format!(
                "query.engine: {:?} is not supported yet; use embedded",
                self.query.engine
            ));
        }
        if self.storage.compaction_min_files < 2 {
            errors.push("storage.compaction_min_files: must be at least 2".into());
        }
        if let (Some(f), Some(b)) = (flush_max, max_buffered)
            && f > b / 2
        {
            errors.push(format!(
                "storage.flush_max_size: {} must be at most half of limits.max_buffered ({}), or ingest would stall before a flush starts",
                self.storage.flush_max_size, self.limits.max_buffered
            ));
        }
        if flush_interval.is_some_and(|d| d.is_zero()) {
            errors.push(format!(
                "storage.flush_interval: {:?} must be more than zero, e.g. 60s",
                self.storage.flush_interval
            ));
        }
        for (name, f) in &self.functions {
            for (key, v) in [
                ("timeout", &f.timeout),
                ("latency_threshold", &f.latency_threshold),
            ] {
                if let Some(v) = v {
                    duration(&format!("functions.{name:?}.{key}"), v, &mut errors);
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let (
            Some(grpc),
            Some(http),
            Some(api),
            Some(pg),
            Some(flush_max),
            Some(flush_interval),
            Some(group_commit),
        ) = (grpc, http, api, pg, flush_max, flush_interval, group_commit)
        else {
            return Err(vec![
                "internal: a setting failed to parse without an error".into(),
            ]);
        };
        let (Some(max_request), Some(max_buffered), Some(query_timeout), Some(query_memory)) =
            (max_request, max_buffered, query_timeout, query_memory)
        else {
            return Err(vec!["internal: a limit failed to parse without an error".into()]);
        };
        let mut storage = slod_storage::StorageOptions::new(&self.storage.data_dir);
        storage.flush_max_bytes = flush_max;
        storage.flush_interval = flush_interval;
        storage.wal_group_commit = group_commit;
        storage.retention = retention;
        storage.max_buffered_bytes = max_buffered;
        storage.compaction_min_files = self.storage.compaction_min_files;
        if let Some(m) = maintenance {
            storage.maintenance_interval = m;
        }
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Ok(Settings {
            otlp_grpc_addr: grpc,
            otlp_http_addr: http,
            http_addr: api,
            pg_addr: pg,
            pg_password: env(&s.pg_password_env),
            pg_tls,
            storage,
            max_request_bytes: max_request as usize,
            query_timeout,
            query_memory_bytes: query_memory as usize,
            ingest_token: env(&s.ingest_token_env),
            query_token: env(&s.query_token_env),
        })
    }
}

/// Parses `"30s"`, `"5m"`, `"2ms"`, `"30d"` (Prometheus/Alertmanager style).
pub(crate) fn parse_duration(v: &str) -> Option<Duration> {
    humantime::parse_duration(v.trim()).ok()
}

/// Parses `"64MiB"`, `"512MB"`, `"1GiB"`, `"4096"` (bytes).
pub(crate) fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "KiB" => 1024.0,
        "MB" => 1e6,
        "MiB" => 1024.0 * 1024.0,
        "GB" => 1e9,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((num * mult) as u64)
}

fn duration(key: &str, v: &str, errors: &mut Vec<String>) -> Option<Duration> {
    let d = parse_duration(v);
    if d.is_none() {
        errors.push(format!(
            "{key}: {v:?} is not a duration: write a number and a unit, e.g. 30s, 5m, 2ms, 30d"
        ));
    }
    d
}

fn size(key: &str, v: &str, errors: &mut Vec<String>) -> Option<u64> {
    let s = parse_size(v).filter(|s| *s > 0);
    if s.is_none() {
        errors.push(format!(
            "{key}: {v:?} is not a size: write a number and a unit, e.g. 64MiB, 512MB, 1GiB"
        ));
    }
    s
}

#[cfg(test)]
mod tests;
