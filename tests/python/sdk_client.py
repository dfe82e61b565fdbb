#!/usr/bin/env python3
"""End-to-end OTLP client for slod's Rust e2e test: real OpenTelemetry Python SDK + exporters.

    .venv/bin/python tests/python/sdk_client.py \
        --grpc-endpoint http://127.0.0.1:PORT --http-endpoint http://127.0.0.1:PORT --run-id RUNID

(install the venv with scripts/setup-python.sh). Everything is sent with the real SDK and the
real OTLP exporters (no hand-built protobuf), from one Lambda-function resource:
  service.name=<run>-svc, cloud.provider=aws, cloud.platform=aws_lambda, cloud.region=eu-west-1,
  faas.name=<run>-fn, faas.version=$LATEST, faas.instance=<log stream>, faas.max_memory=512
  (int, MB, as the Python AWS resource detector sends it), team=payments
  (+ the SDK's telemetry.sdk.* and service.instance.id).

  traces, OTLP/gRPC          3 traces: SERVER root "GET /orders" (faas.trigger=http,
                             faas.invocation_id, http.request.method=GET, http.route=/orders,
                             http.response.status_code 200 / 200 / 500; faas.coldstart=true on
                             the first only; the 500 one has status ERROR + a recorded ValueError),
                             each with a CLIENT "DynamoDB.GetItem" (db.system=dynamodb) and a
                             PRODUCER "orders-dlq send" (messaging.system=aws_sqs,
                             messaging.destination.name=orders-dlq, messaging.operation=publish)
                             child; the second root also has order.id=2 and an event.
  traces, OTLP/HTTP protobuf 2 traces of the same shape with OLD conventions on the root
                             "POST /orders": http.method=POST, http.status_code 200 / 429
                             (throttle; status left UNSET as for any 4xx server span),
                             faas.execution instead of faas.invocation_id.
  metrics, OTLP/gRPC         DELTA temporality (serverless style), one collection at the end:
                             orders.processed  Counter  5 + 7, queue=orders
                             orders.latency    Histogram ms, bounds [0,5,10,25,50,100,250,500,1000]
                                               (View), values 3 7 7 30 120 700 2000, queue=orders
                             orders.size       Histogram -> exponential (View), values 1 2 4 8 1000
  logs, OTLP/gRPC            4 records (INFO, INFO, WARNING, ERROR) via the logging handler,
                             bodies contain the run id, emitted inside the first root span.

Span times are explicit (root i lasts 100 + 50*i ms, ending about a second before the run), so
durations are exact. OTEL_* environment variables are ignored (removed at start) so the test
is not influenced by the caller's environment.

Stdout: ONE JSON object describing exactly what the exporters were given and accepted:
  {"run_id", "resource": {...}, "spans": [...], "metrics": [...], "logs": [...], "exports": {...}}
  span: trace_id (32 hex), span_id (16 hex), parent_span_id (16 hex | null), name, kind (OTLP
  int: INTERNAL 1, SERVER 2, CLIENT 3, PRODUCER 4, CONSUMER 5), status_code (UNSET 0, OK 1,
  ERROR 2), status_message, start/end_time_unix_nano, duration_ns, attributes, events
  [{name, time_unix_nano, attributes}], protocol ("grpc" | "http/protobuf"), scope.
  metric: one entry per data point (name, type, unit, temporality, attributes, values).
  log: body, severity_number, severity_text, trace_id, span_id, protocol.
Exit status: 0 only if every export succeeded and every flush/shutdown returned in time;
otherwise 1 (diagnostics on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
import uuid

for _k in [k for k in os.environ if k.startswith("OTEL_")]:
    del os.environ[_k]

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter  # noqa: E402
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # noqa: E402
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter  # noqa: E402
from opentelemetry.instrumentation.logging.handler import LoggingHandler  # noqa: E402
from opentelemetry.sdk._logs import LoggerProvider  # noqa: E402
from opentelemetry.sdk._logs.export import (  # noqa: E402
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.metrics import (  # noqa: E402
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
)
from opentelemetry.sdk.metrics.export import (  # noqa: E402
    AggregationTemporality,
    ExponentialHistogram,
    Gauge,
    MetricExporter,
    MetricExportResult,
    PeriodicExportingMetricReader,
    Sum,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData  # noqa: E402
from opentelemetry.sdk.metrics.view import (  # noqa: E402
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context  # noqa: E402

KIND = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}
STATUS = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}
LATENCY_BOUNDS = [0, 5, 10, 25, 50, 100, 250, 500, 1000]
DELTA = {
    Counter: AggregationTemporality.DELTA,
    Histogram: AggregationTemporality.DELTA,
    ObservableCounter: AggregationTemporality.DELTA,
}

failures: list[str] = []
_lock = threading.Lock()


def fail(msg: str):
    with _lock:
        failures.append(msg)
    print(f"sdk_client: {msg}", file=sys.stderr, flush=True)


def jsonable(v):
    if isinstance(v, (tuple, list)):
        return [jsonable(x) for x in v]
    return v


def attrs(a) -> dict:
    return {k: jsonable(v) for k, v in (a or {}).items()}


class RecordingSpanExporter(SpanExporter):
    """Wraps a real exporter; remembers every span it was given and every failed export."""

    def __init__(self, inner: SpanExporter, protocol: str):
        self.inner, self.protocol = inner, protocol
        self.spans: list[dict] = []
        self.requests = 0

    def export(self, spans):
        result = self.inner.export(spans)
        self.requests += 1
        if result is not SpanExportResult.SUCCESS:
            fail(f"{self.protocol} span export of {len(spans)} spans failed: {result}")
        for s in spans:
            ctx, parent = s.context, s.parent
            self.spans.append(
                {
                    "trace_id": format(ctx.trace_id, "032x"),
                    "span_id": format(ctx.span_id, "016x"),
                    "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
                    "name": s.name,
                    "kind": KIND[s.kind],
                    "status_code": STATUS[s.status.status_code],
                    "status_message": s.status.description or "",
                    "start_time_unix_nano": s.start_time,
                    "end_time_unix_nano": s.end_time,
                    "duration_ns": s.end_time - s.start_time,
                    "attributes": attrs(s.attributes),
                    "events": [
                        {"name": e.name, "time_unix_nano": e.timestamp, "attributes": attrs(e.attributes)}
                        for e in s.events
                    ],
                    "protocol": self.protocol,
                    "scope": s.instrumentation_scope.name if s.instrumentation_scope else None,
                    "export_ok": result is SpanExportResult.SUCCESS,
                }
            )
        return result

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self):
        self.inner.shutdown()


class RecordingMetricExporter(MetricExporter):
    def __init__(self, inner: MetricExporter, protocol: str, preferred_temporality, preferred_aggregation=None):
        super().__init__(preferred_temporality=preferred_temporality, preferred_aggregation=preferred_aggregation)
        self.inner, self.protocol = inner, protocol
        self.points: list[dict] = []
        self.requests = 0

    def export(self, metrics_data, timeout_millis: float = 10_000, **kwargs):
        n_points = sum(
            len(m.data.data_points)
            for rm in metrics_data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        )
        if n_points == 0:  # nothing new (delta) – the SDK may still call us; don't count it
            return MetricExportResult.SUCCESS
        result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        self.requests += 1
        if result is not MetricExportResult.SUCCESS:
            fail(f"{self.protocol} metric export failed: {result}")
        for rm in metrics_data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for p in m.data.data_points:
                        self.points.append(self._point(m, p, result))
        return result

    def _point(self, m, p, result) -> dict:
        d = m.data
        out = {
            "name": m.name,
            "unit": m.unit,
            "attributes": attrs(p.attributes),
            "start_time_unix_nano": getattr(p, "start_time_unix_nano", None),
            "time_unix_nano": p.time_unix_nano,
            "protocol": self.protocol,
            "export_ok": result is MetricExportResult.SUCCESS,
        }
        if isinstance(d, Sum):
            out.update(type="sum", is_monotonic=d.is_monotonic, value=p.value)
        elif isinstance(d, Gauge):
            out.update(type="gauge", value=p.value)
        elif isinstance(d, HistogramData):
            out.update(
                type="histogram",
                count=p.count,
                sum=p.sum,
                min=p.min,
                max=p.max,
                explicit_bounds=list(p.explicit_bounds),
                bucket_counts=list(p.bucket_counts),
            )
        elif isinstance(d, ExponentialHistogram):
            out.update(
                type="exponential_histogram",
                count=p.count,
                sum=p.sum,
                min=p.min,
                max=p.max,
                scale=p.scale,
                zero_count=p.zero_count,
                positive={"offset": p.positive.offset, "bucket_counts": list(p.positive.bucket_counts)},
                negative={"offset": p.negative.offset, "bucket_counts": list(p.negative.bucket_counts)},
            )
        temporality = getattr(d, "aggregation_temporality", None)
        out["temporality"] = {
            AggregationTemporality.DELTA: "delta",
            AggregationTemporality.CUMULATIVE: "cumulative",
        }.get(temporality)
        return out

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs):
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


class RecordingLogExporter(LogRecordExporter):
    def __init__(self, inner: LogRecordExporter, protocol: str):
        self.inner, self.protocol = inner, protocol
        self.records: list[dict] = []
        self.requests = 0

    def export(self, batch):
        result = self.inner.export(batch)
        self.requests += 1
        if result is not LogRecordExportResult.SUCCESS:
            fail(f"{self.protocol} log export of {len(batch)} records failed: {result}")
        for r in batch:
            lr = r.log_record
            self.records.append(
                {
                    "body": lr.body,
                    "severity_number": lr.severity_number.value if lr.severity_number is not None else None,
                    "severity_text": lr.severity_text,
                    "trace_id": format(lr.trace_id, "032x") if lr.trace_id else None,
                    "span_id": format(lr.span_id, "016x") if lr.span_id else None,
                    "time_unix_nano": lr.timestamp,
                    "attributes": attrs(lr.attributes),
                    "protocol": self.protocol,
                    "export_ok": result is LogRecordExportResult.SUCCESS,
                }
            )
        return result

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self):
        self.inner.shutdown()


def build_resource(run_id: str) -> Resource:
    return Resource.create(
        {
            "service.name": f"{run_id}-svc",
            "cloud.provider": "aws",
            "cloud.platform": "aws_lambda",
            "cloud.region": "eu-west-1",
            "faas.name": f"{run_id}-fn",
            "faas.version": "$LATEST",
            "faas.instance": f"2026/01/01/[$LATEST]{uuid.uuid5(uuid.NAMESPACE_URL, run_id).hex}",
            "faas.max_memory": 512,
            "team": "payments",
        }
    )


def emit_trace(tracer, *, t_end_ns: int, duration_ms: int, root_name: str, root_attrs: dict, order_no: int,
               error: Exception | None = None, with_event: bool = False, in_root=None):
    """One invocation: SERVER root with a CLIENT and a PRODUCER child. Explicit times."""
    start = t_end_ns - duration_ms * 1_000_000
    root = tracer.start_span(root_name, kind=SpanKind.SERVER, attributes=root_attrs, start_time=start)
    ctx = set_span_in_context(root)
    if with_event:
        root.set_attribute("order.id", order_no)
        root.add_event("order.accepted", {"order.id": order_no}, timestamp=start + 2_000_000)
    if in_root is not None:
        from opentelemetry import context as context_api

        token = context_api.attach(ctx)
        try:
            in_root()
        finally:
            context_api.detach(token)
    db = tracer.start_span(
        "DynamoDB.GetItem", context=ctx, kind=SpanKind.CLIENT, attributes={"db.system": "dynamodb"},
        start_time=start + 5_000_000,
    )
    db.end(end_time=start + 5_000_000 + duration_ms * 400_000)  # 40% of the invocation
    send = tracer.start_span(
        "orders-dlq send", context=ctx, kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "aws_sqs",
            "messaging.destination.name": "orders-dlq",
            "messaging.operation": "publish",
        },
        start_time=start + 10_000_000 + duration_ms * 400_000,
    )
    send.end(end_time=start + 10_000_000 + duration_ms * 400_000 + 3_000_000)
    if error is not None:
        root.record_exception(error, timestamp=t_end_ns - 1_000_000)
        root.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    root.end(end_time=t_end_ns)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grpc-endpoint", required=True, help="e.g. http://127.0.0.1:4317")
    ap.add_argument("--http-endpoint", required=True, help="e.g. http://127.0.0.1:4318 (paths /v1/* appended)")
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--timeout", type=float, default=10.0, help="per-export timeout, seconds")
    args = ap.parse_args()
    run = args.run_id
    http_base = args.http_endpoint.rstrip("/")
    insecure = args.grpc_endpoint.startswith("http://")

    resource = build_resource(run)

    # --- traces: one provider per protocol, same resource and scope -----------------------
    grpc_spans = RecordingSpanExporter(
        GrpcSpanExporter(endpoint=args.grpc_endpoint, insecure=insecure, timeout=args.timeout), "grpc")
    http_spans = RecordingSpanExporter(
        HttpSpanExporter(endpoint=f"{http_base}/v1/traces", timeout=args.timeout), "http/protobuf")
    tp_grpc, tp_http = TracerProvider(resource=resource), TracerProvider(resource=resource)
    tp_grpc.add_span_processor(BatchSpanProcessor(grpc_spans, schedule_delay_millis=60_000))
    tp_http.add_span_processor(BatchSpanProcessor(http_spans, schedule_delay_millis=60_000))

    # --- metrics: gRPC, DELTA, explicit + exponential histograms via Views -----------------
    metric_exporter = RecordingMetricExporter(
        GrpcMetricExporter(endpoint=args.grpc_endpoint, insecure=insecure, timeout=args.timeout,
                           preferred_temporality=DELTA),
        "grpc",
        preferred_temporality=DELTA,
    )
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)
    mp = MeterProvider(
        resource=resource,
        metric_readers=[reader],
        views=[
            View(instrument_name="orders.latency",
                 aggregation=ExplicitBucketHistogramAggregation(boundaries=LATENCY_BOUNDS)),
            View(instrument_name="orders.size", aggregation=ExponentialBucketHistogramAggregation()),
        ],
    )

    # --- logs: gRPC via the logging handler -------------------------------------------------
    log_exporter = RecordingLogExporter(
        GrpcLogExporter(endpoint=args.grpc_endpoint, insecure=insecure, timeout=args.timeout), "grpc")
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(log_exporter, schedule_delay_millis=60_000))
    log = logging.getLogger("slod.e2e")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=lp))

    def emit_logs():
        log.info("%s order 1 received", run)
        log.info("%s order 1 fetched from dynamodb", run)
        log.warning("%s order 1 slow downstream", run)
        log.error("%s order 1 sent to orders-dlq", run)

    # --- emit ---------------------------------------------------------------------------------
    now = time.time_ns() - 1_000_000_000
    tg = tp_grpc.get_tracer("slod.e2e", "1.0.0")
    th = tp_http.get_tracer("slod.e2e", "1.0.0")
    new = lambda: {"faas.trigger": "http", "http.route": "/orders"}  # noqa: E731
    for i, code in enumerate((200, 200, 500)):
        a = {**new(), "faas.invocation_id": str(uuid.uuid4()), "http.request.method": "GET",
             "http.response.status_code": code}
        if i == 0:
            a["faas.coldstart"] = True
        emit_trace(
            tg, t_end_ns=now - (5 - i) * 1_000_000_000, duration_ms=100 + 50 * i, root_name="GET /orders",
            root_attrs=a, order_no=i + 1,
            error=ValueError(f"order {i + 1} is invalid") if code == 500 else None,
            with_event=(i == 1), in_root=emit_logs if i == 0 else None,
        )
    for j, code in enumerate((200, 429)):
        i = 3 + j
        a = {**new(), "faas.execution": str(uuid.uuid4()), "http.method": "POST", "http.status_code": code}
        emit_trace(th, t_end_ns=now - (5 - i) * 1_000_000_000, duration_ms=100 + 50 * i,
                   root_name="POST /orders", root_attrs=a, order_no=i + 1)

    meter = mp.get_meter("slod.e2e", "1.0.0")
    processed = meter.create_counter("orders.processed", unit="{order}")
    latency = meter.create_histogram("orders.latency", unit="ms")
    size = meter.create_histogram("orders.size", unit="By")
    processed.add(5, {"queue": "orders"})
    processed.add(7, {"queue": "orders"})
    for v in (3, 7, 7, 30, 120, 700, 2000):
        latency.record(v, {"queue": "orders"})
    for v in (1, 2, 4, 8, 1000):
        size.record(v)

    # --- flush + shutdown -------------------------------------------------------------------
    timeout_ms = int(args.timeout * 1000) + 5000
    for name, ok in (
        ("tracer(grpc).force_flush", tp_grpc.force_flush(timeout_ms)),
        ("tracer(http).force_flush", tp_http.force_flush(timeout_ms)),
        ("meter.force_flush", mp.force_flush(timeout_ms)),
        ("logger.force_flush", lp.force_flush(timeout_ms)),
    ):
        if not ok:
            fail(f"{name} did not complete")
    try:
        mp.shutdown(timeout_millis=timeout_ms)
        lp.shutdown()
        tp_grpc.shutdown()
        tp_http.shutdown()
    except Exception as e:  # noqa: BLE001
        fail(f"shutdown raised {e!r}")

    expected = {"spans": 15, "metric_points": 3, "logs": 4}
    got = {
        "spans": len(grpc_spans.spans) + len(http_spans.spans),
        "metric_points": len(metric_exporter.points),
        "logs": len(log_exporter.records),
    }
    if got != expected:
        fail(f"exported {got}, expected {expected}")

    print(
        json.dumps(
            {
                "run_id": run,
                "resource": attrs(resource.attributes),
                "spans": grpc_spans.spans + http_spans.spans,
                "metrics": metric_exporter.points,
                "logs": log_exporter.records,
                "exports": {
                    "traces_grpc_requests": grpc_spans.requests,
                    "traces_http_requests": http_spans.requests,
                    "metrics_grpc_requests": metric_exporter.requests,
                    "logs_grpc_requests": log_exporter.requests,
                    "failures": failures,
                },
            },
            sort_keys=True,
        )
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
