//! Expected values come from `config/slod.example.yaml`'s documented defaults and hand
//! conversion of its sizes and durations (64MiB = 64 × 2^20 bytes, 30d = 30 × 86400 s, …).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn invalid(name: &str) -> PathBuf {
    repo().join("config/testdata/invalid").join(name)
}

/// Every `*.yaml` under `dir`, recursively, except `skip`.
fn yaml_files(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path == skip {
            continue;
        }
        if path.is_dir() {
            yaml_files(&path, skip, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

#[test]
fn every_shipped_config_and_slo_file_is_valid() {
    let mut files = Vec::new();
    yaml_files(
        &repo().join("config"),
        &repo().join("config/testdata"),
        &mut files,
    );
    assert!(
        files.iter().any(|f| f.ends_with("slod.example.yaml")),
        "found {files:?}"
    );
    for f in files {
        let problems = crate::check::check_file(&f);
        assert!(problems.is_empty(), "{}: {problems:#?}", f.display());
    }
}

/// Asserts two validated settings are the same, field by field. Exhaustive destructuring: a new
/// field does not compile until it is compared here.
fn assert_same_settings(a: &Settings, b: &Settings) {
    let Settings {
        otlp_grpc_addr,
        otlp_http_addr,
        http_addr,
        pg_addr,
        pg_password,
        pg_tls,
        storage,
        max_request_bytes,
        query_timeout,
        query_memory_bytes,
        ingest_token,
        query_token,
        slo,
        catalogue,
        alerting,
    } = a;
    assert_eq!(format!("{alerting:?}"), format!("{:?}", b.alerting));
    assert_eq!(format!("{slo:?}"), format!("{:?}", b.slo));
    assert_eq!(format!("{catalogue:?}"), format!("{:?}", b.catalogue));
    assert_eq!(*otlp_grpc_addr, b.otlp_grpc_addr);
    assert_eq!(*otlp_http_addr, b.otlp_http_addr);
    assert_eq!(*http_addr, b.http_addr);
    assert_eq!(*pg_addr, b.pg_addr);
    assert_eq!(*pg_password, b.pg_password);
    assert_eq!(*pg_tls, b.pg_tls);
    assert_eq!(*max_request_bytes, b.max_request_bytes);
    assert_eq!(*query_timeout, b.query_timeout);
    assert_eq!(*query_memory_bytes, b.query_memory_bytes);
    assert_eq!(*ingest_token, b.ingest_token);
    assert_eq!(*query_token, b.query_token);
    let slod_storage::StorageOptions {
        data_dir,
        flush_max_bytes,
        flush_interval,
        wal_group_commit,
        wal_segment_max_bytes,
        retention,
        max_buffered_bytes,
        compaction_min_files,
        compaction_max_rows,
        file_grace,
        maintenance_interval,
    } = storage;
    let o = &b.storage;
    assert_eq!(*data_dir, o.data_dir);
    assert_eq!(*flush_max_bytes, o.flush_max_bytes);
    assert_eq!(*flush_interval, o.flush_interval);
    assert_eq!(*wal_group_commit, o.wal_group_commit);
    assert_eq!(*wal_segment_max_bytes, o.wal_segment_max_bytes);
    assert_eq!(*retention, o.retention);
    assert_eq!(*max_buffered_bytes, o.max_buffered_bytes);
    assert_eq!(*compaction_min_files, o.compaction_min_files);
    assert_eq!(*compaction_max_rows, o.compaction_max_rows);
    assert_eq!(*file_grace, o.file_grace);
    assert_eq!(*maintenance_interval, o.maintenance_interval);
}

#[test]
fn default_config_is_the_example_file() {
    let default = Config::default();
    let example = Config::load(&repo().join("config/slod.example.yaml")).unwrap();
    // The example says "every field, with its default": section by section the same…
    assert_eq!(example.server, default.server);
    assert_eq!(example.storage, default.storage);
    assert_eq!(example.limits, default.limits);
    assert_eq!(example.telemetry, default.telemetry);
    assert_eq!(example.pricing, default.pricing);
    assert_eq!(example.pg, default.pg);
    assert_eq!(example.query, default.query);
    assert_eq!(example.slo, default.slo);
    assert_eq!(example.alerting, default.alerting);
    assert_eq!(example.functions, default.functions);

    let d = default.validate().unwrap();
    let e = example.validate().unwrap();
    assert_same_settings(&d, &e);
    // The documented defaults, converted by hand.
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    assert_eq!(d.otlp_grpc_addr, addr("127.0.0.1:4317"));
    assert_eq!(d.otlp_http_addr, addr("127.0.0.1:4318"));
    assert_eq!(d.http_addr, addr("127.0.0.1:8080"));
    assert_eq!(d.storage.data_dir, PathBuf::from("./data"));
    assert_eq!(d.storage.flush_max_bytes, 64 * 1024 * 1024);
    assert_eq!(d.storage.flush_interval, Duration::from_secs(60));
    assert_eq!(d.storage.wal_group_commit, Duration::from_millis(2));
    assert_eq!(d.storage.retention, Some(Duration::from_secs(30 * 86_400)));
    assert_eq!(d.storage.max_buffered_bytes, 512 * 1024 * 1024);
    assert_eq!(d.storage.compaction_min_files, 4);
    assert_eq!(d.storage.maintenance_interval, Duration::from_secs(10));
    assert_eq!(d.max_request_bytes, 64 * 1024 * 1024);
    assert_eq!(d.query_timeout, Duration::from_secs(30));
    assert_eq!(d.query_memory_bytes, 1024 * 1024 * 1024);
}

#[test]
fn retention_null_keeps_everything() {
    let c = Config::parse("storage:\n  retention: null\n", "inline.yaml").unwrap();
    assert_eq!(c.validate().unwrap().storage.retention, None);
}

#[test]
fn each_validation_rule_reports_every_offending_key() {
    const DURATION_HINT: &str = "is not a duration: write a number and a unit, e.g. 30s, 5m, 2ms, 30d";
    const SIZE_HINT: &str = "is not a size: write a number and a unit, e.g. 64MiB, 512MB, 1GiB";
    const ADDR_HINT: &str =
        "is not an address: write ip:port, e.g. 127.0.0.1:4317 (host names are not resolved)";
    let cases: Vec<(&str, Vec<String>)> = vec![
        // Addresses are IP:port; a host name, a missing port or IP, and a port above 65535 fail.
        (
            "bad_address.yaml",
            vec![
                format!(r#"server.otlp_grpc_addr: "localhost:4317" {ADDR_HINT}"#),
                format!(r#"server.otlp_http_addr: "127.0.0.1" {ADDR_HINT}"#),
                format!(r#"server.http_addr: ":8080" {ADDR_HINT}"#),
                format!(r#"server.pg_addr: "127.0.0.1:99999" {ADDR_HINT}"#),
            ],
        ),
        // Sizes: unknown unit, wrong case, no number, zero.
        (
            "bad_size.yaml",
            vec![
                format!(r#"storage.flush_max_size: "64 MeB" {SIZE_HINT}"#),
                format!(r#"limits.max_request_size: "64mib" {SIZE_HINT}"#),
                format!(r#"limits.max_buffered: "lots" {SIZE_HINT}"#),
                format!(r#"limits.query_memory: "0" {SIZE_HINT}"#),
            ],
        ),
        // Durations: words, no unit, an unknown unit, a negative value, empty.
        (
            "bad_duration.yaml",
            vec![
                format!(r#"storage.flush_interval: "60" {DURATION_HINT}"#),
                format!(r#"storage.wal_group_commit: "2 fortnights" {DURATION_HINT}"#),
                format!(r#"storage.maintenance_interval: "-10s" {DURATION_HINT}"#),
                format!(r#"storage.retention: "a month" {DURATION_HINT}"#),
                format!(r#"limits.query_timeout: "" {DURATION_HINT}"#),
            ],
        ),
        // Object storage is not there yet.
        (
            "storage_url.yaml",
            vec![
                "storage.url: object storage is not supported yet; remove the key to use storage.data_dir"
                    .into(),
            ],
        ),
        // Only the embedded query engine exists.
        (
            "query_engine.yaml",
            vec![r#"query.engine: "ballista" is not supported yet; use embedded"#.into()],
        ),
        // Compaction needs at least two files to merge.
        (
            "compaction_min_files.yaml",
            vec!["storage.compaction_min_files: must be at least 2".into()],
        ),
        // 300MiB > 512MiB / 2.
        (
            "flush_max_size_over_half_buffered.yaml",
            vec![
                "storage.flush_max_size: 300MiB must be at most half of limits.max_buffered (512MiB), \
                 or ingest would stall before a flush starts"
                    .into(),
            ],
        ),
        // A zero interval, quoted as written.
        (
            "flush_interval_zero.yaml",
            vec![r#"storage.flush_interval: "0s" must be more than zero, e.g. 60s"#.into()],
        ),
        // Retention under an hour would drop data as it arrives.
        (
            "retention_too_short.yaml",
            vec![
                r#"storage.retention: "0s" would drop data as it arrives: use at least 1h (e.g. 30d), or null to keep everything"#
                    .into(),
            ],
        ),
        // TLS needs a certificate and its key.
        (
            "pg_tls_half.yaml",
            vec![
                "pg: tls_cert and tls_key go together: set both (PEM files) to serve TLS, or neither"
                    .into(),
            ],
        ),
        // Per-function durations name the function; the valid "*" entry adds nothing.
        (
            "function_duration.yaml",
            vec![
                format!(r#"functions."checkout".timeout: "thirty" {DURATION_HINT}"#),
                format!(r#"functions."checkout".latency_threshold: "1" {DURATION_HINT}"#),
            ],
        ),
    ];
    for (file, want) in cases {
        let config = Config::load(&invalid(file)).unwrap_or_else(|e| panic!("{file}: {e:#}"));
        let problems = config.validate().err().unwrap_or_default();
        assert_eq!(problems, want, "{file}");
    }
    // Every fixture in the directory is covered by a case above or by the unknown-key test.
    let mut fixtures: Vec<String> = std::fs::read_dir(repo().join("config/testdata/invalid"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    fixtures.sort();
    assert_eq!(
        fixtures,
        vec![
            "bad_address.yaml",
            "bad_duration.yaml",
            "bad_size.yaml",
            "compaction_min_files.yaml",
            "flush_interval_zero.yaml",
            "flush_max_size_over_half_buffered.yaml",
            "function_duration.yaml",
            "pg_tls_half.yaml",
            "query_engine.yaml",
            "retention_too_short.yaml",
            "storage_url.yaml",
            "unknown_key.yaml",
        ]
    );
}

#[test]
fn unknown_keys_are_refused_with_file_and_line() {
    // (yaml, line of the unknown key, the key)
    let cases = [
        // At the top level.
        ("servr:\n  http_addr: 127.0.0.1:8080\n", 1, "servr"),
        // Inside a section.
        (
            "server:\n  http_addr: 127.0.0.1:8080\n  http_adr: 127.0.0.1:8081\n",
            3,
            "http_adr",
        ),
        // Inside a map entry of `functions`.
        ("functions:\n  checkout:\n    timeot: 3s\n", 3, "timeot"),
        // In a flow mapping.
        ("# comment\n\npg: { tls_cert: null, tls_ky: null }\n", 3, "tls_ky"),
        // After other sections.
        (
            "storage:\n  data_dir: ./d\nlimits:\n  query_timeout: 5s\n  query_memroy: 1GiB\n",
            5,
            "query_memroy",
        ),
    ];
    for (yaml, line, key) in cases {
        let err = Config::parse(yaml, "slod.yaml").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("slod.yaml:{line}:")),
            "{key}: message starts with file:line: {err}"
        );
        assert!(
            err.contains(&format!("unknown field `{key}`")),
            "{key}: names the key: {err}"
        );
    }
    // Loaded from a file, the message carries the file's path.
    let path = invalid("unknown_key.yaml");
    let err = format!("{:#}", Config::load(&path).unwrap_err());
    assert!(err.starts_with(&format!("{}:6:", path.display())), "{err}");
    assert!(err.contains("unknown field `retension`"), "{err}");
    // `slo` and `alerting` are checked like every section.
    let err = format!(
        "{:#}",
        Config::parse("slo:\n  anything: 1\n", "slod.yaml").unwrap_err()
    );
    assert!(err.contains("unknown field `anything`"), "{err}");
    let err = format!(
        "{:#}",
        Config::parse("alerting:\n  anything: 1\n", "slod.yaml").unwrap_err()
    );
    assert!(err.contains("unknown field `anything`"), "{err}");
    // Alertmanager's own keys slod does not use are accepted; a receiver without its secret is
    // refused with the key path.
    let c = Config::parse(
        "alerting:\n  global: { resolve_timeout: 5m }\n  receivers:\n    - name: hook\n      webhook_configs: [ { url: 'http://127.0.0.1:9/x', hmac_secret_env: SLOD_TEST_UNSET_SECRET } ]\n",
        "slod.yaml",
    )
    .unwrap();
    let errors = c.validate().unwrap_err().join("\n");
    assert!(
        errors.contains("alerting.receivers[0].webhook_configs[0].hmac_secret_env: the environment variable SLOD_TEST_UNSET_SECRET is not set"),
        "{errors}"
    );
}

#[test]
fn parse_size_reads_numbers_with_units() {
    let cases = [
        // IEC units are powers of 1024.
        ("64MiB", Some(64 * 1024 * 1024)),
        ("1GiB", Some(1024 * 1024 * 1024)),
        ("1KiB", Some(1024)),
        // SI units are powers of 1000.
        ("512MB", Some(512_000_000)),
        ("1GB", Some(1_000_000_000)),
        ("1KB", Some(1000)),
        ("1kB", Some(1000)),
        // A bare number, or B, is bytes.
        ("4096", Some(4096)),
        ("4096B", Some(4096)),
        // Fractions: 1.5 × 2^30.
        ("1.5GiB", Some(1_610_612_736)),
        // Surrounding space and a space before the unit are fine.
        (" 64MiB ", Some(64 * 1024 * 1024)),
        ("10 MiB", Some(10 * 1024 * 1024)),
        // Zero parses (validation refuses it).
        ("0", Some(0)),
        // Refused: empty, unit only, wrong case, unknown unit, negative, exponent, two dots.
        ("", None),
        ("MiB", None),
        ("64mib", None),
        ("1TB", None),
        ("-1", None),
        ("1e3", None),
        ("1.2.3MB", None),
        ("64MiBs", None),
    ];
    for (text, want) in cases {
        assert_eq!(parse_size(text), want, "{text:?}");
    }
}

#[test]
fn parse_duration_reads_numbers_with_units() {
    let cases = [
        ("30s", Some(Duration::from_secs(30))),
        ("5m", Some(Duration::from_secs(300))),
        ("2ms", Some(Duration::from_millis(2))),
        // A day is 86400 s.
        ("30d", Some(Duration::from_secs(30 * 86_400))),
        ("1h30m", Some(Duration::from_secs(5400))),
        ("1w", Some(Duration::from_secs(7 * 86_400))),
        // Surrounding space is trimmed.
        (" 10s ", Some(Duration::from_secs(10))),
        // Zero parses (validation decides where it is allowed).
        ("0s", Some(Duration::ZERO)),
        // Refused: empty, no unit, unit only, negative, unknown unit.
        ("", None),
        ("30", None),
        ("s", None),
        ("-5s", None),
        ("5 parsecs", None),
    ];
    for (text, want) in cases {
        assert_eq!(parse_duration(text), want, "{text:?}");
    }
}
