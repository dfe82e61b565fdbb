//! One SLI's rollup: good/total per minute for recent hours, per hour beyond.
//!
//! The minute tier covers the last [`MINUTE_TIER`]; the hour tier covers everything back to the
//! longest SLO window. Windows that fit in the minute tier are exact to the minute; longer ones
//! (3 days, 30 days) read whole hours up to the current hour and minutes after it, and the hour
//! in which the window starts pro rata (exact for steady traffic; at most one hour's deviation
//! from the mean in 3 days otherwise).
//! A 30-day window so reads ~720 hour rows and ≤ 60 minute rows instead of 43,200 minutes.

use std::collections::BTreeMap;

use crate::burn::{Counts, WindowCounts};

/// How far back minutes are kept (longest short window is 6h, longest minute-exact long
/// window 1d; two extra hours absorb late data).
pub const MINUTE_TIER: i64 = 26 * 3600;

const HOUR: i64 = 3600;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TieredSeries {
    minutes: BTreeMap<i64, Counts>,
    hours: BTreeMap<i64, Counts>,
    /// Minutes before this are no longer in the minute tier.
    minute_floor: i64,
}

fn floor_hour(t: i64) -> i64 {
    t.div_euclid(HOUR) * HOUR
}

impl TieredSeries {
    /// Rebuilds a series from persisted tiers (hours already include their minutes).
    pub fn restore(
        minutes: Vec<(i64, Counts)>,
        hours: Vec<(i64, Counts)>,
        minute_floor: i64,
    ) -> TieredSeries {
        TieredSeries {
            minutes: minutes.into_iter().filter(|(m, _)| *m >= minute_floor).collect(),
            hours: hours.into_iter().collect(),
            minute_floor,
        }
    }

    /// Sets the counts of one minute (replacing what was there, e.g. after late data).
    /// Minutes older than the minute tier update only their hour: use [`Self::set_hour`].
    pub fn set_minute(&mut self, minute: i64, counts: Counts) {
        if minute < self.minute_floor {
            return;
        }
        let old = self.minutes.insert(minute, counts).unwrap_or_default();
        let hour = self.hours.entry(floor_hour(minute)).or_default();
        hour.good += counts.good - old.good;
        hour.total += counts.total - old.total;
        if hour.total.abs() < 1e-9 && hour.good.abs() < 1e-9 {
            *hour = Counts::default();
        }
    }

    /// Forgets the minutes in `[from, to)` (before a recomputation of that range sets them).
    pub fn reset_minutes(&mut self, from: i64, to: i64) {
        let keys: Vec<i64> = self.minutes.range(from..to).map(|(k, _)| *k).collect();
        for k in keys {
            self.set_minute(k, Counts::default());
            self.minutes.remove(&k);
        }
    }

    /// Forgets the old hours in `[from, to)` (before a recomputation of that range sets them).
    pub fn reset_hours(&mut self, from: i64, to: i64) {
        let keys: Vec<i64> = self
            .hours
            .range(from..to.min(floor_hour(self.minute_floor)))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.hours.remove(&k);
        }
    }

    /// Replaces a whole hour (recomputed from raw data), for hours older than the minute tier.
    pub fn set_hour(&mut self, hour: i64, counts: Counts) {
        let hour = floor_hour(hour);
        if hour + HOUR > self.minute_floor {
            // Still (partly) in the minute tier: the minutes are authoritative.
            return;
        }
        self.hours.insert(hour, counts);
    }

    /// Drops minutes older than `now − MINUTE_TIER` and hours older than `keep_hours_from`.
    pub fn prune(&mut self, now: i64, keep_hours_from: i64) {
        self.minute_floor = self.minute_floor.max(floor_hour(now - MINUTE_TIER));
        self.minutes = self.minutes.split_off(&self.minute_floor);
        self.hours = self.hours.split_off(&floor_hour(keep_hours_from));
    }

    pub fn is_empty(&self) -> bool {
        self.hours.values().all(|c| c.total == 0.0)
    }

    /// The latest minute with valid events.
    pub fn last_data(&self) -> Option<i64> {
        self.minutes
            .iter()
            .rev()
            .find(|(_, c)| c.total > 0.0)
            .map(|(m, _)| *m)
            .or_else(|| {
                self.hours
                    .iter()
                    .rev()
                    .find(|(_, c)| c.total > 0.0)
                    .map(|(h, _)| *h)
            })
    }

    pub fn minutes(&self) -> impl Iterator<Item = (i64, Counts)> + '_ {
        self.minutes.iter().map(|(m, c)| (*m, *c))
    }

    pub fn hours(&self) -> impl Iterator<Item = (i64, Counts)> + '_ {
        self.hours.iter().map(|(h, c)| (*h, *c))
    }

    pub fn minute_floor(&self) -> i64 {
        self.minute_floor
    }

    fn sum_minutes(&self, from: i64, to: i64) -> Counts {
        let mut c = Counts::default();
        for (_, v) in self.minutes.range(from..to) {
            c.add(*v);
        }
        c
    }
}

impl WindowCounts for TieredSeries {
    fn counts(&self, from: i64, to: i64) -> Counts {
        if from >= self.minute_floor {
            return self.sum_minutes(from, to);
        }
        // The hour containing `from` pro rata, whole hours up to the hour containing `to`,
        // then minutes.
        let first = floor_hour(from);
        let split = floor_hour(to).max(first);
        let mut c = Counts::default();
        let mut start = first;
        if from > first && first < split {
            if let Some(v) = self.hours.get(&first) {
                let share = (first + HOUR - from) as f64 / HOUR as f64;
                c.add(Counts {
                    good: v.good * share,
                    total: v.total * share,
                });
            }
            start = first + HOUR;
        }
        for (_, v) in self.hours.range(start..split) {
            c.add(*v);
        }
        c.add(self.sum_minutes(split.max(self.minute_floor), to));
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(good: f64, total: f64) -> Counts {
        Counts { good, total }
    }

    #[test]
    fn short_windows_read_minutes_exactly() {
        let mut s = TieredSeries::default();
        for m in 0..120 {
            s.set_minute(m * 60, c(9.0, 10.0));
        }
        assert_eq!(s.counts(60 * 60, 65 * 60), c(45.0, 50.0));
        // Late data for one minute replaces it (and its hour).
        s.set_minute(61 * 60, c(0.0, 10.0));
        assert_eq!(s.counts(60 * 60, 65 * 60), c(36.0, 50.0));
        assert_eq!(s.hours().nth(1).map(|h| h.1), Some(c(531.0, 600.0)));
    }

    #[test]
    fn long_windows_read_hours_then_minutes() {
        let mut s = TieredSeries::default();
        let now = 4 * 86_400;
        for m in 0..(now / 60) {
            s.set_minute(m * 60, c(1.0, 1.0));
        }
        s.prune(now, 0);
        assert!(s.minute_floor() > 0);
        assert_eq!(s.minutes().count() as i64, (now - s.minute_floor()) / 60);
        // A 3-day window: 4320 minutes, from hours and minutes together.
        assert_eq!(s.counts(now - 3 * 86_400, now), c(4320.0, 4320.0));
        // A start mid-hour takes that hour pro rata.
        let from = now - 3 * 86_400 + 20 * 60;
        assert_eq!(s.counts(from, now).total, 4300.0);
        let from = now - 3 * 86_400 + 40 * 60;
        assert!((s.counts(from, now).total - 4280.0).abs() < 1e-9);
        // A window ending mid-hour: hours up to that hour, minutes after.
        let to = now - 30 * 60;
        assert_eq!(s.counts(to - 2 * 86_400, to).total, 2880.0);
    }

    #[test]
    fn old_hours_are_replaced_by_recomputation_only() {
        let mut s = TieredSeries::default();
        s.set_minute(0, c(1.0, 1.0));
        s.prune(3 * 86_400, 0);
        s.set_minute(60, c(5.0, 5.0)); // too old for the minute tier: ignored
        assert_eq!(s.counts(0, 3 * 86_400), c(1.0, 1.0));
        s.set_hour(0, c(50.0, 60.0)); // a late-data recomputation of that hour
        assert_eq!(s.counts(0, 3 * 86_400), c(50.0, 60.0));
        assert_eq!(s.last_data(), Some(0));
    }
}
