#!/usr/bin/env python3
"""Record what the plain OpenTelemetry Python SDK sends for metrics and logs (python-sdk captures).

Run by record.sh with OTEL_EXPORTER_OTLP_ENDPOINT pointing at capture_server.py.
OTLP/HTTP protobuf exporters with gzip compression (to exercise Content-Encoding: gzip; the
python-lambda captures show the uncompressed default). Resource = what a Python Lambda
function has (AwsLambdaResourceDetector from opentelemetry-sdk-extension-aws + OTEL_SERVICE_NAME
+ OTEL_RESOURCE_ATTRIBUTES). Default (CUMULATIVE) temporality.

  traces-1   one SERVER span "POST /orders" with a child INTERNAL span (the logs' context)
  logs-1     INFO, WARNING (with extra attributes), ERROR with exc_info (exception.*
             attributes), all inside the child span, via the logging handler
  metrics-1  first collection (force_flush):
               orders.processed                    Counter (int, monotonic sum)
               orders.latency                      Histogram, unit ms, SDK default buckets
               orders.latency.advised              Histogram with explicit_bucket_boundaries_advisory
               orders.size                         Histogram -> ExponentialBucketHistogramAggregation (View)
               orders.inflight                     UpDownCounter (non-monotonic sum)
               process.runtime.memory.used         Gauge (sync, double)
               ApproximateNumberOfMessagesVisible  ObservableGauge, QueueName=orders-dlq
  metrics-2  second collection after more recordings (cumulative: counts grow, start time fixed)
  metrics-3  the final collection the reader makes on shutdown (same values as metrics-2)
"""

import logging
import os
import pathlib
import sys

FN = "orders-worker-py"
ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": FN,
    "AWS_LAMBDA_FUNCTION_VERSION": "12",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/24/[12]0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
    "AWS_REGION": "eu-west-1",
    "OTEL_SERVICE_NAME": FN,
    "OTEL_RESOURCE_ATTRIBUTES": "service.version=1.4.2,deployment.environment.name=prod,team=payments",
}
for k, v in ENV.items():
    os.environ.setdefault(k, v)
if "OTEL_EXPORTER_OTLP_ENDPOINT" not in os.environ:
    sys.exit("set OTEL_EXPORTER_OTLP_ENDPOINT (record.sh does)")

from opentelemetry import metrics, trace  # noqa: E402
from opentelemetry._logs import set_logger_provider  # noqa: E402
from opentelemetry.exporter.otlp.proto.http import Compression  # noqa: E402
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.instrumentation.logging.handler import LoggingHandler  # noqa: E402
from opentelemetry.metrics import CallbackOptions, Observation  # noqa: E402
from opentelemetry.sdk._logs import LoggerProvider  # noqa: E402
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor  # noqa: E402
from opentelemetry.sdk.extension.aws.resource._lambda import AwsLambdaResourceDetector  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader  # noqa: E402
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View  # noqa: E402
from opentelemetry.sdk.resources import Resource, get_aggregated_resources  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402

GZ = Compression.Gzip
resource = get_aggregated_resources([AwsLambdaResourceDetector()], Resource.create())

tp = TracerProvider(resource=resource)
tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(compression=GZ)))
trace.set_tracer_provider(tp)

reader = PeriodicExportingMetricReader(OTLPMetricExporter(compression=GZ), export_interval_millis=3_600_000)
mp = MeterProvider(
    resource=resource,
    metric_readers=[reader],
    views=[View(instrument_name="orders.size", aggregation=ExponentialBucketHistogramAggregation(max_size=160))],
)
metrics.set_meter_provider(mp)

lp = LoggerProvider(resource=resource)
lp.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(compression=GZ)))
set_logger_provider(lp)
log = logging.getLogger("orders.worker")
log.setLevel(logging.INFO)
log.propagate = False
log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=lp))

meter = metrics.get_meter("orders.worker", "1.4.2")
processed = meter.create_counter("orders.processed", unit="{order}", description="orders processed")
latency = meter.create_histogram("orders.latency", unit="ms", description="order latency")
latency_adv = meter.create_histogram(
    "orders.latency.advised", unit="ms", explicit_bucket_boundaries_advisory=[0, 5, 10, 25, 50, 100, 250, 500, 1000]
)
size = meter.create_histogram("orders.size", unit="By")
inflight = meter.create_up_down_counter("orders.inflight", unit="{order}")
mem = meter.create_gauge("process.runtime.memory.used", unit="MiB")
meter.create_observable_gauge(
    "ApproximateNumberOfMessagesVisible",
    callbacks=[lambda _opts: [Observation(3, {"QueueName": "orders-dlq"}), Observation(0, {"QueueName": "orders"})]],
    unit="{message}",
)


def record(batch: int):
    q = {"queue": "orders"}
    processed.add(5 * batch, {**q, "outcome": "ok"})
    processed.add(1, {**q, "outcome": "failed"})
    for v in (3, 7, 7, 30, 120, 700, 2000)[: 4 + batch]:
        latency.record(v, q)
        latency_adv.record(v, q)
    for v in (0, 1, 2, 4, 8, 1000, 0.5)[: 4 + batch]:
        size.record(v)
    inflight.add(3, q)
    inflight.add(-1 * batch, q)
    mem.set(123.5 * batch, {"faas.name": FN})


def main():
    tracer = trace.get_tracer("orders.worker", "1.4.2")
    with tracer.start_as_current_span(
        "POST /orders",
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "POST", "http.route": "/orders", "http.response.status_code": 201},
    ):
        with tracer.start_as_current_span("process order"):
            log.info("order 1001 accepted")
            log.warning("order 1001 retried", extra={"order.id": 1001, "retry.count": 2})
            try:
                raise KeyError("sku A-9 missing")
            except KeyError:
                log.error("order 1001 failed", exc_info=True)
    lp.force_flush()

    record(1)
    mp.force_flush()
    record(2)
    mp.force_flush()
    mp.shutdown()
    lp.shutdown()
    tp.shutdown()


if __name__ == "__main__":
    main()
