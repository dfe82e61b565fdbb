//! Bad input never crashes the daemon or corrupts data: each case gets its status code and a
//! clear message, over OTLP/HTTP and OTLP/gRPC; good requests sent after them are stored.

use std::io::Write;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use slod_collector::grpc::RawCodec;
use tonic::codec::CompressionEncoding;

use crate::server::TestServer;

/// 1 MiB request limit so the oversize cases stay small.
fn server() -> TestServer {
    TestServer::builder()
        .config("limits: { max_request_size: 1MiB, max_buffered: 64MiB }\nstorage: { flush_max_size: 8MiB }")
        .start()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A valid request of `n` spans (distinct ids) for service `svc`.
pub fn spans_request(svc: &str, n: usize, seed: u64) -> ExportTraceServiceRequest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut fleet = slod_loadgen::fleet(1);
    fleet[0].service = svc.to_string();
    slod_loadgen::SpanBatchGen::new(seed, fleet).request(n, now)
}

fn with_bad_trace_id(mut req: ExportTraceServiceRequest) -> ExportTraceServiceRequest {
    req.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![1, 2, 3, 4, 5];
    req
}

struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    encoding: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    /// A phrase the response must contain (the "clear message").
    says: &'static str,
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_http_requests_get_clear_errors_and_the_daemon_keeps_serving() {
    let server = server();
    let pb = "application/x-protobuf";
    let bomb = gzip(&vec![0u8; 200 << 20]); // 200 MiB of zeros in ~200 KiB
    let cases = vec![
        // A body that is not an OTLP protobuf message.
        Case {
            name: "malformed protobuf",
            method: "POST",
            path: "/v1/traces",
            content_type: pb,
            encoding: None,
            body: b"\xff\xff\xff\xffgarbage".to_vec(),
            status: 400,
            says: "invalid OTLP protobuf",
        },
        // Broken JSON.
        Case {
            name: "malformed json",
            method: "POST",
            path: "/v1/traces",
            content_type: "application/json",
            encoding: None,
            body: b"{\"resourceSpans\": [".to_vec(),
            status: 400,
            says: "invalid OTLP JSON",
        },
        // Neither protobuf nor JSON.
        Case {
            name: "wrong content type",
            method: "POST",
            path: "/v1/traces",
            content_type: "text/plain",
            encoding: None,
            body: b"hello".to_vec(),
            status: 415,
            says: "application/x-protobuf or application/json",
        },
        // Content-Encoding gzip, but not gzip.
        Case {
            name: "bad gzip",
            method: "POST",
            path: "/v1/traces",
            content_type: pb,
            encoding: Some("gzip"),
            body: b"definitely not gzip".to_vec(),
            status: 400,
            says: "invalid gzip",
        },
        // An encoding slod does not speak.
        Case {
            name: "unknown encoding",
            method: "POST",
            path: "/v1/traces",
            content_type: pb,
            encoding: Some("br"),
            body: b"x".to_vec(),
            status: 415,
            says: "gzip, deflate, zstd",
        },
        // 2 MiB over a 1 MiB limit.
        Case {
            name: "oversized body",
            method: "POST",
            path: "/v1/traces",
            content_type: pb,
            encoding: None,
            body: vec![0u8; 2 << 20],
            status: 413,
            says: "exceeds",
        },
        // Small compressed, huge decompressed: refused without inflating it all.
        Case {
            name: "decompression bomb",
            method: "POST",
            path: "/v1/logs",
            content_type: pb,
            encoding: Some("gzip"),
            body: bomb,
            status: 413,
            says: "after decompression",
        },
        // One span with a 5-byte trace id: refused alone through partial_success.
        Case {
            name: "invalid trace id length",
            method: "POST",
            path: "/v1/traces",
            content_type: pb,
            encoding: None,
            body: with_bad_trace_id(spans_request("bad-id", 4, 1)).encode_to_vec(),
            status: 200,
            says: "",
        },
        // An empty export request is a successful no-op.
        Case {
            name: "empty request",
            method: "POST",
            path: "/v1/traces",
            content_type: pb,
            encoding: None,
            body: Vec::new(),
            status: 200,
            says: "",
        },
        // Unknown JSON fields are ignored (OTLP spec).
        Case {
            name: "unknown json fields",
            method: "POST",
            path: "/v1/logs",
            content_type: "application/json",
            encoding: None,
            body: br#"{"resourceLogs": [], "futureField": {"x": 1}}"#.to_vec(),
            status: 200,
            says: "",
        },
        // Export is POST only.
        Case {
            name: "wrong method",
            method: "GET",
            path: "/v1/traces",
            content_type: pb,
            encoding: None,
            body: Vec::new(),
            status: 405,
            says: "",
        },
        // Not an OTLP path.
        Case {
            name: "unknown path",
            method: "POST",
            path: "/v1/profiles-unknown",
            content_type: pb,
            encoding: None,
            body: Vec::new(),
            status: 404,
            says: "/v1/traces",
        },
    ];
    // One connection per case: after refusing an oversized body the server closes the
    // connection (as HTTP servers do), which a pooled client would trip over.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for c in &cases {
        let mut req = client
            .request(c.method.parse().unwrap(), server.otlp_http(c.path))
            .header("content-type", c.content_type)
            .body(c.body.clone());
        if let Some(e) = c.encoding {
            req = req.header("content-encoding", e);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: request failed: {e}", c.name));
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(
            status,
            c.status,
            "{}: status; body {:?}",
            c.name,
            String::from_utf8_lossy(&bytes)
        );
        if c.content_type == pb && (400..500).contains(&status) && !c.says.is_empty() && status != 404 {
            // OTLP: error bodies are google.rpc.Status in the request's encoding.
            let msg = decode_status_message(&bytes);
            assert!(
                msg.contains(c.says),
                "{}: message {msg:?} should say {:?}",
                c.name,
                c.says
            );
        } else if !c.says.is_empty() {
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                text.contains(c.says),
                "{}: body {text:?} should say {:?}",
                c.name,
                c.says
            );
        }
        if c.name == "invalid trace id length" {
            let r = ExportTraceServiceResponse::decode(bytes.as_ref()).unwrap();
            let p = r.partial_success.expect("partial_success set");
            assert_eq!(p.rejected_spans, 1);
            assert!(p.error_message.contains("trace_id"), "{}", p.error_message);
        }
    }
    assert!(
        server.peak_rss() < 300 << 20,
        "the 200 MiB bomb must not be inflated: peak RSS {}",
        server.peak_rss()
    );

    // The three good spans of the partial request were stored, the bad one was not.
    assert_eq!(
        server
            .count("SELECT count(*) FROM spans WHERE service_name = 'bad-id'")
            .await,
        3
    );
    // And good requests after all that are stored.
    let good = spans_request("after-bad", 8, 2).encode_to_vec();
    let resp = server
        .client
        .post(server.otlp_http("/v1/traces"))
        .header("content-type", pb)
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        server
            .count("SELECT count(*) FROM spans WHERE service_name = 'after-bad'")
            .await,
        8
    );
    let m = server.metrics_text().await;
    assert!(
        m.contains(r#"slod_collector_refused_items_total{signal="traces",reason="bad_request"}"#),
        "{m}"
    );
}

fn decode_status_message(bytes: &[u8]) -> String {
    #[derive(Clone, PartialEq, prost::Message)]
    struct Status {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
    }
    Status::decode(bytes).map(|s| s.message).unwrap_or_default()
}

/// A gRPC client that sends arbitrary bytes as the request message.
async fn grpc_raw(
    server: &TestServer,
    method: &str,
    body: Vec<u8>,
    gzip: bool,
) -> Result<Bytes, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(server.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic::client::Grpc::new(channel).max_encoding_message_size(usize::MAX);
    if gzip {
        client = client.send_compressed(CompressionEncoding::Gzip);
    }
    client.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_maybe_shared(method.to_owned().into_bytes()).unwrap();
    client
        .unary(tonic::Request::new(Bytes::from(body)), path, RawCodec)
        .await
        .map(|r| r.into_inner())
}

const EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

#[tokio::test(flavor = "multi_thread")]
async fn bad_grpc_requests_get_matching_status_codes() {
    use tonic::Code;
    let server = server();
    // (name, method path, message bytes, gzip on the wire, expected outcome)
    type GrpcCase = (&'static str, &'static str, Vec<u8>, bool, Result<(), Code>);
    let cases: Vec<GrpcCase> = vec![
        // Not a protobuf message.
        (
            "malformed protobuf",
            EXPORT,
            b"\xff\xff\xff\xffgarbage".to_vec(),
            false,
            Err(Code::InvalidArgument),
        ),
        // 2 MiB over the 1 MiB limit, uncompressed: RESOURCE_EXHAUSTED per OTLP.
        (
            "oversized message",
            EXPORT,
            vec![0u8; 2 << 20],
            false,
            Err(Code::ResourceExhausted),
        ),
        // 64 MiB of zeros, gzip-compressed on the wire: refused while inflating.
        (
            "decompression bomb",
            EXPORT,
            vec![0u8; 64 << 20],
            true,
            Err(Code::ResourceExhausted),
        ),
        // Partial success: OK, the bad span refused in the response.
        (
            "invalid trace id length",
            EXPORT,
            with_bad_trace_id(spans_request("grpc-bad-id", 4, 3)).encode_to_vec(),
            false,
            Ok(()),
        ),
        // Empty request.
        ("empty request", EXPORT, Vec::new(), false, Ok(())),
        // Methods other than Export.
        (
            "unknown method",
            "/opentelemetry.proto.collector.trace.v1.TraceService/Nope",
            Vec::new(),
            false,
            Err(Code::Unimplemented),
        ),
    ];
    for (name, method, body, gz, want) in cases {
        let got = grpc_raw(&server, method, body, gz).await;
        match (&got, want) {
            (Ok(bytes), Ok(())) => {
                if name == "invalid trace id length" {
                    let r = ExportTraceServiceResponse::decode(bytes.as_ref()).unwrap();
                    assert_eq!(r.partial_success.unwrap().rejected_spans, 1, "{name}");
                }
            }
            (Err(s), Err(code)) => {
                assert_eq!(s.code(), code, "{name}: {s:?}");
                assert!(!s.message().is_empty(), "{name}: clear message");
            }
            _ => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
    assert_eq!(
        server
            .count("SELECT count(*) FROM spans WHERE service_name = 'grpc-bad-id'")
            .await,
        3
    );
    let good = spans_request("grpc-after-bad", 6, 4).encode_to_vec();
    grpc_raw(&server, EXPORT, good, true)
        .await
        .expect("good request after bad ones");
    assert_eq!(
        server
            .count("SELECT count(*) FROM spans WHERE service_name = 'grpc-after-bad'")
            .await,
        6
    );
}
