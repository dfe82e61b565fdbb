//! Durations as SLO files write them: `30s`, `5m`, `1h`, `3d`, `4w`, combinations such as
//! `1h30m`, and Go/Prometheus-style `1h30m`; milliseconds as `800ms`.

use std::time::Duration;

/// Parses `800ms`, `30s`, `5m`, `1h`, `3d`, `2w` and concatenations (`1h30m`).
/// Months and years are refused: their length varies, use a calendar window instead.
pub fn parse(text: &str) -> Option<Duration> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let mut total_ms: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u128 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit_ms: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_ms = total_ms.checked_add(n.checked_mul(unit_ms)?)?;
    }
    u64::try_from(total_ms).ok().map(Duration::from_millis)
}

/// Formats a duration the way SLO files write it (`5m`, `1h`, `3d`, `1h30m`, `800ms`).
pub fn format(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("w", 7 * 86_400_000u128),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            // Weeks only when the duration is a whole number of weeks (`4w`), else days (`30d`).
            if unit == "w" && !ms.is_multiple_of(size) {
                continue;
            }
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (text, secs) in [
            ("5m", 300),
            ("1h", 3600),
            ("30m", 1800),
            ("6h", 21600),
            ("3d", 259_200),
            ("30d", 2_592_000),
            ("4w", 2_419_200),
            ("1h30m", 5400),
        ] {
            let d = parse(text).unwrap();
            assert_eq!(d.as_secs(), secs, "{text}");
            assert_eq!(format(d), text);
        }
        assert_eq!(parse("800ms"), Some(Duration::from_millis(800)));
        for bad in ["", "5", "m", "1M", "1y", "5 m", "-5m", "1.5h"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
