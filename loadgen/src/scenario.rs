//! Scenarios and the incident plan: which incident hits which function or workflow when.
//!
//! A plan is laid over the run's window (or, with a period, over each period of it): a
//! single-incident scenario is active from 40 % to 70 % of the window; `mixed` places eight
//! incidents one after another with quiet time between. Targets are chosen from the seed.
//! Every plan also has one benign rollout at 85 % (a new version with unchanged behaviour) so
//! the deployment view always has data.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::fleet::{Function, Platform, Trigger, Workflow};
use crate::rng::Rng;

/// What `slod loadgen --scenario` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    Steady,
    ErrorBurst,
    LatencyRegression,
    ColdStartStorm,
    ThrottleStorm,
    DlqBacklog,
    WorkflowFailures,
    BadDeploy,
    LateData,
    Mixed,
    RecursiveLoop,
    WorkflowStuck,
}

impl Scenario {
    pub const ALL: [Scenario; 12] = [
        Scenario::Steady,
        Scenario::ErrorBurst,
        Scenario::LatencyRegression,
        Scenario::ColdStartStorm,
        Scenario::ThrottleStorm,
        Scenario::DlqBacklog,
        Scenario::WorkflowFailures,
        Scenario::BadDeploy,
        Scenario::LateData,
        Scenario::RecursiveLoop,
        Scenario::WorkflowStuck,
        Scenario::Mixed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::ErrorBurst => "error_burst",
            Scenario::LatencyRegression => "latency_regression",
            Scenario::ColdStartStorm => "cold_start_storm",
            Scenario::ThrottleStorm => "throttle_storm",
            Scenario::DlqBacklog => "dlq_backlog",
            Scenario::WorkflowFailures => "workflow_failures",
            Scenario::BadDeploy => "bad_deploy",
            Scenario::LateData => "late_data",
            Scenario::Mixed => "mixed",
            Scenario::RecursiveLoop => "recursive_loop",
            Scenario::WorkflowStuck => "workflow_stuck",
        }
    }

    /// One line for `--help`.
    pub fn describe(self) -> &'static str {
        match self {
            Scenario::Steady => "healthy traffic with background errors, cold starts and one benign deploy",
            Scenario::ErrorBurst => "one function's error rate jumps to about 35 %",
            Scenario::LatencyRegression => "one function becomes 4x slower, a few invocations time out",
            Scenario::ColdStartStorm => "sandboxes are recycled every few seconds under a traffic surge",
            Scenario::ThrottleStorm => "a traffic surge on one Lambda: half its invocations are throttled",
            Scenario::DlqBacklog => "poison messages: a queue consumer fails and its DLQ fills up",
            Scenario::WorkflowFailures => "about 40 % of workflow executions fail after retrying a step",
            Scenario::BadDeploy => "a new version rolls out, raises errors, and is rolled back",
            Scenario::LateData => "frozen Lambda sandboxes thaw and export spans 1-3 hours late",
            Scenario::RecursiveLoop => {
                "a queue-triggered Lambda re-sends its own messages: its invocations double every 12 s up to 30x, until the run ends"
            }
            Scenario::WorkflowStuck => {
                "a Temporal worker deploy with non-deterministic code: 30 % of executions fail their workflow task and stall, until the run ends"
            }
            Scenario::Mixed => "a day with each incident above but the last two, one after another",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Scenario, String> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Scenario::ALL
            .into_iter()
            .find(|x| x.name() == norm)
            .ok_or_else(|| {
                let names: Vec<_> = Scenario::ALL.iter().map(|x| x.name()).collect();
                format!("unknown scenario {s:?}: expected one of {}", names.join(", "))
            })
    }
}

/// One kind of incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    ErrorBurst,
    LatencyRegression,
    ColdStartStorm,
    ThrottleStorm,
    DlqBacklog,
    WorkflowFailures,
    BadDeploy,
    LateData,
    /// Appended last: an incident kind's position seeds its target choice.
    RecursiveLoop,
    WorkflowStuck,
}

/// What the incident hits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Every function.
    Fleet,
    /// Every workflow.
    Workflows,
    Function {
        index: usize,
        name: String,
    },
}

/// One incident of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub kind: IncidentKind,
    pub target: Target,
    pub start_ns: u64,
    pub end_ns: u64,
    /// For a deploy: the version before and the version rolled out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<(String, String)>,
}

impl Incident {
    pub fn active(&self, t: u64) -> bool {
        t >= self.start_ns && t < self.end_ns
    }

    pub fn hits(&self, function: usize) -> bool {
        match &self.target {
            Target::Fleet => true,
            Target::Workflows => false,
            Target::Function { index, .. } => *index == function,
        }
    }
}

/// A version change that sticks (benign rollouts).
#[derive(Debug, Clone, Serialize)]
pub struct Rollout {
    pub function: String,
    #[serde(skip)]
    pub index: usize,
    pub at_ns: u64,
    pub from: String,
    pub to: String,
}

/// Everything the scenario changes, with times.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub scenario: Scenario,
    pub start_ns: u64,
    pub end_ns: u64,
    pub incidents: Vec<Incident>,
    pub rollouts: Vec<Rollout>,
}

/// Where each incident sits in a cycle, as fractions of its length.
fn layout(scenario: Scenario) -> Vec<(IncidentKind, f64, f64)> {
    use IncidentKind::*;
    let single = |k| vec![(k, 0.4, 0.7)];
    match scenario {
        Scenario::Steady => vec![],
        Scenario::ErrorBurst => single(ErrorBurst),
        Scenario::LatencyRegression => single(LatencyRegression),
        Scenario::ColdStartStorm => single(ColdStartStorm),
        Scenario::ThrottleStorm => single(ThrottleStorm),
        Scenario::DlqBacklog => single(DlqBacklog),
        Scenario::WorkflowFailures => single(WorkflowFailures),
        Scenario::BadDeploy => single(BadDeploy),
        Scenario::LateData => single(LateData),
        // A loop runs until someone stops it: from 85 % to the end of the run.
        Scenario::RecursiveLoop => vec![(RecursiveLoop, 0.85, 1.0)],
        // Stalled executions stay stalled; the bad worker stays until someone rolls it back.
        Scenario::WorkflowStuck => vec![(WorkflowStuck, 0.4, 1.0)],
        Scenario::Mixed => vec![
            (ErrorBurst, 0.05, 0.12),
            (LatencyRegression, 0.17, 0.25),
            (ColdStartStorm, 0.30, 0.34),
            (ThrottleStorm, 0.40, 0.46),
            (DlqBacklog, 0.52, 0.62),
            (WorkflowFailures, 0.67, 0.74),
            (BadDeploy, 0.79, 0.87),
            (LateData, 0.91, 0.96),
        ],
    }
}

impl IncidentKind {
    fn id(self) -> u64 {
        self as u64 + 1
    }
}

/// Functions that get steady traffic (scheduled ones run once a minute).
fn busy(f: &Function) -> bool {
    f.weight > 0.0
}

fn choose(rng: &mut Rng, fleet: &[Function], ok: impl Fn(&Function) -> bool) -> Option<usize> {
    let candidates: Vec<usize> = (0..fleet.len()).filter(|i| ok(&fleet[*i])).collect();
    if candidates.is_empty() {
        None
    } else {
        Some(*rng.pick(&candidates))
    }
}

fn target_for(kind: IncidentKind, rng: &mut Rng, fleet: &[Function]) -> Target {
    use IncidentKind::*;
    let lambda = |f: &Function| busy(f) && f.platform == Platform::AwsLambda;
    let index = match kind {
        ColdStartStorm => return Target::Fleet,
        WorkflowFailures | WorkflowStuck => return Target::Workflows,
        // A function another one invokes, so callers see the throttles too.
        ThrottleStorm => {
            let invoked: Vec<usize> = fleet.iter().filter_map(|f| f.invokes).collect();
            if invoked.is_empty() {
                choose(rng, fleet, lambda)
            } else {
                Some(*rng.pick(&invoked))
            }
        }
        DlqBacklog => choose(rng, fleet, |f| f.trigger == Trigger::Sqs)
            .or_else(|| choose(rng, fleet, |f| f.dlq.is_some())),
        LateData => choose(rng, fleet, lambda),
        // A function that writes to the queue it consumes (or a bucket, a topic …).
        RecursiveLoop => choose(rng, fleet, |f| lambda(f) && f.trigger == Trigger::Sqs)
            .or_else(|| choose(rng, fleet, lambda)),
        ErrorBurst | LatencyRegression | BadDeploy => choose(rng, fleet, busy),
    };
    match index.or_else(|| choose(rng, fleet, busy)) {
        Some(index) => Target::Function {
            index,
            name: fleet[index].name.clone(),
        },
        None => Target::Fleet,
    }
}

fn bump(version: &str) -> String {
    version
        .parse::<u64>()
        .map_or_else(|_| format!("{version}.1"), |v| (v + 1).to_string())
}

impl Plan {
    /// The plan for `[start_ns, end_ns)`; with `period_ns` the incidents repeat every period.
    pub fn new(
        scenario: Scenario,
        seed: u64,
        fleet: &[Function],
        _workflows: &[Workflow],
        start_ns: u64,
        end_ns: u64,
        period_ns: Option<u64>,
    ) -> Plan {
        let window = end_ns.saturating_sub(start_ns).max(1);
        let period = period_ns.filter(|p| *p > 0).unwrap_or(window);
        let cycles = window.div_ceil(period);
        let mut incidents = Vec::new();
        let mut rollouts = Vec::new();
        let mut versions: Vec<String> = fleet.iter().map(|f| f.version.clone()).collect();
        for cycle in 0..cycles {
            let c0 = start_ns + cycle * period;
            let at = |frac: f64| c0 + (period as f64 * frac) as u64;
            let mut hit = Vec::new();
            for (kind, from, to) in layout(scenario) {
                let mut rng = Rng::derive(seed, &[0x91a7, kind.id(), cycle]);
                let target = target_for(kind, &mut rng, fleet);
                let versions = match (&target, kind) {
                    (Target::Function { index, .. }, IncidentKind::BadDeploy) => {
                        Some((versions[*index].clone(), bump(&versions[*index])))
                    }
                    _ => None,
                };
                if let Target::Function { index, .. } = &target {
                    hit.push(*index);
                }
                incidents.push(Incident {
                    kind,
                    target,
                    start_ns: at(from),
                    end_ns: at(to).min(end_ns),
                    versions,
                });
            }
            // One benign rollout per cycle, on a function no incident of this cycle hits.
            let mut rng = Rng::derive(seed, &[0x7011, cycle]);
            if let Some(index) = choose(&mut rng, fleet, |f| {
                busy(f) && !hit.iter().any(|h| fleet[*h].name == f.name)
            }) {
                let from = versions[index].clone();
                let to = bump(&from);
                versions[index] = to.clone();
                rollouts.push(Rollout {
                    function: fleet[index].name.clone(),
                    index,
                    at_ns: at(0.85),
                    from,
                    to,
                });
            }
        }
        incidents.retain(|i| i.start_ns < end_ns);
        rollouts.retain(|r| r.at_ns < end_ns);
        Plan {
            scenario,
            start_ns,
            end_ns,
            incidents,
            rollouts,
        }
    }

    /// The incidents of `kind` active at `t` that hit function `f`.
    pub fn active(&self, kind: IncidentKind, f: usize, t: u64) -> Option<&Incident> {
        self.incidents
            .iter()
            .find(|i| i.kind == kind && i.active(t) && i.hits(f))
    }

    /// Is a workflow incident active at `t`?
    pub fn workflows_failing(&self, t: u64) -> bool {
        self.incidents
            .iter()
            .any(|i| i.kind == IncidentKind::WorkflowFailures && i.active(t))
    }

    /// Temporal workflow tasks fail (non-determinism) and executions stall.
    pub fn workflows_stalling(&self, t: u64) -> bool {
        self.incidents
            .iter()
            .any(|i| i.kind == IncidentKind::WorkflowStuck && i.active(t))
    }

    /// The version of function `f` that benign rollouts have deployed by `t`.
    pub fn base_version<'a>(&'a self, f: usize, initial: &'a str, t: u64) -> &'a str {
        self.rollouts
            .iter()
            .rfind(|r| r.index == f && r.at_ns <= t)
            .map_or(initial, |r| r.to.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{fleet, workflows};

    const S: u64 = 1_800_000_000_000_000_000;
    const HOUR: u64 = 3_600_000_000_000;

    #[test]
    fn every_scenario_parses_from_its_name() {
        for s in Scenario::ALL {
            assert_eq!(s.name().parse::<Scenario>(), Ok(s));
        }
        // Dashes work too; unknown names list the choices.
        assert_eq!("error-burst".parse::<Scenario>(), Ok(Scenario::ErrorBurst));
        assert!(
            "nope"
                .parse::<Scenario>()
                .unwrap_err()
                .contains("steady, error_burst")
        );
    }

    #[test]
    fn single_incident_sits_in_the_middle_of_the_window() {
        let f = fleet(10);
        let p = Plan::new(Scenario::ErrorBurst, 1, &f, &workflows(), S, S + HOUR, None);
        assert_eq!(p.incidents.len(), 1);
        let i = &p.incidents[0];
        // 40 % .. 70 % of the hour.
        assert_eq!((i.start_ns - S, i.end_ns - S), (HOUR * 4 / 10, HOUR * 7 / 10));
        assert!(matches!(i.target, Target::Function { .. }));
    }

    #[test]
    fn a_period_repeats_incidents_and_mixed_has_all_kinds() {
        let f = fleet(10);
        let p = Plan::new(
            Scenario::ThrottleStorm,
            1,
            &f,
            &workflows(),
            S,
            S + HOUR,
            Some(HOUR / 4),
        );
        // Four periods, one storm each.
        assert_eq!(p.incidents.len(), 4);
        let m = Plan::new(Scenario::Mixed, 1, &f, &workflows(), S, S + 24 * HOUR, None);
        assert_eq!(m.incidents.len(), 8);
        // The throttle storm hits the function checkout-api invokes.
        let t = m
            .incidents
            .iter()
            .find(|i| i.kind == IncidentKind::ThrottleStorm)
            .unwrap();
        assert!(matches!(&t.target, Target::Function { name, .. } if name == "payments-authorize"));
    }

    #[test]
    fn the_benign_rollout_avoids_incident_targets() {
        let f = fleet(10);
        for seed in 0..20 {
            let p = Plan::new(Scenario::BadDeploy, seed, &f, &workflows(), S, S + HOUR, None);
            let Target::Function { index, .. } = p.incidents[0].target else {
                panic!("bad deploy hits one function")
            };
            assert!(p.rollouts.iter().all(|r| r.index != index), "seed {seed}");
        }
    }
}
