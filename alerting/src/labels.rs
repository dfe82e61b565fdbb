//! Label sets and their fingerprints, exactly as Alertmanager computes them, so the
//! `fingerprint` in a webhook payload is the one Alertmanager would print for the same alert.

use std::collections::BTreeMap;

/// An alert's identity: label name → value, sorted by name.
pub type LabelSet = BTreeMap<String, String>;

const OFFSET64: u64 = 14_695_981_039_346_656_037;
const PRIME64: u64 = 1_099_511_628_211;
/// prometheus/common `model.SeparatorByte`.
const SEPARATOR: u8 = 0xff;

fn fnv_add(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(PRIME64);
    }
    h
}

/// prometheus/common `LabelSet.Fingerprint()`: FNV-1a 64 over the sorted label names, each as
/// `name 0xff value 0xff`.
pub fn fingerprint(labels: &LabelSet) -> u64 {
    labels.iter().fold(OFFSET64, |h, (k, v)| {
        let h = fnv_add(h, k.as_bytes());
        let h = fnv_add(h, &[SEPARATOR]);
        let h = fnv_add(h, v.as_bytes());
        fnv_add(h, &[SEPARATOR])
    })
}

/// `Fingerprint.String()`: 16 lower-case hex digits.
pub fn fingerprint_hex(labels: &LabelSet) -> String {
    format!("{:016x}", fingerprint(labels))
}

/// A label value as Go's `%q` quotes it (what Alertmanager prints in group keys and matchers).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `model.LabelSet.String()`: `{a="1", b="2"}`, sorted by name.
pub fn label_set_string(labels: &LabelSet) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Builds a label set from pairs (tests and callers with literals).
pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> LabelSet {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_prometheus_fnv1a() {
        // The empty set is FNV's offset basis (prometheus/common emptyLabelSignature).
        assert_eq!(fingerprint(&LabelSet::new()), OFFSET64);
        // Order of insertion does not matter; every byte does.
        let a = labels([("alertname", "SLOBurnRate"), ("slo", "checkout")]);
        let b = labels([("slo", "checkout"), ("alertname", "SLOBurnRate")]);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(
            fingerprint(&a),
            fingerprint(&labels([("alertname", "SLOBurnRat"), ("eslo", "checkout")]))
        );
        // By hand: FNV-1a of "a" 0xff "b" 0xff.
        let mut h = OFFSET64;
        for byte in [b'a', 0xff, b'b', 0xff] {
            h ^= u64::from(byte);
            h = h.wrapping_mul(PRIME64);
        }
        assert_eq!(fingerprint(&labels([("a", "b")])), h);
        assert_eq!(fingerprint_hex(&labels([("a", "b")])).len(), 16);
    }

    #[test]
    fn label_sets_print_as_go_does() {
        let l = labels([("service", "checkout"), ("alertname", "X \"y\"")]);
        assert_eq!(
            label_set_string(&l),
            r#"{alertname="X \"y\"", service="checkout"}"#
        );
        assert_eq!(label_set_string(&LabelSet::new()), "{}");
    }
}
