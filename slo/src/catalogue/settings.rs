//! Per-function settings and the price table the catalogue's UDFs read (DESIGN §4, §8:
//! `functions:`, `telemetry.dlq_queues`, `pricing:`).

use std::collections::BTreeMap;
use std::time::Duration;

use globset::{Glob, GlobMatcher};

/// What the telemetry does not say about a function, by name or glob.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSettings {
    /// A function name (`checkout`) or a glob (`orders-*`, `*`), matched against the
    /// catalogue's `faas_name` (`faas.name`, else `service.name`).
    pub pattern: String,
    /// The function's configured timeout: invocations lasting this long count as timeouts.
    pub timeout: Option<Duration>,
    /// The latency SLI's threshold (an invocation is good when its duration is ≤ this).
    pub latency_threshold: Option<Duration>,
    /// Configured memory, overriding `faas.max_memory` (cost and memory views).
    pub memory_mb: Option<u32>,
    /// Queues that are this function's dead-letter queues even if their names do not say so.
    pub dlq_queues: Vec<String>,
    /// Estimated spend per hour (USD) above which the `FunctionCostOverBudget` rule fires;
    /// `None`: no budget, the rule stays quiet for this function.
    pub cost_per_hour_budget: Option<f64>,
}

impl FunctionSettings {
    /// Settings for `pattern` with nothing set.
    pub fn new(pattern: impl Into<String>) -> FunctionSettings {
        FunctionSettings {
            pattern: pattern.into(),
            timeout: None,
            latency_threshold: None,
            memory_mb: None,
            dlq_queues: Vec::new(),
            cost_per_hour_budget: None,
        }
    }
}

/// Prices of one platform, each overriding the global price when set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlatformPricing {
    pub gb_second: Option<f64>,
    pub request: Option<f64>,
    pub state_transition: Option<f64>,
}

/// The price table (USD). Cost is estimated from telemetry, never read from billing APIs.
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    /// Per GB-second of function compute (duration × configured memory).
    pub gb_second: f64,
    /// Per invocation.
    pub request: f64,
    /// Per orchestrator state transition (Step Functions Standard).
    pub state_transition: f64,
    /// Overrides by `cloud.platform` value (`aws_lambda`, `gcp_cloud_run`, `azure.functions`,
    /// …) or workflow engine (`step_functions`, `temporal`, `durable_functions`).
    pub platforms: BTreeMap<String, PlatformPricing>,
}

impl Default for Pricing {
    /// Public AWS list prices (Lambda x86 first tier, requests, Step Functions Standard).
    fn default() -> Pricing {
        Pricing {
            gb_second: 0.000_016_666_7,
            request: 0.000_000_2,
            state_transition: 0.000_025,
            platforms: BTreeMap::new(),
        }
    }
}

/// Everything the catalogue needs beyond the telemetry tables.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueSettings {
    /// Per-function settings. For each setting, an entry whose pattern is exactly the
    /// function's name wins; otherwise the first matching glob (in order) that sets it;
    /// otherwise the built-in default (timeout 30s, latency threshold 1s).
    pub functions: Vec<FunctionSettings>,
    /// Queues that are dead-letter queues whatever their names (`telemetry.dlq_queues`).
    pub dlq_queues: Vec<String>,
    pub pricing: Pricing,
}

/// Built-in timeout when no entry sets one (DESIGN §8 `"*": { timeout: 30s }`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Built-in latency threshold (DESIGN §8 `"*": { latency_threshold: 1s }`).
pub const DEFAULT_LATENCY_THRESHOLD: Duration = Duration::from_secs(1);

impl Default for CatalogueSettings {
    fn default() -> CatalogueSettings {
        let mut all = FunctionSettings::new("*");
        all.timeout = Some(DEFAULT_TIMEOUT);
        all.latency_threshold = Some(DEFAULT_LATENCY_THRESHOLD);
        CatalogueSettings {
            functions: vec![all],
            dlq_queues: Vec::new(),
            pricing: Pricing::default(),
        }
    }
}

/// An invalid setting, named by its key path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("functions.{pattern:?}: invalid glob: {reason}; use a name or a glob such as \"orders-*\"")]
    BadGlob { pattern: String, reason: String },
    #[error("pricing{path}: {value} is not a price: must be a finite number ≥ 0, e.g. 0.0000002")]
    BadPrice { path: String, value: f64 },
    #[error(
        "functions.{pattern:?}.cost_per_hour_budget: {value} must be a finite number > 0 (USD per hour), e.g. 5"
    )]
    BadBudget { pattern: String, value: f64 },
}

/// Settings compiled for lookups (globs built once).
#[derive(Debug)]
pub(crate) struct Resolved {
    exact: Vec<FunctionSettings>,
    globs: Vec<(GlobMatcher, FunctionSettings)>,
    dlq: Vec<String>,
    pricing: Pricing,
}

fn is_glob(p: &str) -> bool {
    p.contains(['*', '?', '[', '{'])
}

impl CatalogueSettings {
    /// Checks every setting, reporting all problems.
    pub fn validate(&self) -> Result<(), Vec<SettingsError>> {
        self.resolve().map(|_| ())
    }

    pub(crate) fn resolve(&self) -> Result<Resolved, Vec<SettingsError>> {
        let mut errors = Vec::new();
        let mut exact = Vec::new();
        let mut globs = Vec::new();
        for f in &self.functions {
            if is_glob(&f.pattern) {
                match Glob::new(&f.pattern) {
                    Ok(g) => globs.push((g.compile_matcher(), f.clone())),
                    Err(e) => errors.push(SettingsError::BadGlob {
                        pattern: f.pattern.clone(),
                        reason: e.kind().to_string(),
                    }),
                }
            } else {
                exact.push(f.clone());
            }
        }
        for f in &self.functions {
            if let Some(b) = f.cost_per_hour_budget
                && !(b.is_finite() && b > 0.0)
            {
                errors.push(SettingsError::BadBudget {
                    pattern: f.pattern.clone(),
                    value: b,
                });
            }
        }
        let p = &self.pricing;
        let mut check = |path: String, v: Option<f64>| {
            if let Some(v) = v
                && !(v.is_finite() && v >= 0.0)
            {
                errors.push(SettingsError::BadPrice { path, value: v });
            }
        };
        check(".gb_second".into(), Some(p.gb_second));
        check(".request".into(), Some(p.request));
        check(".state_transition".into(), Some(p.state_transition));
        for (k, o) in &p.platforms {
            check(format!(".{k}.gb_second"), o.gb_second);
            check(format!(".{k}.request"), o.request);
            check(format!(".{k}.state_transition"), o.state_transition);
        }
        let mut dlq = self.dlq_queues.clone();
        for f in &self.functions {
            dlq.extend(f.dlq_queues.iter().cloned());
        }
        if errors.is_empty() {
            Ok(Resolved {
                exact,
                globs,
                dlq,
                pricing: self.pricing.clone(),
            })
        } else {
            Err(errors)
        }
    }
}

impl Resolved {
    /// The first setting `get` returns for `name`: exact entries, then globs in order.
    fn lookup<T>(&self, name: &str, get: impl Fn(&FunctionSettings) -> Option<T>) -> Option<T> {
        self.exact
            .iter()
            .filter(|f| f.pattern == name)
            .find_map(&get)
            .or_else(|| {
                self.globs
                    .iter()
                    .filter(|(m, _)| m.is_match(name))
                    .find_map(|(_, f)| get(f))
            })
    }

    pub(crate) fn timeout_ms(&self, name: &str) -> f64 {
        self.lookup(name, |f| f.timeout)
            .unwrap_or(DEFAULT_TIMEOUT)
            .as_secs_f64()
            * 1e3
    }

    pub(crate) fn latency_threshold_ms(&self, name: &str) -> f64 {
        self.lookup(name, |f| f.latency_threshold)
            .unwrap_or(DEFAULT_LATENCY_THRESHOLD)
            .as_secs_f64()
            * 1e3
    }

    pub(crate) fn cost_per_hour_budget(&self, name: &str) -> Option<f64> {
        self.lookup(name, |f| f.cost_per_hour_budget)
    }

    pub(crate) fn memory_mb(&self, name: &str) -> Option<i64> {
        self.lookup(name, |f| f.memory_mb).map(i64::from)
    }

    /// Configured as a DLQ (names compare case-insensitively, as SQS names are shown).
    pub(crate) fn is_configured_dlq(&self, queue: &str) -> bool {
        self.dlq.iter().any(|q| q.eq_ignore_ascii_case(queue))
    }

    fn platform(&self, key: &str) -> Option<&PlatformPricing> {
        let p = &self.pricing.platforms;
        p.get(key).or_else(|| match key {
            // The deprecated spelling normalisation rewrites; accept either in config.
            "azure.functions" => p.get("azure_functions"),
            _ => None,
        })
    }

    pub(crate) fn price_gb_second(&self, platform: &str) -> f64 {
        self.platform(platform)
            .and_then(|p| p.gb_second)
            .unwrap_or(self.pricing.gb_second)
    }

    pub(crate) fn price_request(&self, platform: &str) -> f64 {
        self.platform(platform)
            .and_then(|p| p.request)
            .unwrap_or(self.pricing.request)
    }

    /// Per transition of `engine`. Only Step Functions bills transitions by default; Durable
    /// Functions orchestrators are billed as function executions (already in function cost)
    /// and Temporal is not estimated unless a price is configured for it.
    pub(crate) fn price_state_transition(&self, engine: &str) -> f64 {
        match self.platform(engine).and_then(|p| p.state_transition) {
            Some(p) => p,
            None if engine == "step_functions" => self.pricing.state_transition,
            None => 0.0,
        }
    }
}
