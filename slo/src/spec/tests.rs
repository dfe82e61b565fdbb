//! The shipped example SLO files parse into exactly the specs their comments describe.

use std::path::Path;

use super::*;
use crate::policy::Severity;

fn shipped(name: &str) -> Vec<SloSpec> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/slos")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let (slos, errors) = parse_file(name, &text);
    assert!(errors.is_empty(), "{errors:#?}");
    slos
}

#[test]
fn native_example_file() {
    let slos = shipped("checkout.yaml");
    let names: Vec<&str> = slos.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "checkout-availability",
            "checkout-latency",
            "orders-cold-starts",
            "payments-dlq-empty",
            "order-workflow-success",
            "checkout-5xx-free"
        ]
    );
    let latency = &slos[1];
    assert_eq!(
        latency.sli,
        Sli::Latency {
            threshold: Some(Duration::from_millis(800))
        }
    );
    assert_eq!(latency.objective, 0.99);
    assert_eq!(
        latency.window,
        SloWindow::Rolling(Duration::from_secs(30 * 86_400))
    );
    assert_eq!(latency.labels.get("team").map(String::as_str), Some("payments"));
    assert_eq!(latency.origin.line, 13);

    let cold = &slos[2];
    assert_eq!(cold.window, SloWindow::CalendarMonth);
    assert_eq!(
        cold.selector.get("service_name").map(String::as_str),
        Some("orders")
    );
    assert_eq!(
        cold.selector.get("faas_name").map(String::as_str),
        Some("orders-*")
    );

    // budget_consumed 2 % over 1h of a 30-day window is the workbook's 14.4×; 10 % over 1d is 3×.
    let dlq = slos[3].policy.as_ref().unwrap();
    assert!((dlq.tiers[0].burn_rate - 14.4).abs() < 1e-9);
    assert!((dlq.tiers[1].burn_rate - 3.0).abs() < 1e-9);
    assert_eq!(dlq.tiers[1].severity, Severity::ticket());
    assert_eq!(slos[3].sli, Sli::Dlq { max_depth: 0.0 });
    assert_eq!(slos[4].min_bad_events, Some(5.0));
    assert!(matches!(&slos[5].sli, Sli::Custom { sql } if sql.contains("GROUP BY 1")));
}

#[test]
fn openslo_example_file() {
    let slos = shipped("orders-openslo.yaml");
    assert_eq!(slos.len(), 1);
    let s = &slos[0];
    assert_eq!(s.name, "orders-availability");
    assert_eq!(s.sli, Sli::Availability);
    assert_eq!(s.selector.get("service_name").map(String::as_str), Some("orders"));
    assert_eq!(s.objective, 0.999);
    assert_eq!(s.window, SloWindow::Rolling(Duration::from_secs(28 * 86_400)));
    assert_eq!(s.runbook_url.as_deref(), Some("https://runbooks.example/orders"));
    let policy = s.policy.as_ref().unwrap();
    let tiers: Vec<(String, String, f64)> = policy
        .tiers
        .iter()
        .map(|t| (t.severity.0.clone(), t.windows(), t.burn_rate))
        .collect();
    assert_eq!(
        tiers,
        [
            ("page".to_string(), "1h/5m".to_string(), 14.4),
            ("ticket".into(), "3d/6h".into(), 1.0)
        ]
    );
    assert!(!s.alert_on_no_data);
}

#[test]
fn openslo_good_total_queries_become_a_custom_sli() {
    let text = r#"
apiVersion: openslo/v1
kind: SLO
metadata: { name: api-ok }
spec:
  service: api
  budgetingMethod: Occurrences
  objectives: [ { target: 0.99 } ]
  indicator:
    metadata: { name: api-ok }
    spec:
      ratioMetric:
        counter: true
        bad: { metricSource: { type: slod, spec: { query: "SELECT minute, errors AS value FROM t" } } }
        total: { metricSource: { type: slod, spec: { query: "SELECT minute, calls AS value FROM t" } } }
"#;
    let (slos, errors) = parse_file("x.yaml", text);
    assert!(errors.is_empty(), "{errors:#?}");
    let Sli::Custom { sql } = &slos[0].sli else {
        panic!("{:?}", slos[0].sli)
    };
    assert!(sql.contains("t.value - p.value AS good"), "{sql}");
}

#[test]
fn calendar_windows_start_at_utc_boundaries() {
    // 2026-03-18T15:04:05Z is a Wednesday.
    let now = 1_773_846_245;
    assert_eq!(SloWindow::CalendarMonth.start(now), 1_772_323_200); // 2026-03-01T00:00:00Z
    assert_eq!(SloWindow::CalendarWeek.start(now), 1_773_619_200); // Monday 2026-03-16T00:00:00Z
    assert_eq!(
        SloWindow::Rolling(Duration::from_secs(3600)).start(now),
        now - 3600
    );
}

#[test]
fn default_templates_are_valid_and_cover_the_issue_list() {
    let t = SloSpec::default_templates();
    let kinds: Vec<&str> = t.iter().map(|s| s.sli.name()).collect();
    assert_eq!(
        kinds,
        ["availability", "latency", "cold_start", "throttling", "dlq"]
    );
    for s in &t {
        assert!(s.objective > 0.0 && s.objective < 1.0);
        assert!(s.selector.is_empty(), "templates match every function");
    }
}
