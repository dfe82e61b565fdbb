//! Named crash points for the crash tests.
//!
//! `SLOD_FAILPOINTS=name[@N],...` makes the process abort (no cleanup, like `kill -9`) the N-th
//! time (default first) execution reaches `hit("name")`. Without the variable a hit costs one
//! relaxed atomic load.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

static POINTS: LazyLock<HashMap<String, (u64, AtomicU64)>> = LazyLock::new(|| {
    let spec = std::env::var("SLOD_FAILPOINTS").unwrap_or_default();
    spec.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let (name, n) = s.trim().split_once('@').unwrap_or((s.trim(), "1"));
            (name.to_string(), (n.parse().unwrap_or(1), AtomicU64::new(0)))
        })
        .collect()
});

pub(crate) fn hit(name: &str) {
    if POINTS.is_empty() {
        return;
    }
    if let Some((at, count)) = POINTS.get(name)
        && count.fetch_add(1, Ordering::Relaxed) + 1 == *at
    {
        eprintln!("slod: failpoint {name} reached; aborting");
        std::process::abort();
    }
}
