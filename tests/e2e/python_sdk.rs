//! The real OpenTelemetry Python SDK (gRPC and HTTP/protobuf exporters) sends spans, a counter,
//! a histogram, an exponential histogram and logs; everything is read back over SQL and
//! compared with what the client reports it sent (`tests/python/sdk_client.py`).

use serde_json::{Map, Value};

use crate::server::{TestServer, python};

/// Promoted span attributes (after alias normalisation) and the column that holds them.
const PROMOTED: [(&str, &str); 11] = [
    ("faas.invocation_id", "faas_invocation_id"),
    ("faas.trigger", "faas_trigger"),
    ("faas.coldstart", "faas_coldstart"),
    ("http.request.method", "http_request_method"),
    ("http.response.status_code", "http_response_status_code"),
    ("http.route", "http_route"),
    ("messaging.system", "messaging_system"),
    ("messaging.destination.name", "messaging_destination_name"),
    ("messaging.operation.type", "messaging_operation"),
    ("error.type", "error_type"),
    ("cloud.resource_id", "cloud_resource_id"),
];

/// Renamed keys (DESIGN §2 alias table).
fn canonical(key: &str) -> &str {
    match key {
        "faas.execution" => "faas.invocation_id",
        "http.method" => "http.request.method",
        "http.status_code" => "http.response.status_code",
        "messaging.operation" => "messaging.operation.type",
        k => k,
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_telemetry_round_trips_through_sql() {
    let server = TestServer::start();
    let run = format!("py{}", std::process::id());
    let out = std::process::Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/sdk_client.py"))
        .args(["--grpc-endpoint", &server.grpc_url()])
        .args(["--http-endpoint", &server.otlp_http("")])
        .args(["--run-id", &run])
        .output()
        .expect("cannot run the Python SDK client");
    assert!(
        out.status.success(),
        "sdk_client.py failed: {}\n{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    let sent: Value = serde_json::from_slice(&out.stdout).expect("sdk_client.py prints one JSON object");
    let service = format!("{run}-svc");

    // Spans: every one is there once, with its ids, names, kinds, status and attributes.
    let sent_spans = sent["spans"].as_array().unwrap();
    assert!(
        sent_spans.iter().any(|s| s["protocol"] == "grpc")
            && sent_spans.iter().any(|s| s["protocol"] == "http/protobuf")
    );
    let rows = server
        .sql(&format!(
            "SELECT encode(trace_id, 'hex') AS trace_id, encode(span_id, 'hex') AS span_id,
                    encode(parent_span_id, 'hex') AS parent_span_id, name, kind, status_code,
                    is_root, is_error, is_invocation, is_throttle, faas_coldstart, faas_invocation_id,
                    faas_trigger, http_request_method, http_response_status_code, http_route,
                    messaging_system, messaging_destination_name, messaging_operation, error_type,
                    cloud_resource_id, exception_type, service_name, faas_name, faas_max_memory_mb,
                    cloud_provider, cloud_platform, cloud_region, faas_version, faas_instance,
                    resource_attributes, attributes, duration_ns
             FROM spans WHERE service_name = '{service}'"
        ))
        .await;
    assert_eq!(rows.len(), sent_spans.len(), "one row per span sent");
    let by_id: std::collections::HashMap<String, &Map<String, Value>> = rows
        .iter()
        .map(|r| (r["span_id"].as_str().unwrap().to_string(), r))
        .collect();
    assert_eq!(by_id.len(), rows.len(), "no span stored twice");
    for s in sent_spans {
        let id = s["span_id"].as_str().unwrap();
        let r = by_id
            .get(id)
            .unwrap_or_else(|| panic!("span {id} ({}) missing", s["name"]));
        assert_eq!(r["trace_id"], s["trace_id"]);
        assert_eq!(r["parent_span_id"], s["parent_span_id"], "{id}: parent");
        assert_eq!(r["name"], s["name"]);
        assert_eq!(r["kind"], s["kind"]);
        assert_eq!(r["status_code"], s["status_code"]);
        assert_eq!(r["is_root"], Value::Bool(s["parent_span_id"].is_null()));
        assert_eq!(r["duration_ns"], s["duration_ns"], "{id}: duration");
        let attrs = s["attributes"].as_object().unwrap();
        let stored = r["attributes"].as_object().unwrap();
        for (k, v) in attrs {
            let key = canonical(k);
            match PROMOTED.iter().find(|(p, _)| *p == key) {
                Some((_, col)) => {
                    assert_eq!(as_text(&r[*col]), as_text(v), "{id}: {k} -> column {col}");
                    assert!(
                        !stored.contains_key(k) && !stored.contains_key(key),
                        "{id}: promoted {k} also in the map"
                    );
                }
                None => assert_eq!(
                    stored.get(k).map(as_text),
                    Some(as_text(v)),
                    "{id}: attribute {k}"
                ),
            }
        }
        // Derived columns, from the rules in DESIGN §2.
        let status = attrs
            .get("http.response.status_code")
            .or(attrs.get("http.status_code"))
            .and_then(Value::as_i64);
        let invocation = attrs.contains_key("faas.invocation_id") || attrs.contains_key("faas.execution");
        assert_eq!(r["is_invocation"], Value::Bool(invocation), "{id}: is_invocation");
        let error = s["status_code"] == 2 || status.is_some_and(|c| c >= 500);
        assert_eq!(r["is_error"], Value::Bool(error), "{id}: is_error");
        assert_eq!(
            r["is_throttle"],
            Value::Bool(status == Some(429)),
            "{id}: is_throttle"
        );
        assert_eq!(
            r["faas_coldstart"],
            attrs.get("faas.coldstart").cloned().unwrap_or(Value::Null),
            "{id}: coldstart"
        );
        let exception = s["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "exception")
            .map(|e| e["attributes"]["exception.type"].clone())
            .unwrap_or(Value::Null);
        assert_eq!(r["exception_type"], exception, "{id}: exception_type");
        // Resource: promoted columns and the rest in the map.
        let res = sent["resource"].as_object().unwrap();
        assert_eq!(r["faas_name"], res["faas.name"]);
        assert_eq!(r["cloud_region"], res["cloud.region"]);
        assert_eq!(r["cloud_platform"], "aws_lambda");
        assert_eq!(r["faas_instance"], res["faas.instance"]);
        assert_eq!(r["faas_max_memory_mb"], 512, "Python sends faas.max_memory in MB");
        assert_eq!(r["resource_attributes"]["team"], "payments");
        assert!(
            r["resource_attributes"].get("faas.name").is_none(),
            "promoted resource key not in the map"
        );
    }
    let throttles = rows.iter().filter(|r| r["is_throttle"] == true).count();
    assert_eq!(throttles, 1, "exactly the one 429 invocation is a throttle");

    // Metrics: the counter's delta value, histogram buckets as lists, exponential buckets.
    let metrics = sent["metrics"].as_array().unwrap();
    let counter = metrics.iter().find(|m| m["type"] == "sum").unwrap();
    let points = server
        .sql(&format!(
            "SELECT metric_name, value, temporality, is_monotonic, unit, attributes FROM metric_points
             WHERE service_name = '{service}'"
        ))
        .await;
    assert_eq!(points.len(), 1);
    assert_eq!(points[0]["metric_name"], counter["name"]);
    assert_eq!(points[0]["value"].as_f64(), counter["value"].as_f64());
    assert_eq!(points[0]["temporality"], counter["temporality"]);
    assert_eq!(points[0]["is_monotonic"], counter["is_monotonic"]);
    assert_eq!(points[0]["attributes"], counter["attributes"]);
    let dists = server
        .sql(&format!(
            "SELECT metric_name, metric_type, count, sum, min, max, explicit_bounds, bucket_counts, scale,
                    zero_count, positive_offset, positive_bucket_counts, negative_offset, temporality, unit
             FROM metric_distributions WHERE service_name = '{service}' ORDER BY metric_name"
        ))
        .await;
    for m in metrics.iter().filter(|m| m["type"] != "sum") {
        let d = dists
            .iter()
            .find(|d| d["metric_name"] == m["name"])
            .unwrap_or_else(|| panic!("{} missing", m["name"]));
        assert_eq!(d["metric_type"], m["type"]);
        assert_eq!(d["count"], m["count"]);
        for k in ["sum", "min", "max"] {
            assert_eq!(d[k].as_f64(), m[k].as_f64(), "{}: {k}", m["name"]);
        }
        assert_eq!(d["unit"], m["unit"]);
        assert_eq!(d["temporality"], m["temporality"]);
        if m["type"] == "histogram" {
            let bounds: Vec<f64> = m["explicit_bounds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let stored: Vec<f64> = d["explicit_bounds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(stored, bounds);
            assert_eq!(d["bucket_counts"], m["bucket_counts"]);
        } else {
            assert_eq!(d["scale"], m["scale"]);
            assert_eq!(d["zero_count"], m["zero_count"]);
            assert_eq!(d["positive_offset"], m["positive"]["offset"]);
            assert_eq!(d["positive_bucket_counts"], m["positive"]["bucket_counts"]);
            assert_eq!(d["negative_offset"], m["negative"]["offset"]);
        }
    }

    // Logs: body, severity and the span they were emitted in.
    let logs = server
        .sql(&format!(
            "SELECT body, severity_number, severity_text, encode(trace_id, 'hex') AS trace_id,
                    encode(span_id, 'hex') AS span_id FROM logs WHERE service_name = '{service}' ORDER BY time"
        ))
        .await;
    let sent_logs = sent["logs"].as_array().unwrap();
    assert_eq!(logs.len(), sent_logs.len());
    for (got, want) in logs.iter().zip(sent_logs) {
        for k in ["body", "severity_number", "severity_text", "trace_id", "span_id"] {
            assert_eq!(got[k], want[k], "log {k}");
        }
    }

    // Self-telemetry counted what was accepted.
    let m = server.metrics_text().await;
    assert!(
        m.contains("slod_collector_accepted_items_total{signal=\"traces\"}"),
        "{m}"
    );
}
