//! Burn rates, error budgets and tier decisions over any source of windowed good/total counts.
//!
//! Burn over window W = (bad/valid in W) / (1 − objective), from summed counts (never an
//! average of ratios). A window with no valid events has no burn rate: it is *no data*, never
//! good. Pure functions of counts and a time: the live evaluator, `slod backtest` and the
//! workbook table tests all call the same code.

use std::time::Duration;

use serde::Serialize;

use crate::policy::{Policy, Tier};

/// Good and valid ("total") events summed over some range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    pub good: f64,
    pub total: f64,
}

impl Counts {
    pub fn bad(&self) -> f64 {
        (self.total - self.good).max(0.0)
    }

    /// good/total, `None` without valid events.
    pub fn sli(&self) -> Option<f64> {
        (self.total > 0.0).then(|| (self.good / self.total).clamp(0.0, 1.0))
    }

    /// (bad/total) / (1 − objective), `None` without valid events.
    pub fn burn_rate(&self, objective: f64) -> Option<f64> {
        (self.total > 0.0).then(|| (self.bad() / self.total).clamp(0.0, 1.0) / (1.0 - objective))
    }

    pub fn add(&mut self, other: Counts) {
        self.good += other.good;
        self.total += other.total;
    }
}

/// Anything that can sum counts over a time range: `[from, to)` in unix seconds.
pub trait WindowCounts {
    fn counts(&self, from: i64, to: i64) -> Counts;
}

/// The low-traffic guard: a tier fires only when its long window holds at least this many bad
/// events, so one failure among a handful of requests never pages on its own, while a total
/// outage of a low-traffic function (several failed requests in a row) still does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Guard {
    pub min_bad_events: f64,
}

impl Default for Guard {
    fn default() -> Self {
        Guard { min_bad_events: 3.0 }
    }
}

/// One window of one tier at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WindowEval {
    #[serde(skip)]
    pub window: Duration,
    pub counts: Counts,
    pub sli: Option<f64>,
    pub burn_rate: Option<f64>,
}

/// Why a tier does or does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TierState {
    /// Both windows burn above the factor and the guard is met.
    Firing,
    /// Burning, but fewer bad events than the low-traffic guard asks for.
    LowTraffic,
    /// The long window burns above the factor (guard met) but the short window has no valid
    /// events: nothing says the burn stopped or continues. The condition keeps its previous
    /// state, so a low-traffic function (a request every few minutes) does not flap.
    ShortWindowNoData,
    /// The long window has no valid events.
    NoData,
    Ok,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierEval {
    pub tier: Tier,
    pub long: WindowEval,
    pub short: WindowEval,
    pub state: TierState,
}

impl TierEval {
    /// Whether the condition holds now, given whether it held at the previous evaluation.
    pub fn holds(&self, held_before: bool) -> bool {
        match self.state {
            TierState::Firing => true,
            TierState::ShortWindowNoData => held_before,
            TierState::LowTraffic | TierState::NoData | TierState::Ok => false,
        }
    }
}

fn window(src: &dyn WindowCounts, now: i64, w: Duration, objective: f64) -> WindowEval {
    let from = now - i64::try_from(w.as_secs()).unwrap_or(i64::MAX / 2);
    let counts = src.counts(from, now);
    WindowEval {
        window: w,
        counts,
        sli: counts.sli(),
        burn_rate: counts.burn_rate(objective),
    }
}

/// Evaluates one tier at `now` (unix seconds; windows are `[now − W, now)`).
pub fn evaluate_tier(
    src: &dyn WindowCounts,
    now: i64,
    objective: f64,
    tier: &Tier,
    guard: Guard,
) -> TierEval {
    let long = window(src, now, tier.long, objective);
    let short = window(src, now, tier.short, objective);
    let guarded = long.counts.bad() + 1e-9 >= guard.min_bad_events;
    let state = match (long.burn_rate, short.burn_rate) {
        (None, _) => TierState::NoData,
        (Some(l), _) if l <= tier.burn_rate => TierState::Ok,
        (Some(_), _) if !guarded => TierState::LowTraffic,
        (Some(_), None) => TierState::ShortWindowNoData,
        (Some(_), Some(s)) if s > tier.burn_rate => TierState::Firing,
        (Some(_), Some(_)) => TierState::Ok,
    };
    TierEval {
        tier: tier.clone(),
        long,
        short,
        state,
    }
}

/// Evaluates every tier of a policy.
pub fn evaluate_policy(
    src: &dyn WindowCounts,
    now: i64,
    objective: f64,
    policy: &Policy,
    guard: Guard,
) -> Vec<TierEval> {
    policy
        .tiers
        .iter()
        .map(|t| evaluate_tier(src, now, objective, t, guard))
        .collect()
}

/// Fraction of the error budget left over an SLO window's counts: 1 − (bad/total)/(1 − objective).
/// Negative when overspent; `None` without valid events.
pub fn budget_remaining(window: Counts, objective: f64) -> Option<f64> {
    window.burn_rate(objective).map(|burn| 1.0 - burn)
}

/// Counts in fixed-size buckets with prefix sums: O(1) per window. Used by backtests,
/// simulations and the cold rebuild of a series.
#[derive(Debug, Clone)]
pub struct DenseSeries {
    origin: i64,
    step: i64,
    prefix_good: Vec<f64>,
    prefix_total: Vec<f64>,
}

impl DenseSeries {
    /// `buckets[i]` covers `[origin + i·step, origin + (i+1)·step)`.
    pub fn new(origin: i64, step: Duration, buckets: impl IntoIterator<Item = Counts>) -> DenseSeries {
        let mut prefix_good = vec![0.0];
        let mut prefix_total = vec![0.0];
        for c in buckets {
            prefix_good.push(prefix_good.last().copied().unwrap_or(0.0) + c.good);
            prefix_total.push(prefix_total.last().copied().unwrap_or(0.0) + c.total);
        }
        DenseSeries {
            origin,
            step: i64::try_from(step.as_secs()).unwrap_or(1).max(1),
            prefix_good,
            prefix_total,
        }
    }

    /// Unix seconds just after the last bucket.
    pub fn end(&self) -> i64 {
        self.origin + self.step * (self.prefix_total.len() as i64 - 1)
    }

    pub fn origin(&self) -> i64 {
        self.origin
    }

    fn index(&self, t: i64) -> usize {
        // Buckets that *start* before t are inside [.., t).
        let i = (t - self.origin + self.step - 1).div_euclid(self.step);
        i.clamp(0, self.prefix_total.len() as i64 - 1) as usize
    }
}

impl WindowCounts for DenseSeries {
    fn counts(&self, from: i64, to: i64) -> Counts {
        let (a, b) = (self.index(from), self.index(to));
        if b <= a {
            return Counts::default();
        }
        Counts {
            good: self.prefix_good[b] - self.prefix_good[a],
            total: self.prefix_total[b] - self.prefix_total[a],
        }
    }
}

#[cfg(test)]
mod tests;
