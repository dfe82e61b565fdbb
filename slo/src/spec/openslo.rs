//! OpenSLO v1 (`apiVersion: openslo/v1`): `SLO`, `SLI`, `AlertPolicy`, `AlertCondition`, plus
//! `Service`, `AlertNotificationTarget` and `DataSource` (accepted; slod routes by labels).
//!
//! Mapping to slod (documented in docs/slo.md):
//! - An SLI is a `ratioMetric`. Built-in kinds: `raw` with `rawType: success` and
//!   `metricSource: {type: slod, spec: {sli: availability, selector: {...}, threshold: 800ms}}`.
//!   SQL: `good` (or `bad`) and `total` metric sources `{type: slod, spec: {query: SELECT minute,
//!   value FROM ...}}` become a custom SLI joined on `minute`.
//! - `budgetingMethod: Occurrences` only (good/total counts); a DLQ SLI is already a time-slice
//!   SLI (minutes with depth ≤ max) expressed as occurrences of good minutes.
//! - Each objective becomes one SLO (`<name>` when there is one, else `<name>-<displayName|index>`).
//! - An `AlertCondition` of kind `burnrate` with `op: gt|gte`, `threshold` and `lookbackWindow`
//!   becomes a policy tier with long = lookbackWindow and short = lookbackWindow / 12 (the
//!   workbook's ratio; OpenSLO has one window per condition). `alertWhenNoData` turns on the
//!   no-data alert. Without `alertPolicies` the configured default policy applies.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use marked_yaml::{Node, Spanned};
use serde::Deserialize;

use super::error::from_serde;
use super::{Checks, Location, Sli, SloSpec, SloWindow, SpecError};
use crate::duration;
use crate::policy::{Policy, Severity, Tier};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Object<S> {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: Metadata,
    spec: S,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum LabelValue {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Metadata {
    name: Spanned<String>,
    display_name: Option<String>,
    labels: Option<BTreeMap<String, LabelValue>>,
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SloObj {
    description: Option<String>,
    service: String,
    indicator: Option<Inline<SliObj>>,
    indicator_ref: Option<Spanned<String>>,
    time_window: Option<Spanned<Vec<TimeWindow>>>,
    budgeting_method: Spanned<String>,
    objectives: Spanned<Vec<Objective>>,
    alert_policies: Option<Vec<PolicyItem>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Inline<S> {
    #[allow(dead_code)]
    kind: Option<String>,
    metadata: Metadata,
    spec: S,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TimeWindow {
    duration: Spanned<String>,
    is_rolling: Option<bool>,
    calendar: Option<Calendar>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Calendar {
    #[allow(dead_code)]
    start_time: Option<String>,
    time_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Objective {
    display_name: Option<String>,
    target: Option<Spanned<f64>>,
    target_percent: Option<Spanned<f64>>,
    op: Option<String>,
    value: Option<f64>,
    time_slice_target: Option<f64>,
    time_slice_window: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SliObj {
    #[allow(dead_code)]
    description: Option<String>,
    threshold_metric: Option<MetricHolder>,
    ratio_metric: Option<RatioMetric>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RatioMetric {
    #[allow(dead_code)]
    counter: Option<bool>,
    good: Option<MetricHolder>,
    bad: Option<MetricHolder>,
    total: Option<MetricHolder>,
    raw: Option<MetricHolder>,
    raw_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MetricHolder {
    metric_source: Spanned<MetricSource>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MetricSource {
    metric_source_ref: Option<String>,
    r#type: Option<String>,
    spec: SourceSpec,
}

/// The `spec` of a `type: slod` metric source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceSpec {
    sli: Option<Spanned<String>>,
    selector: Option<HashMap<Spanned<String>, Spanned<String>>>,
    threshold: Option<Spanned<String>>,
    max_depth: Option<f64>,
    query: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyItem {
    alert_policy_ref: Option<Spanned<String>>,
    kind: Option<String>,
    metadata: Option<Metadata>,
    spec: Option<PolicyObj>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyObj {
    #[allow(dead_code)]
    description: Option<String>,
    alert_when_no_data: Option<bool>,
    #[allow(dead_code)]
    alert_when_resolved: Option<bool>,
    #[allow(dead_code)]
    alert_when_breaching: Option<bool>,
    conditions: Spanned<Vec<ConditionItem>>,
    #[allow(dead_code)]
    notification_targets: Option<Vec<serde::de::IgnoredAny>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConditionItem {
    condition_ref: Option<Spanned<String>>,
    kind: Option<String>,
    metadata: Option<Metadata>,
    spec: Option<ConditionObj>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConditionObj {
    #[allow(dead_code)]
    description: Option<String>,
    severity: String,
    condition: Spanned<BurnCondition>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BurnCondition {
    kind: Option<String>,
    op: String,
    threshold: f64,
    lookback_window: String,
    alert_after: Option<String>,
}

/// One parsed YAML document of an OpenSLO file with its line offset.
pub(crate) struct Doc {
    pub(crate) node: Node,
    pub(crate) offset: usize,
}

fn kind_of(node: &Node) -> Option<String> {
    node.as_mapping()?
        .get_scalar("kind")
        .map(|s| s.as_str().to_string())
}

fn name_of(node: &Node) -> Option<String> {
    node.as_mapping()?
        .get_mapping("metadata")?
        .get_scalar("name")
        .map(|s| s.as_str().to_string())
}

struct Ctx<'a> {
    file: &'a str,
    errors: &'a mut Vec<SpecError>,
}

impl Ctx<'_> {
    fn at(&self, span: &marked_yaml::Span, offset: usize) -> Location {
        Location::of(self.file, span, offset)
    }

    fn decode<T: for<'de> Deserialize<'de>>(&mut self, doc: &Doc) -> Option<T> {
        let at = self.at(doc.node.span(), doc.offset);
        marked_yaml::from_node::<T>(&doc.node)
            .map_err(|e| self.errors.push(from_serde(self.file, &e, doc.offset, &at)))
            .ok()
    }
}

/// Parses the documents of an OpenSLO file.
pub(crate) fn parse(file: &str, docs: &[Doc], errors: &mut Vec<SpecError>) -> Vec<SloSpec> {
    let mut ctx = Ctx { file, errors };
    let mut slis = HashMap::new();
    let mut policies = HashMap::new();
    let mut conditions = HashMap::new();
    let mut slos = Vec::new();
    for doc in docs {
        let at = ctx.at(doc.node.span(), doc.offset);
        match kind_of(&doc.node).as_deref() {
            Some("SLO") => slos.push(doc),
            Some("SLI") => {
                if let Some(o) = ctx.decode::<Object<SliObj>>(doc) {
                    slis.insert(o.metadata.name.as_str().to_string(), (o.spec, doc.offset));
                }
            }
            Some("AlertPolicy") => {
                if let Some(o) = ctx.decode::<Object<PolicyObj>>(doc) {
                    policies.insert(o.metadata.name.as_str().to_string(), (o.spec, doc.offset));
                }
            }
            Some("AlertCondition") => {
                if let Some(o) = ctx.decode::<Object<ConditionObj>>(doc) {
                    conditions.insert(o.metadata.name.as_str().to_string(), (o.spec, doc.offset));
                }
            }
            Some("Service" | "AlertNotificationTarget" | "DataSource") => {}
            Some(other) => ctx.errors.push(SpecError::new(
                at,
                format!("unknown OpenSLO kind {other:?}"),
                "OpenSLO v1 kinds: SLO, SLI, AlertPolicy, AlertCondition, AlertNotificationTarget, Service, DataSource",
            )),
            None => ctx.errors.push(SpecError::new(
                at,
                format!("document {} has no `kind:`", name_of(&doc.node).unwrap_or_default()),
                "every OpenSLO document needs apiVersion: openslo/v1 and a kind",
            )),
        }
    }
    let refs = Refs {
        slis: &slis,
        policies: &policies,
        conditions: &conditions,
    };
    let mut out = Vec::new();
    for doc in slos {
        if let Some(o) = ctx.decode::<Object<SloObj>>(doc) {
            out.extend(slo(&mut ctx, o, doc.offset, &refs));
        }
    }
    out
}

struct Refs<'a> {
    slis: &'a HashMap<String, (SliObj, usize)>,
    policies: &'a HashMap<String, (PolicyObj, usize)>,
    conditions: &'a HashMap<String, (ConditionObj, usize)>,
}

fn slo(ctx: &mut Ctx<'_>, o: Object<SloObj>, off: usize, refs: &Refs<'_>) -> Vec<SloSpec> {
    let before = ctx.errors.len();
    let name_at = ctx.at(o.metadata.name.span(), off);
    let name = o.metadata.name.as_str().to_string();
    Checks { errors: ctx.errors }.name(&name, name_at.clone());

    if o.spec.budgeting_method.as_str() != "Occurrences" {
        let at = ctx.at(o.spec.budgeting_method.span(), off);
        ctx.errors.push(SpecError::new(
            at,
            format!(
                "budgetingMethod {:?} is not supported",
                o.spec.budgeting_method.as_str()
            ),
            "use Occurrences (good/total events); a dlq SLI already counts good minutes",
        ));
    }
    let window = match o.spec.time_window.as_ref() {
        None => Some(SloWindow::Rolling(Duration::from_secs(30 * 86_400))),
        Some(tw) if tw.len() != 1 => {
            let at = ctx.at(tw.span(), off);
            ctx.errors.push(SpecError::new(
                at,
                "timeWindow must have exactly one item".into(),
                "keep one window",
            ));
            None
        }
        Some(tw) => time_window(ctx, &tw[0], off),
    };

    // The SLI: inline or by reference.
    let sli_obj = match (&o.spec.indicator, &o.spec.indicator_ref) {
        (Some(inline), None) => Some((&inline.spec, off, ctx.at(inline.metadata.name.span(), off))),
        (None, Some(r)) => match refs.slis.get(r.as_str()) {
            Some((s, o2)) => Some((s, *o2, ctx.at(r.span(), off))),
            None => {
                let at = ctx.at(r.span(), off);
                ctx.errors.push(SpecError::new(
                    at,
                    format!("indicatorRef {:?} names no SLI in this file", r.as_str()),
                    "define `kind: SLI` with that metadata.name in the same file, or inline `indicator:`",
                ));
                None
            }
        },
        _ => {
            ctx.errors.push(SpecError::new(
                name_at.clone(),
                "an SLO needs exactly one of indicator or indicatorRef".into(),
                "add indicatorRef: <SLI name> or an inline indicator",
            ));
            None
        }
    };
    let sli = sli_obj.and_then(|(s, o2, at)| sli(ctx, s, o2, at));

    let (policy, no_data) = match &o.spec.alert_policies {
        None => (None, false),
        Some(items) => alert_policy(ctx, items, off, refs),
    };

    let mut labels = BTreeMap::new();
    for (k, v) in o.metadata.labels.iter().flatten() {
        let v = match v {
            LabelValue::One(s) => s.clone(),
            LabelValue::Many(list) => list.join(","),
        };
        labels.insert(k.clone(), v);
    }
    let runbook_url = o.metadata.annotations.as_ref().and_then(|a| {
        a.get("runbook_url")
            .or_else(|| a.get("slod.dev/runbook-url"))
            .cloned()
    });

    let many = o.spec.objectives.len() > 1;
    let mut out = Vec::new();
    for (i, obj) in o.spec.objectives.iter().enumerate() {
        let objective = match (&obj.target, &obj.target_percent) {
            (Some(t), None) => {
                Checks { errors: ctx.errors }.objective(**t, Location::of(ctx.file, t.span(), off))
            }
            (None, Some(p)) => {
                Checks { errors: ctx.errors }.objective(**p / 100.0, Location::of(ctx.file, p.span(), off))
            }
            _ => {
                let at = ctx.at(o.spec.objectives.span(), off);
                ctx.errors.push(SpecError::new(
                    at,
                    format!("objectives[{i}] needs exactly one of target or targetPercent"),
                    "target: 0.999 or targetPercent: 99.9",
                ));
                0.0
            }
        };
        if obj.op.is_some()
            || obj.value.is_some()
            || obj.time_slice_target.is_some()
            || obj.time_slice_window.is_some()
        {
            let at = ctx.at(o.spec.objectives.span(), off);
            ctx.errors.push(SpecError::new(
                at,
                format!("objectives[{i}]: op/value/timeSliceTarget/timeSliceWindow are not supported"),
                "slod SLIs are ratios of good to total events: give only target (and displayName)",
            ));
        }
        if ctx.errors.len() > before {
            continue;
        }
        let (Some(sli), Some(window)) = (sli.clone(), window) else {
            continue;
        };
        let name = if many {
            format!(
                "{name}-{}",
                obj.display_name.clone().unwrap_or_else(|| i.to_string())
            )
        } else {
            name.clone()
        };
        out.push(SloSpec {
            name,
            description: o
                .spec
                .description
                .clone()
                .or_else(|| o.metadata.display_name.clone()),
            sli: sli.0,
            selector: sli.1,
            objective,
            window,
            labels: labels.clone(),
            runbook_url: runbook_url.clone(),
            policy: policy.clone(),
            min_bad_events: None,
            alert_on_no_data: no_data,
            origin: name_at.clone(),
        });
    }
    let _ = &o.spec.service;
    out
}

fn time_window(ctx: &mut Ctx<'_>, tw: &TimeWindow, off: usize) -> Option<SloWindow> {
    let at = ctx.at(tw.duration.span(), off);
    let d = tw.duration.as_str();
    match (tw.is_rolling.unwrap_or(true), &tw.calendar) {
        (true, None) => match duration::parse(d) {
            Some(d) if d >= Duration::from_secs(3600) => Some(SloWindow::Rolling(d)),
            _ => {
                ctx.errors.push(SpecError::new(
                    at,
                    format!("duration {d:?} is not a window"),
                    "e.g. 28d or 30d",
                ));
                None
            }
        },
        (false, Some(cal)) => {
            if cal
                .time_zone
                .as_deref()
                .is_some_and(|z| z != "UTC" && z != "Etc/UTC")
            {
                ctx.errors.push(SpecError::new(
                    at.clone(),
                    "calendar windows are evaluated in UTC".into(),
                    "set timeZone: UTC",
                ));
            }
            match d {
                "1M" => Some(SloWindow::CalendarMonth),
                "1w" => Some(SloWindow::CalendarWeek),
                _ => {
                    ctx.errors.push(SpecError::new(
                        at,
                        format!("calendar duration {d:?} is not supported"),
                        "use 1M or 1w",
                    ));
                    None
                }
            }
        }
        (true, Some(_)) => {
            ctx.errors.push(SpecError::new(
                at,
                "isRolling: true forbids calendar".into(),
                "remove calendar or set isRolling: false",
            ));
            None
        }
        (false, None) => {
            ctx.errors.push(SpecError::new(
                at,
                "isRolling: false requires calendar".into(),
                "add calendar: {startTime: ..., timeZone: UTC}",
            ));
            None
        }
    }
}

type SliAndSelector = (Sli, BTreeMap<String, String>);

fn sli(ctx: &mut Ctx<'_>, s: &SliObj, off: usize, at: Location) -> Option<SliAndSelector> {
    let hint = "use ratioMetric with raw (rawType: success) from a `type: slod` source, or good/bad + total SQL queries";
    let Some(r) = &s.ratio_metric else {
        let what = if s.threshold_metric.is_some() {
            "thresholdMetric is not supported"
        } else {
            "SLI has no ratioMetric"
        };
        ctx.errors.push(SpecError::new(at, what.into(), hint));
        return None;
    };
    let check_type = |ctx: &mut Ctx<'_>, m: &MetricHolder| -> bool {
        let src = &m.metric_source;
        let ok = src
            .r#type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("slod"))
            && src.metric_source_ref.is_none();
        if !ok {
            let at = ctx.at(src.span(), off);
            ctx.errors.push(SpecError::new(
                at,
                "metricSource must be `type: slod` (slod evaluates its own telemetry)".into(),
                "set type: slod and put the SLI (sli/selector) or SQL (query) in spec",
            ));
        }
        ok
    };
    match (&r.raw, &r.good, &r.bad, &r.total) {
        (Some(raw), None, None, None) => {
            if !check_type(ctx, raw) {
                return None;
            }
            if r.raw_type.as_deref() != Some("success") {
                ctx.errors.push(SpecError::new(
                    at,
                    "rawType must be success".into(),
                    "slod SLIs are success ratios",
                ));
                return None;
            }
            builtin(ctx, &raw.metric_source.spec, off, at)
        }
        (None, good, bad, Some(total)) if good.is_some() != bad.is_some() => {
            let part = good.as_ref().or(bad.as_ref())?;
            if !check_type(ctx, part) || !check_type(ctx, total) {
                return None;
            }
            let (Some(q), Some(t)) = (&part.metric_source.spec.query, &total.metric_source.spec.query) else {
                ctx.errors.push(SpecError::new(
                    at,
                    "good/bad and total sources need `query:`".into(),
                    "query: SELECT minute, value FROM ...",
                ));
                return None;
            };
            let good_expr = if good.is_some() {
                "p.value".to_string()
            } else {
                "t.value - p.value".to_string()
            };
            let sql = format!(
                "SELECT t.minute AS minute, {good_expr} AS good, t.value AS total FROM ({t}) t LEFT JOIN ({q}) p ON p.minute = t.minute"
            );
            Some((Sli::Custom { sql }, BTreeMap::new()))
        }
        _ => {
            ctx.errors.push(SpecError::new(
                at,
                "ratioMetric needs raw, or one of good/bad plus total".into(),
                hint,
            ));
            None
        }
    }
}

fn builtin(ctx: &mut Ctx<'_>, spec: &SourceSpec, off: usize, at: Location) -> Option<SliAndSelector> {
    let Some(kind) = &spec.sli else {
        ctx.errors.push(SpecError::new(
            at,
            "a `type: slod` raw source needs `sli:`".into(),
            format!("one of: {}", Sli::KINDS.join(", ")),
        ));
        return None;
    };
    let threshold = spec.threshold.as_ref().and_then(|t| duration::parse(t));
    let sli = match kind.as_str() {
        "availability" => Sli::Availability,
        "latency" => Sli::Latency { threshold },
        "cold_start" => Sli::ColdStart,
        "throttling" => Sli::Throttling,
        "dlq" => Sli::Dlq {
            max_depth: spec.max_depth.unwrap_or(0.0),
        },
        "workflow_success" => Sli::WorkflowSuccess,
        "workflow_latency" => Sli::WorkflowLatency { threshold },
        other => {
            let at = ctx.at(kind.span(), off);
            ctx.errors.push(SpecError::new(
                at,
                format!("unknown SLI kind {other:?}"),
                format!(
                    "one of: {} (custom SLIs use good/total queries)",
                    &Sli::KINDS[..7].join(", ")
                ),
            ));
            return None;
        }
    };
    let mut selector = BTreeMap::new();
    for (k, v) in spec.selector.iter().flatten() {
        let kat = ctx.at(k.span(), off);
        Checks { errors: ctx.errors }.selector(&sli, k, v, kat);
        selector.insert(super::canonical_key(k).to_string(), v.as_str().to_string());
    }
    Some((sli, selector))
}

fn alert_policy(
    ctx: &mut Ctx<'_>,
    items: &[PolicyItem],
    off: usize,
    refs: &Refs<'_>,
) -> (Option<Policy>, bool) {
    let mut tiers = Vec::new();
    let mut no_data = false;
    for item in items {
        let policy = match (&item.alert_policy_ref, &item.spec) {
            (Some(r), None) => match refs.policies.get(r.as_str()) {
                Some((p, o2)) => Some((p, *o2)),
                None => {
                    let at = ctx.at(r.span(), off);
                    ctx.errors.push(SpecError::new(
                        at,
                        format!(
                            "alertPolicyRef {:?} names no AlertPolicy in this file",
                            r.as_str()
                        ),
                        "define `kind: AlertPolicy` with that name in the same file",
                    ));
                    None
                }
            },
            (None, Some(p)) => Some((p, off)),
            _ => None,
        };
        let _ = (&item.kind, &item.metadata);
        let Some((p, poff)) = policy else { continue };
        no_data |= p.alert_when_no_data.unwrap_or(false);
        if p.conditions.len() != 1 {
            let at = ctx.at(p.conditions.span(), poff);
            ctx.errors.push(SpecError::new(
                at,
                "an AlertPolicy has exactly one condition (OpenSLO v1)".into(),
                "use one policy per tier",
            ));
        }
        for c in p.conditions.iter() {
            let cond = match (&c.condition_ref, &c.spec) {
                (Some(r), None) => match refs.conditions.get(r.as_str()) {
                    Some((c, o3)) => Some((c, *o3)),
                    None => {
                        let at = ctx.at(r.span(), poff);
                        ctx.errors.push(SpecError::new(
                            at,
                            format!(
                                "conditionRef {:?} names no AlertCondition in this file",
                                r.as_str()
                            ),
                            "define `kind: AlertCondition` with that name in the same file",
                        ));
                        None
                    }
                },
                (None, Some(s)) => Some((s, poff)),
                _ => None,
            };
            let _ = (&c.kind, &c.metadata);
            if let Some((cond, coff)) = cond {
                tiers.extend(tier(ctx, cond, coff));
            }
        }
    }
    if tiers.is_empty() {
        return (None, no_data);
    }
    (Some(Policy { tiers }), no_data)
}

fn tier(ctx: &mut Ctx<'_>, c: &ConditionObj, off: usize) -> Option<Tier> {
    let b = &c.condition;
    let at = ctx.at(b.span(), off);
    if b.kind.as_deref().is_some_and(|k| k != "burnrate") {
        ctx.errors.push(SpecError::new(
            at,
            "only `kind: burnrate` conditions are supported".into(),
            "kind: burnrate",
        ));
        return None;
    }
    if b.op != "gt" && b.op != "gte" {
        ctx.errors.push(SpecError::new(
            at,
            format!(
                "op {:?}: a burn-rate alert fires when the burn rate is above the threshold",
                b.op
            ),
            "use op: gt (or gte)",
        ));
        return None;
    }
    if b.alert_after
        .as_deref()
        .and_then(duration::parse)
        .is_some_and(|d| !d.is_zero())
    {
        ctx.errors.push(SpecError::new(
            at,
            "alertAfter is not supported: the short window already confirms the burn".into(),
            "remove alertAfter (or set 0m); use the alerting route's group_wait to delay notifications",
        ));
        return None;
    }
    let Some(long) =
        duration::parse(&b.lookback_window).filter(|d| d.as_secs() >= 720 && d.as_secs() % 720 == 0)
    else {
        ctx.errors.push(SpecError::new(
            at,
            format!(
                "lookbackWindow {:?} must be a multiple of 12 minutes",
                b.lookback_window
            ),
            "the short window is lookbackWindow/12 in whole minutes: use 1h, 6h, 1d or 3d",
        ));
        return None;
    };
    Some(Tier {
        severity: Severity(c.severity.clone()),
        long,
        short: long / 12,
        burn_rate: b.threshold,
    })
}
