//! OTLP/HTTP JSON as the spec writes it (and as Node and Python send it): hex ids, enums as
//! integers, int64 as JSON numbers (Node) and as strings (Python), unknown fields ignored.

use serde_json::json;

use crate::server::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn otlp_json_requests_are_stored_with_their_values() {
    let server = TestServer::start();
    let now: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let traces = json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "json-svc"}},
                {"key": "faas.name", "value": {"stringValue": "json-fn"}},
                {"key": "cloud.platform", "value": {"stringValue": "aws_lambda"}},
                {"key": "faas.max_memory", "value": {"intValue": "268435456"}}
            ], "droppedAttributesCount": 0},
            "scopeSpans": [{
                "scope": {"name": "json-scope", "version": "1.0"},
                "spans": [
                    {   // Node style: int64 as numbers, upper-case hex id.
                        "traceId": "5B8EFFF798038103D269B633813FC60C",
                        "spanId": "EEE19B7EC3C1B174",
                        "name": "GET /number",
                        "kind": 2,
                        "startTimeUnixNano": now,
                        "endTimeUnixNano": now + 1_500_000,
                        "attributes": [
                            {"key": "http.response.status_code", "value": {"intValue": 503}},
                            {"key": "faas.invocation_id", "value": {"stringValue": "inv-1"}},
                            {"key": "retries", "value": {"intValue": 3}},
                            {"key": "ratio", "value": {"doubleValue": 0.25}},
                            {"key": "ok", "value": {"boolValue": false}},
                            {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "2"}]}}}
                        ],
                        "status": {"code": 2, "message": "upstream unavailable"},
                        "someFutureField": {"ignored": true}
                    },
                    {   // Python style: int64 as strings, lower-case hex, a parent.
                        "traceId": "5b8efff798038103d269b633813fc60c",
                        "spanId": "0011223344556677",
                        "parentSpanId": "eee19b7ec3c1b174",
                        "name": "child",
                        "kind": 3,
                        "startTimeUnixNano": (now + 100).to_string(),
                        "endTimeUnixNano": (now + 600).to_string(),
                        "attributes": [{"key": "http.status_code", "value": {"intValue": "429"}}],
                        "events": [{"timeUnixNano": (now + 200).to_string(), "name": "retry", "attributes": []}],
                        "droppedAttributesCount": 2
                    }
                ]
            }]
        }]
    });
    let resp = server
        .client
        .post(server.otlp_http("/v1/traces"))
        .header("content-type", "application/json")
        .body(traces.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/json",
        "response in the request's encoding"
    );
    assert_eq!(
        resp.text().await.unwrap(),
        "{}",
        "full success has no partialSuccess"
    );

    let rows = server
        .sql(
            "SELECT encode(span_id, 'hex') AS span_id, encode(parent_span_id, 'hex') AS parent, name, kind,
                    status_code, status_message, http_response_status_code, is_error, is_throttle,
                    faas_max_memory_mb, duration_ns, attributes, cardinality(events) AS events,
                    dropped_attributes_count, scope_name
             FROM spans WHERE service_name = 'json-svc' ORDER BY start_time",
        )
        .await;
    assert_eq!(rows.len(), 2);
    let (a, b) = (&rows[0], &rows[1]);
    assert_eq!(a["span_id"], "eee19b7ec3c1b174", "hex ids are case-insensitive");
    assert_eq!(a["kind"], 2);
    assert_eq!(a["status_code"], 2);
    assert_eq!(a["status_message"], "upstream unavailable");
    assert_eq!(a["http_response_status_code"], 503, "int64 sent as a JSON number");
    assert_eq!(a["is_error"], true);
    assert_eq!(a["duration_ns"], 1_500_000);
    assert_eq!(a["faas_max_memory_mb"], 256, "bytes as an int64 string");
    assert_eq!(a["attributes"]["retries"], "3");
    assert_eq!(a["attributes"]["ratio"], "0.25");
    assert_eq!(a["attributes"]["ok"], "false");
    assert_eq!(a["attributes"]["tags"], r#"["a",2]"#, "arrays as JSON");
    assert_eq!(a["scope_name"], "json-scope");
    assert_eq!(b["parent"], "eee19b7ec3c1b174");
    assert_eq!(
        b["http_response_status_code"], 429,
        "int64 sent as a string, old key name"
    );
    assert_eq!(b["is_throttle"], true);
    assert_eq!(b["is_error"], true, "a CLIENT span with a 4xx answer is an error");
    assert_eq!(b["duration_ns"], 500);
    assert_eq!(b["events"], 1);
    assert_eq!(b["dropped_attributes_count"], 2);

    // Metrics and logs over JSON too.
    let metrics = json!({"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
    "scopeMetrics": [{"metrics": [
        {"name": "faas.invocations", "unit": "{invocation}", "sum": {"aggregationTemporality": 1, "isMonotonic": true,
          "dataPoints": [{"timeUnixNano": now.to_string(), "asInt": "41"}, {"timeUnixNano": now, "asDouble": 1.5}]}},
        {"name": "faas.invoke_duration", "unit": "s", "histogram": {"aggregationTemporality": 2,
          "dataPoints": [{"timeUnixNano": now.to_string(), "count": "3", "sum": 0.6, "bucketCounts": ["1", 2, "0"], "explicitBounds": [0.1, 0.5]}]}}
    ]}]}]});
    let resp = server
        .client
        .post(server.otlp_http("/v1/metrics"))
        .header("content-type", "application/json; charset=utf-8")
        .body(metrics.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v = server
        .sql("SELECT value, temporality FROM metric_points WHERE service_name = 'json-svc' ORDER BY value")
        .await;
    assert_eq!(
        v.iter().map(|r| r["value"].as_f64().unwrap()).collect::<Vec<_>>(),
        vec![1.5, 41.0]
    );
    assert_eq!(v[0]["temporality"], "delta");
    let h = server
        .sql("SELECT count, sum, bucket_counts, temporality FROM metric_distributions WHERE service_name = 'json-svc'")
        .await;
    assert_eq!(h[0]["count"], 3);
    assert_eq!(h[0]["bucket_counts"], json!([1, 2, 0]));
    assert_eq!(h[0]["temporality"], "cumulative");

    let logs = json!({"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scopeLogs": [{"logRecords": [{"timeUnixNano": now.to_string(), "severityNumber": 17, "severityText": "ERROR",
          "body": {"stringValue": "REPORT RequestId: inv-1 Duration: 12.3 ms"},
          "attributes": [{"key": "faas.execution", "value": {"stringValue": "inv-1"}}],
          "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"}]}]}]});
    let resp = server
        .client
        .post(server.otlp_http("/v1/logs"))
        .header("content-type", "application/json")
        .body(logs.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let l = server
        .sql("SELECT severity_number, body, faas_invocation_id, encode(trace_id, 'hex') AS t FROM logs WHERE service_name = 'json-svc'")
        .await;
    assert_eq!(l[0]["severity_number"], 17);
    assert_eq!(
        l[0]["faas_invocation_id"], "inv-1",
        "faas.execution is the old name of faas.invocation_id"
    );
    assert_eq!(l[0]["t"], "5b8efff798038103d269b633813fc60c");
}

/// Node's OTLP/HTTP exporter sends `Transfer-Encoding: chunked` and no Content-Length
/// (reference §5): the body is read whole however it is framed.
#[tokio::test(flavor = "multi_thread")]
async fn chunked_bodies_are_read_whole() {
    use std::io::{Read, Write};
    let server = TestServer::start();
    let body = json!({"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "chunked"}}]},
        "scopeLogs": [{"logRecords": [
            {"timeUnixNano": "1795486744708829440", "body": {"stringValue": "one"}},
            {"timeUnixNano": "1795486744708829441", "body": {"stringValue": "two"}}]}]}]})
    .to_string();
    let mut req = "POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".as_bytes().to_vec();
    // Three chunks of uneven size, then the terminating zero-length chunk.
    let (a, rest) = body.as_bytes().split_at(7);
    let (b, c) = rest.split_at(rest.len() / 2);
    for chunk in [a, b, c] {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let port = server.http;
    let response = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(&req).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(
        server
            .count("SELECT count(*) FROM logs WHERE service_name = 'chunked'")
            .await,
        2
    );
}
