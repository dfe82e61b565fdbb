//! `slod.yaml`: one file, one schema (DESIGN §8). Parse (serde, unknown keys refused) →
//! `validate()` (all errors, each with its key path) → runtime values.
//!
//! The `alerting` section mirrors Alertmanager's config (route, inhibit_rules, receivers);
//! [`slod_alerting::config`] checks it.

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
    pub(crate) slo: SloConfig,
    pub(crate) alerting: Option<slod_alerting::config::AlertingConfig>,
}

impl Default for Config {
    fn default() -> Self {
        // The documented per-function defaults (DESIGN §8); a config file's `functions:`
        // section replaces them.
        let star = FunctionConfig {
            timeout: Some("30s".into()),
            latency_threshold: Some("1s".into()),
            dlq_queues: Vec::new(),
            cost_per_hour_budget: None,
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
            slo: SloConfig::default(),
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
    /// Estimated USD per hour above which `FunctionCostOverBudget` fires; none by default.
    pub(crate) cost_per_hour_budget: Option<f64>,
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

/// `slo:` (DESIGN §8): evaluation, SLO files, default templates and the alerting policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SloConfig {
    pub(crate) evaluation_interval: String,
    /// SLO files (native or OpenSLO), globs relative to the config file's folder.
    pub(crate) files: Vec<String>,
    /// Apply the default templates (availability, latency, cold starts, throttling, DLQ) to
    /// every function when no SLO file defines an SLO.
    pub(crate) default_templates: bool,
    /// Low-traffic guard: bad events a tier's long window must hold before it fires.
    pub(crate) min_bad_events: f64,
    /// An SLO instance without valid events for this long is reported as no data.
    pub(crate) no_data_after: String,
    /// Minimum time a resolved alert stays resolved before it may fire again (alerting).
    pub(crate) hold_down: String,
    /// SQL alert rule files, globs relative to the config file's folder.
    pub(crate) rules: Vec<String>,
    /// Evaluate the built-in rules (DLQ growth, P99 near timeout, throttling, workflow
    /// failures, cost, invocation surge); a rule file's rule of the same name replaces one.
    pub(crate) default_rules: bool,
    pub(crate) policy: Vec<PolicyTierConfig>,
}

impl Default for SloConfig {
    fn default() -> Self {
        let tier = |severity: &str, long: &str, short: &str, burn_rate: f64| PolicyTierConfig {
            severity: severity.into(),
            long: long.into(),
            short: short.into(),
            burn_rate,
        };
        SloConfig {
            evaluation_interval: "30s".into(),
            files: vec!["slos/*.yaml".into()],
            default_templates: true,
            min_bad_events: 3.0,
            no_data_after: "10m".into(),
            hold_down: "5m".into(),
            rules: vec!["rules/*.yaml".into()],
            default_rules: true,
            policy: vec![
                tier("page", "1h", "5m", 14.4),
                tier("page", "6h", "30m", 6.0),
                tier("ticket", "3d", "6h", 1.0),
            ],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyTierConfig {
    pub(crate) severity: String,
    pub(crate) long: String,
    pub(crate) short: String,
    pub(crate) burn_rate: f64,
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
    pub(crate) slo: SloSettings,
    pub(crate) catalogue: slod_slo::catalogue::CatalogueSettings,
    pub(crate) alerting: slod_alerting::config::Alerting,
}

/// Validated `slo:` settings.
#[derive(Debug, Clone)]
pub(crate) struct SloSettings {
    pub(crate) interval: Duration,
    /// Globs as written; resolved against the config file's folder by `serve`.
    pub(crate) files: Vec<String>,
    pub(crate) default_templates: bool,
    pub(crate) eval: slod_slo::evaluator::EvalSettings,
    /// The SLOs to evaluate (filled by `serve::settings` from `files`, or the templates).
    pub(crate) specs: Vec<slod_slo::spec::SloSpec>,
    /// Rule file globs as written (`slo.rules`).
    pub(crate) rule_files: Vec<String>,
    pub(crate) default_rules: bool,
    /// The rules to evaluate (filled by `serve::settings`: the files' and the built-ins).
    pub(crate) rules: Vec<slod_slo::rules::RuleSpec>,
    /// Bounds each rule's query (`limits.query_timeout`).
    pub(crate) rule_timeout: Duration,
    /// `slo.hold_down`: how long a condition must stay clear before its alert resolves.
    pub(crate) hold_down: Duration,
}

impl Config {
    /// The SLO file globs of `slo.files`, relative to the config file's folder (as Prometheus
    /// resolves `rule_files`); default `slos/*.yaml` beside the config file.
    pub(crate) fn slo_files(&self) -> Vec<String> {
        self.slo.files.clone()
    }

    /// `functions:`, `pricing:` and `telemetry.dlq_queues` as the catalogue's settings. Exact
    /// names come first, then globs from the most specific (longest) to `*`.
    fn catalogue(&self) -> slod_slo::catalogue::CatalogueSettings {
        let mut functions: Vec<(&String, &FunctionConfig)> = self.functions.iter().collect();
        functions.sort_by_key(|(name, _)| {
            let glob = name.contains(['*', '?', '[']);
            (glob, std::cmp::Reverse(name.len()))
        });
        let mut settings = slod_slo::catalogue::CatalogueSettings {
            functions: Vec::new(),
            dlq_queues: self.telemetry.dlq_queues.clone(),
            ..Default::default()
        };
        for (name, f) in functions {
            let mut fs = slod_slo::catalogue::FunctionSettings::new(name.clone());
            fs.timeout = f.timeout.as_deref().and_then(parse_duration);
            fs.latency_threshold = f.latency_threshold.as_deref().and_then(parse_duration);
            fs.dlq_queues = f.dlq_queues.clone();
            fs.cost_per_hour_budget = f.cost_per_hour_budget;
            settings.functions.push(fs);
        }
        settings.pricing.gb_second = self.pricing.gb_second;
        settings.pricing.request = self.pricing.request;
        settings.pricing.state_transition = self.pricing.state_transition;
        settings
    }

    fn slo_settings(&self, errors: &mut Vec<String>) -> Option<SloSettings> {
        let c = &self.slo;
        let interval = duration("slo.evaluation_interval", &c.evaluation_interval, errors);
        if interval.is_some_and(|d| d < Duration::from_secs(1)) {
            errors.push("slo.evaluation_interval: must be at least 1s, e.g. 30s".into());
        }
        let no_data_after = duration("slo.no_data_after", &c.no_data_after, errors);
        let hold_down = duration("slo.hold_down", &c.hold_down, errors);
        if c.min_bad_events.is_nan() || c.min_bad_events < 1.0 {
            errors.push(format!(
                "slo.min_bad_events: {} must be at least 1 (1 turns the low-traffic guard off)",
                c.min_bad_events
            ));
        }
        let mut tiers = Vec::new();
        for (i, t) in c.policy.iter().enumerate() {
            let (Some(long), Some(short)) = (
                slod_slo::duration::parse(&t.long),
                slod_slo::duration::parse(&t.short),
            ) else {
                errors.push(format!(
                    "slo.policy[{i}]: windows {:?}/{:?} must be durations such as 1h and 5m",
                    t.long, t.short
                ));
                continue;
            };
            tiers.push(slod_slo::policy::Tier {
                severity: slod_slo::policy::Severity(t.severity.clone()),
                long,
                short,
                burn_rate: t.burn_rate,
            });
        }
        let policy = slod_slo::policy::Policy { tiers };
        for p in policy.problems() {
            errors.push(format!("slo.{p}"));
        }
        Some(SloSettings {
            interval: interval?,
            files: c.files.clone(),
            default_templates: c.default_templates,
            specs: Vec::new(),
            rule_files: c.rules.clone(),
            default_rules: c.default_rules,
            rules: Vec::new(),
            rule_timeout: Duration::from_secs(30),
            hold_down: hold_down?,
            eval: slod_slo::evaluator::EvalSettings {
                policy,
                guard: slod_slo::burn::Guard {
                    min_bad_events: c.min_bad_events,
                },
                no_data_after: no_data_after?,
            },
        })
    }

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
        let slo = self.slo_settings(&mut errors);
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let alerting = match self.alerting.clone().unwrap_or_default().resolve(&env) {
            Ok(a) => Some(a),
            Err(problems) => {
                errors.extend(problems);
                None
            }
        };
        let catalogue = self.catalogue();
        if let Err(problems) = catalogue.validate() {
            errors.extend(problems.iter().map(|p| format!("functions: {p}")));
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
        let (Some(slo), Some(alerting)) = (slo, alerting) else {
            return Err(vec![
                "internal: slo or alerting settings failed to parse without an error".into(),
            ]);
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
        let mut slo = slo;
        slo.rule_timeout = query_timeout;
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
            slo,
            catalogue,
            alerting,
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
