//! Named crash points for the crash tests.
//!
//! `SLOD_FAILPOINTS=name[@N],...` makes the process abort (no cleanup, like `kill -9`) the N-th
//! time (default first) execution reaches `hit("name")`; `name=sleep:MS` instead pauses there
//! for MS milliseconds every time (to make a stage slow on purpose). Without the variable a
//! hit costs one check of an empty map.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
enum Action {
    /// Abort on the N-th hit.
    AbortAt(u64, AtomicU64),
    Sleep(std::time::Duration),
}

static POINTS: LazyLock<HashMap<String, Action>> = LazyLock::new(|| {
    let spec = std::env::var("SLOD_FAILPOINTS").unwrap_or_default();
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if let Some((name, ms)) = s.split_once("=sleep:") {
                let ms = ms.parse().unwrap_or(1000);
                return (
                    name.to_string(),
                    Action::Sleep(std::time::Duration::from_millis(ms)),
                );
            }
            let (name, n) = s.split_once('@').unwrap_or((s, "1"));
            (
                name.to_string(),
                Action::AbortAt(n.parse().unwrap_or(1), AtomicU64::new(0)),
            )
        })
        .collect()
});

pub(crate) fn hit(name: &str) {
    if POINTS.is_empty() {
        return;
    }
    match POINTS.get(name) {
        Some(Action::AbortAt(at, count)) if count.fetch_add(1, Ordering::Relaxed) + 1 == *at => {
            eprintln!("slod: failpoint {name} reached; aborting");
            std::process::abort();
        }
        Some(Action::Sleep(d)) => std::thread::sleep(*d),
        _ => {}
    }
}
