//! An SQS source queue with a redrive policy: a failed batch becomes visible again after the
//! visibility timeout; a message received `MAX_RECEIVES` times moves to the dead-letter queue.

use std::collections::VecDeque;

use crate::invocation::Message;
use crate::rng::Rng;

const VISIBILITY_TIMEOUT_NS: u64 = 30_000_000_000;
/// `maxReceiveCount` of the redrive policy.
const MAX_RECEIVES: u32 = 3;

#[derive(Debug, Default)]
pub(crate) struct Queue {
    /// Failed messages and when they become visible again.
    retrying: VecDeque<(u64, Message)>,
    /// Messages in the DLQ.
    pub dlq_depth: i64,
}

impl Queue {
    /// A batch for a poll at `t`: retries that are visible again first, then `new` fresh
    /// messages, each poison with probability `poison`.
    pub(crate) fn batch(&mut self, t: u64, new: usize, poison: f64, rng: &mut Rng) -> Vec<Message> {
        let mut out = Vec::with_capacity(new + 2);
        while out.len() < 10 && self.retrying.front().is_some_and(|(due, _)| *due <= t) {
            if let Some((_, mut m)) = self.retrying.pop_front() {
                m.receive_count += 1;
                out.push(m);
            }
        }
        for _ in 0..new {
            out.push(Message {
                id: rng.uuid(),
                receive_count: 1,
                poison: rng.chance(poison),
            });
        }
        out
    }

    /// Are retries due at `t` (a poll happens even without new messages)?
    pub(crate) fn retries_due(&self, t: u64) -> bool {
        self.retrying.front().is_some_and(|(due, _)| *due <= t)
    }

    /// The batch failed at `t`: messages go back to the queue, or to the DLQ on their last
    /// receive. Returns how many moved to the DLQ.
    pub(crate) fn failed(&mut self, t: u64, batch: &[Message]) -> i64 {
        let mut moved = 0;
        for m in batch {
            if m.receive_count >= MAX_RECEIVES {
                moved += 1;
            } else {
                self.retrying.push_back((t + VISIBILITY_TIMEOUT_NS, m.clone()));
            }
        }
        self.dlq_depth += moved;
        moved
    }

    /// Visible messages in the source queue: retries waiting plus a small arrival backlog.
    pub(crate) fn depth(&self, rng: &mut Rng) -> i64 {
        self.retrying.len() as i64 + rng.poisson(1.0) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poison_message_is_retried_then_dead_lettered() {
        let mut q = Queue::default();
        let mut rng = Rng::new(1);
        let b = q.batch(0, 1, 1.0, &mut rng);
        assert!(b[0].poison);
        let id = b[0].id.clone();
        // Receives 1 and 2 fail: back to the queue; not visible before the timeout.
        assert_eq!(q.failed(0, &b), 0);
        assert!(!q.retries_due(VISIBILITY_TIMEOUT_NS - 1));
        let b = q.batch(VISIBILITY_TIMEOUT_NS, 0, 0.0, &mut rng);
        assert_eq!((b[0].id.clone(), b[0].receive_count), (id, 2));
        assert_eq!(q.failed(VISIBILITY_TIMEOUT_NS, &b), 0);
        // Receive 3 fails: the message moves to the DLQ.
        let b = q.batch(2 * VISIBILITY_TIMEOUT_NS, 0, 0.0, &mut rng);
        assert_eq!(b[0].receive_count, 3);
        assert_eq!(q.failed(2 * VISIBILITY_TIMEOUT_NS, &b), 1);
        assert_eq!(q.dlq_depth, 1);
    }
}
