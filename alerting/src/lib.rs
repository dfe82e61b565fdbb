//! slod's alerting: from the SLO engine's alert conditions to notifications people can act
//! on, with Alertmanager's semantics, because every on-call team already knows them (DESIGN §5).
//!
//! The pipeline is small stages, each a pure function of its input and the time it is given
//! (so tests replay any schedule exactly, with no sleeps):
//!
//! - [`labels`]: label sets and Alertmanager's fingerprints;
//! - [`matcher`]: `name="value"`, `!=`, `=~`, `!~` matchers;
//! - [`route`]: the routing tree (`matchers`, `continue`, nested routes, inherited `group_by`
//!   and timers) and its route keys;
//! - [`dispatch`]: aggregation groups with `group_wait` / `group_interval` timers;
//! - [`inhibit`]: inhibition rules (a firing page mutes the ticket of the same SLO);
//! - [`silence`]: silences with matchers, creator, comment and expiry;
//! - [`dedup`]: the notification log and Alertmanager's dedup decision with its reasons;
//! - [`state`]: alert state from the SLO engine's conditions (pending, firing, hold-down, resolved);
//! - [`webhook`]: the Alertmanager webhook v4 payload;
//! - [`outbox`]: the durable outbox and notification log (at-least-once, stable idempotency keys);
//! - [`deliver`]: one signed webhook attempt and its retry classification, and the backoff;
//! - [`pipeline`]: the stages composed, one call per evaluation or timer tick;
//! - [`config`]: the `alerting:` section (Alertmanager's shape), checked with every problem's path;
//! - [`service`]: the loop of `slod serve` that drives them, delivers from the outbox, pushes
//!   to Alertmanagers, and publishes alerts and notifications for the API.

pub mod config;
pub mod dedup;
pub mod deliver;
pub mod dispatch;
pub mod inhibit;
pub mod labels;
pub mod matcher;
pub mod outbox;
pub mod pipeline;
pub mod route;
pub mod service;
pub mod silence;
pub mod state;
pub mod webhook;

/// A duration in nanoseconds, saturating (alert times are unix nanoseconds).
pub(crate) fn ns(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
