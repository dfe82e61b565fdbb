//! OTLP/gRPC receiver: `TraceService`, `MetricsService` and `LogsService` `Export`, served
//! from the raw request bytes (a pass-through codec), so the gRPC path shares decoding and
//! the WAL payload with OTLP/HTTP and never re-encodes.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use http::HeaderValue;
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::body::Body;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Request, Response, Status};

use crate::error::IngestError;
use crate::ingest::{Encoding, Ingest, Outcome};
use crate::rpc;
use crate::signal::Signal;

/// The three OTLP gRPC services, ready for `tonic::transport::Server`.
pub fn routes(ingest: Ingest) -> tonic::service::Routes {
    tonic::service::Routes::new(OtlpService::<Traces>::new(ingest.clone()))
        .add_service(OtlpService::<Metrics>::new(ingest.clone()))
        .add_service(OtlpService::<Logs>::new(ingest))
}

pub trait OtlpSignal: Send + Sync + 'static {
    const NAME: &'static str;
    const SIGNAL: Signal;
}

#[derive(Debug)]
pub struct Traces;
#[derive(Debug)]
pub struct Metrics;
#[derive(Debug)]
pub struct Logs;

impl OtlpSignal for Traces {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const SIGNAL: Signal = Signal::Traces;
}
impl OtlpSignal for Metrics {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const SIGNAL: Signal = Signal::Metrics;
}
impl OtlpSignal for Logs {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const SIGNAL: Signal = Signal::Logs;
}

#[derive(Debug)]
pub struct OtlpService<S> {
    ingest: Ingest,
    _signal: PhantomData<S>,
}

impl<S> Clone for OtlpService<S> {
    fn clone(&self) -> Self {
        OtlpService {
            ingest: self.ingest.clone(),
            _signal: PhantomData,
        }
    }
}

impl<S: OtlpSignal> OtlpService<S> {
    fn new(ingest: Ingest) -> Self {
        OtlpService {
            ingest,
            _signal: PhantomData,
        }
    }
}

impl<S: OtlpSignal> NamedService for OtlpService<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S: OtlpSignal> tower::Service<http::Request<Body>> for OtlpService<S> {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let ingest = self.ingest.clone();
        Box::pin(async move {
            if req.uri().path() != format!("/{}/Export", S::NAME) {
                return Ok(
                    Status::unimplemented(format!("{} has only the Export method", S::NAME)).into_http(),
                );
            }
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            accept.enable(CompressionEncoding::Zstd);
            accept.enable(CompressionEncoding::Deflate);
            let limit = ingest.max_request_bytes;
            let mut grpc = Grpc::new(RawCodec)
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(limit), Some(4 << 20));
            let resp = grpc
                .unary(
                    Handler {
                        ingest,
                        signal: S::SIGNAL,
                    },
                    req,
                )
                .await;
            Ok(oversize_is_resource_exhausted(resp))
        })
    }
}

/// tonic answers an oversized *uncompressed* message with OUT_OF_RANGE; OTLP says
/// RESOURCE_EXHAUSTED (without RetryInfo: not retryable), as tonic already answers an
/// oversized decompressed one.
fn oversize_is_resource_exhausted(mut resp: http::Response<Body>) -> http::Response<Body> {
    let h = resp.headers_mut();
    let too_large = h.get("grpc-status").is_some_and(|v| v == "11")
        && h.get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| m.contains("too%20large") || m.contains("too large"));
    if too_large {
        h.insert("grpc-status", HeaderValue::from_static("8"));
    }
    resp
}

#[derive(Clone)]
struct Handler {
    ingest: Ingest,
    signal: Signal,
}

impl UnaryService<Bytes> for Handler {
    type Response = Bytes;
    type Future = BoxFuture<Result<Response<Bytes>, Status>>;

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let ingest = self.ingest.clone();
        let signal = self.signal;
        Box::pin(async move {
            let token = req
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .map(str::to_string);
            ingest.authorize(token.as_deref()).map_err(to_status)?;
            let outcome = ingest
                .export(signal, Encoding::Protobuf, "grpc", req.into_inner())
                .await
                .map_err(to_status)?;
            Ok(Response::new(response_body(signal, &outcome)))
        })
    }
}

fn response_body(signal: Signal, outcome: &Outcome) -> Bytes {
    let rejected = outcome.rejected.count as i64;
    if rejected == 0 {
        return Bytes::new();
    }
    let error_message = outcome.rejected.first.clone().unwrap_or_default();
    Bytes::from(match signal {
        Signal::Traces => ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message,
            }),
        }
        .encode_to_vec(),
        Signal::Metrics => ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: rejected,
                error_message,
            }),
        }
        .encode_to_vec(),
        Signal::Logs => ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message,
            }),
        }
        .encode_to_vec(),
    })
}

/// The single mapping of ingest errors to gRPC statuses (OTLP spec: backpressure is
/// UNAVAILABLE with `RetryInfo`; Python reads the delay from `google.rpc.retryinfo-bin`).
fn to_status(err: IngestError) -> Status {
    let retry = match &err {
        IngestError::Backpressure { retry_after } => Some(*retry_after),
        IngestError::Unavailable(_) => Some(std::time::Duration::from_secs(5)),
        _ => None,
    };
    let code = match &err {
        IngestError::BadRequest(_) | IngestError::UnsupportedMediaType(_) => Code::InvalidArgument,
        IngestError::UnsupportedEncoding(_) => Code::Unimplemented,
        IngestError::TooLarge { .. } => Code::ResourceExhausted,
        IngestError::Unauthenticated => Code::Unauthenticated,
        IngestError::Backpressure { .. } | IngestError::Unavailable(_) => Code::Unavailable,
        IngestError::Internal(_) => Code::Internal,
    };
    let message = err.to_string();
    match retry {
        Some(delay) => {
            let info = rpc::retry_info(delay).encode_to_vec();
            let details = rpc::Status {
                code: code as i32,
                message: message.clone(),
                details: vec![rpc::Any {
                    type_url: rpc::RETRY_INFO_TYPE.into(),
                    value: info.clone(),
                }],
            }
            .encode_to_vec();
            let mut md = MetadataMap::new();
            md.insert_bin("google.rpc.retryinfo-bin", MetadataValue::from_bytes(&info));
            Status::with_details_and_metadata(code, message, Bytes::from(details), md)
        }
        None => Status::new(code, message),
    }
}

/// Passes message bytes through untouched (also usable as a client codec to send arbitrary
/// bytes, as the bad-input tests do).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n)))
    }
}
