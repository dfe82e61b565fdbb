//! `slod demo` in a shortened mode (20 minutes of history, lower volume): it starts, shows the
//! SLO table, tells how to connect, an SLO burn-rate page fires and resolves at its webhook
//! sink, and it exits 0 on its own, removing its data.

use std::process::Command;

fn number_before(text: &str, marker: &str) -> Option<u64> {
    let at = text.find(marker)?;
    text[..at].split_whitespace().last()?.parse().ok()
}

#[test]
fn demo_fires_and_resolves_a_page_and_exits_cleanly() {
    let out = Command::new(env!("CARGO_BIN_EXE_slod"))
        .args([
            "demo",
            "--duration",
            "4m",
            "--backfill",
            "20m",
            "--volume",
            "40",
            "--every",
            "20",
        ])
        .env("SLOD_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}\n--- stderr ---\n{stderr}");
    assert!(out.status.success(), "{all}");
    for want in [
        "psql -h 127.0.0.1 -p ",
        "DEMO POLICY",
        "SLO instances:",
        "BUDGET LEFT",
        "NOTIFICATION firing   [page] SLOBurnRate",
        "Stopped cleanly",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{all}");
    }
    let summary = stdout
        .lines()
        .find(|l| l.contains("SLO burn-rate pages:"))
        .unwrap_or_else(|| panic!("no summary in:\n{all}"));
    let fired = number_before(summary, "fired,").unwrap_or(0);
    let resolved = number_before(summary, "resolved. Stopped").unwrap_or(0);
    assert!(fired >= 1 && resolved >= 1, "{summary}\n{all}");
    // The data directory is gone.
    let dir = summary.rsplit("removing ").next().unwrap().trim_end_matches('.');
    assert!(!std::path::Path::new(dir).exists(), "{dir} left behind");
}
