//! A token bucket for `--rate`: time is passed in, so tests drive it with a simulated clock.
//!
//! Guarantee: the bucket starts empty and refills at `rate` tokens per second, so by any time
//! `t` after creation at most `rate × t` items have been taken. Over any window of length `w`
//! at most `rate × w + capacity` are taken (the capacity, a small burst allowance, is what may
//! have been saved before the window).

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// `rate` items per second (> 0), at most `capacity` saved up.
    pub fn new(rate: f64, capacity: f64) -> TokenBucket {
        TokenBucket {
            rate: rate.max(1e-9),
            capacity: capacity.max(1.0),
            tokens: 0.0,
            last: Duration::ZERO,
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn capacity(&self) -> f64 {
        self.capacity
    }

    fn refill(&mut self, now: Duration, cap: f64) {
        if now > self.last {
            let dt = (now - self.last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(cap);
            self.last = now;
        }
    }

    /// Takes `n` tokens at `now` (time since the bucket's creation), or says how long to wait
    /// before asking again. A request larger than the capacity waits until that many tokens
    /// have accrued, so the `rate × t` bound holds for it too.
    pub fn try_take(&mut self, n: u64, now: Duration) -> Result<(), Duration> {
        let need = n as f64;
        self.refill(now, self.capacity.max(need));
        if self.tokens + 1e-9 >= need {
            self.tokens -= need;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((need - self.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Drives a bucket with a simulated clock: each attempt either sends or advances time by
    /// the wait it was told. Returns (time, items) of every send.
    fn drive(rate: f64, capacity: f64, seconds: f64, seed: u64, idle: f64) -> Vec<(f64, u64)> {
        let mut b = TokenBucket::new(rate, capacity);
        let mut rng = Rng::new(seed);
        let mut now = Duration::ZERO;
        let mut sends = Vec::new();
        while now.as_secs_f64() < seconds {
            // Mixed request sizes, sometimes bigger than the capacity.
            let n = rng.range(1, (capacity * 1.5) as u64 + 2);
            loop {
                match b.try_take(n, now) {
                    Ok(()) => {
                        sends.push((now.as_secs_f64(), n));
                        // The sender is sometimes idle (live mode waits for data).
                        if rng.chance(idle) {
                            now += Duration::from_millis(rng.range(0, 700));
                        }
                        break;
                    }
                    Err(wait) => now += wait,
                }
            }
        }
        sends
    }

    #[test]
    fn never_exceeds_the_rate_since_start_nor_rate_plus_burst_in_any_window() {
        for (rate, capacity, seed) in [(100.0, 10.0, 1), (5000.0, 512.0, 2), (3.0, 1.0, 3)] {
            let sends = drive(rate, capacity, 60.0, seed, 0.1);
            let mut total = 0u64;
            for (t, n) in &sends {
                total += n;
                // Cumulative bound at every send: rate × t (tiny float slack).
                assert!(
                    total as f64 <= rate * t + 1e-6,
                    "rate {rate}: {total} items by {t}s"
                );
            }
            // Any 1 s window: at most rate + capacity (+ the larger-than-capacity request).
            let biggest = sends.iter().map(|s| s.1).max().unwrap_or(0) as f64;
            for (k, (t0, _)) in sends.iter().enumerate() {
                let in_window: u64 = sends[k..]
                    .iter()
                    .take_while(|(t, _)| *t < t0 + 1.0)
                    .map(|s| s.1)
                    .sum();
                assert!(
                    in_window as f64 <= rate + capacity.max(biggest) + 1e-6,
                    "rate {rate}: {in_window} items in the second after {t0}"
                );
            }
        }
    }

    #[test]
    fn a_busy_sender_gets_the_full_rate() {
        for (rate, capacity, seed) in [(100.0, 10.0, 1), (5000.0, 512.0, 2), (3.0, 1.0, 3)] {
            let sends = drive(rate, capacity, 60.0, seed, 0.0);
            let total: u64 = sends.iter().map(|s| s.1).sum();
            let last = sends.last().map_or(1.0, |s| s.0);
            // Never idle: everything that accrued was sent (within one request).
            let biggest = sends.iter().map(|s| s.1).max().unwrap_or(0) as f64;
            assert!(
                total as f64 >= rate * last - biggest,
                "rate {rate}: only {total} in {last}s"
            );
        }
    }

    #[test]
    fn a_fresh_bucket_makes_the_first_request_wait() {
        let mut b = TokenBucket::new(10.0, 5.0);
        // Empty at start: 5 items need half a second.
        assert_eq!(b.try_take(5, Duration::ZERO), Err(Duration::from_millis(500)));
        assert_eq!(b.try_take(5, Duration::from_millis(500)), Ok(()));
        // A request above the capacity waits until enough has accrued.
        assert!(b.try_take(20, Duration::from_millis(600)).is_err());
        assert_eq!(b.try_take(20, Duration::from_millis(2500)), Ok(()));
    }
}
