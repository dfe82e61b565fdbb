//! Execution environments per function: a new one means a cold start. Sandboxes are reused
//! while idle for less than their idle lifetime (minutes, as Lambda does), retire after a
//! maximum lifetime (hours), and serve one invocation at a time, so concurrency scales them out.

use crate::outbox::ResId;
use crate::resource::InstanceIds;

const MIN: u64 = 60_000_000_000;

/// One warm environment.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub res: ResId,
    pub ids: InstanceIds,
    pub started: u64,
    last_used: u64,
    busy_until: u64,
    idle_ttl: u64,
    max_life: u64,
    /// Memory the runtime holds when idle, MB.
    pub base_memory_mb: i64,
}

impl Instance {
    /// `jitter` in [0, 1) spreads idle and maximum lifetimes so sandboxes do not retire together.
    pub(crate) fn new(
        res: ResId,
        ids: InstanceIds,
        started: u64,
        jitter: f64,
        base_memory_mb: i64,
    ) -> Instance {
        Instance {
            res,
            ids,
            started,
            last_used: started,
            busy_until: started,
            idle_ttl: 5 * MIN + (jitter * 10.0 * MIN as f64) as u64,
            max_life: 90 * MIN + (jitter * 60.0 * MIN as f64) as u64,
            base_memory_mb,
        }
    }
}

/// The environments of one function.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    live: Vec<Instance>,
}

impl Pool {
    /// Retires idle-expired, too-old and (with `recycle_after`, a cold-start storm) recycled
    /// environments, then picks an idle one of `version` for an invocation at `t` lasting
    /// `busy_for`. `None`: the caller must start a new one (a cold start) and [`Pool::add`] it.
    pub(crate) fn acquire(
        &mut self,
        t: u64,
        busy_for: u64,
        version: &str,
        recycle_after: Option<u64>,
    ) -> Option<&Instance> {
        self.live.retain(|i| {
            let busy = i.busy_until > t;
            let expired = t.saturating_sub(i.last_used) > i.idle_ttl
                || t.saturating_sub(i.started) > i.max_life
                || recycle_after.is_some_and(|r| t.saturating_sub(i.started) > r);
            busy || !expired
        });
        let inst = self
            .live
            .iter_mut()
            .find(|i| i.busy_until <= t && i.ids.version == version)?;
        inst.busy_until = t + busy_for;
        inst.last_used = t + busy_for;
        Some(inst)
    }

    pub(crate) fn add(&mut self, mut inst: Instance, t: u64, busy_for: u64) -> &Instance {
        inst.busy_until = t + busy_for;
        inst.last_used = t + busy_for;
        self.live.push(inst);
        // INVARIANT: just pushed.
        &self.live[self.live.len() - 1]
    }

    /// Environments busy at `t` (concurrent executions).
    pub(crate) fn busy(&self, t: u64) -> u64 {
        self.live.iter().filter(|i| i.busy_until > t).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(v: &str) -> Instance {
        let ids = InstanceIds {
            faas_instance: "a".into(),
            service_instance: "b".into(),
            version: v.into(),
        };
        let mut r = crate::outbox::Resources::default();
        let id = r.add(Default::default());
        Instance::new(id, ids, 0, 0.0, 64)
    }

    #[test]
    fn reuse_concurrency_idle_expiry_and_versions() {
        let mut p = Pool::default();
        // Empty pool: cold.
        assert!(p.acquire(0, 100, "1", None).is_none());
        p.add(inst("1"), 0, 100);
        // Busy until 100: a concurrent invocation needs a second environment.
        assert!(p.acquire(50, 100, "1", None).is_none());
        // Idle again at 200: warm.
        assert!(p.acquire(200, 100, "1", None).is_some());
        // Another version never reuses it.
        assert!(p.acquire(400, 100, "2", None).is_none());
        // Idle longer than 5 minutes (jitter 0): retired.
        assert!(p.acquire(400 + 6 * MIN, 100, "1", None).is_none());
        assert_eq!(p.busy(400 + 6 * MIN), 0);
    }

    #[test]
    fn a_storm_recycles_environments_after_the_given_age() {
        let mut p = Pool::default();
        p.add(inst("1"), 0, 10);
        assert!(p.acquire(4_000_000_000, 10, "1", Some(5_000_000_000)).is_some());
        assert!(p.acquire(6_000_000_000, 10, "1", Some(5_000_000_000)).is_none());
    }
}
