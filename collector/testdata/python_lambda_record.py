#!/usr/bin/env python3
"""Record what opentelemetry-instrumentation-aws-lambda really sends (python-lambda captures).

Run by record.sh with OTEL_EXPORTER_OTLP_ENDPOINT pointing at capture_server.py.
Sets up a fake Lambda execution environment (the env vars the Lambda runtime sets, a
context object like the runtime's), the SDK the way the opentelemetry-lambda Python layer
does (OTLP/HTTP protobuf, BatchSpanProcessor, AwsLambdaResourceDetector), instruments the
handler named by _HANDLER and invokes it:
  1. API Gateway REST (v1) proxy event, GET /orders/{id}        -> cold (first) invocation
  2. API Gateway HTTP API (v2) event, POST /orders, traceparent  -> warm, remote parent
  3. SQS event, 2 records, one carrying a traceparent attribute  -> pubsub + CONSUMER span + link
  4. API Gateway v1 event whose handler raises ValueError        -> ERROR + exception event
The instrumentation force-flushes the tracer provider after every invocation, so each
invocation becomes one OTLP request (traces-1..4).
"""

import os
import pathlib
import sys
import types

HERE = pathlib.Path(__file__).resolve().parent
FN = "orders-api-py"
LOG_STREAM = "2026/11/24/[$LATEST]7c0d9a1e4b5f4e3c9a8b6d2f1e0c3b4a"
ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": FN,
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FN}",
    "AWS_LAMBDA_LOG_STREAM_NAME": LOG_STREAM,
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "LAMBDA_TASK_ROOT": str(HERE),
    "_HANDLER": "python_lambda_handler.handler",
    # what the opentelemetry-lambda Python layer (otel-instrument) defaults to
    "OTEL_SERVICE_NAME": FN,
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
}
for k, v in ENV.items():
    os.environ.setdefault(k, v)
if "OTEL_EXPORTER_OTLP_ENDPOINT" not in os.environ:
    sys.exit("set OTEL_EXPORTER_OTLP_ENDPOINT (record.sh does)")
sys.path.insert(0, str(HERE))

from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor  # noqa: E402
from opentelemetry.sdk.extension.aws.resource._lambda import AwsLambdaResourceDetector  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.resources import Resource, get_aggregated_resources  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402

resource = get_aggregated_resources([AwsLambdaResourceDetector()], Resource.create())
tp = TracerProvider(resource=resource)
tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(tp)
AwsLambdaInstrumentor().instrument(tracer_provider=tp, meter_provider=MeterProvider(resource=resource))

import python_lambda_handler  # noqa: E402  (wrapped by the instrumentor)

ACCOUNT = "123456789012"
ARN = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{FN}"


def context(request_id: str, qualifier: str = "live"):
    return types.SimpleNamespace(
        function_name=FN,
        function_version="$LATEST",
        invoked_function_arn=f"{ARN}:{qualifier}",
        memory_limit_in_mb="512",
        aws_request_id=request_id,
        log_group_name=f"/aws/lambda/{FN}",
        log_stream_name=LOG_STREAM,
        get_remaining_time_in_millis=lambda: 29_000,
    )


def apigw_v1(method: str, resource: str, path: str, headers=None):
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {
            "Host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "User-Agent": "curl/8.5.0",
            "X-Forwarded-Proto": "https",
            **(headers or {}),
        },
        "multiValueHeaders": None,
        "queryStringParameters": {"expand": "items"},
        "pathParameters": {"id": path.rsplit("/", 1)[-1]},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/prod{path}",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "accountId": ACCOUNT,
            "apiId": "abc123",
        },
        "body": None,
        "isBase64Encoded": False,
    }


def apigw_v2(method: str, path: str, headers=None):
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "def456",
            "domainName": "def456.execute-api.eu-west-1.amazonaws.com",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "python-requests/2.32"},
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": f"{method} {path}",
            "stage": "$default",
        },
        "body": '{"sku":"A-1","qty":2}',
        "isBase64Encoded": False,
    }


def sqs_event():
    queue_arn = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:orders-queue"
    rec = lambda mid, body, attrs: {  # noqa: E731
        "messageId": mid,
        "receiptHandle": "AQEB...",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764000000000", "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1764000000100"},
        "messageAttributes": attrs,
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "eu-west-1",
    }
    return {
        "Records": [
            rec("059f36b4-87a3-44ab-83d2-661975830a7d", '{"order":1}',
                {"traceparent": {"stringValue": "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01", "dataType": "String"}}),
            rec("2e1424d4-f796-459a-8184-9c92662be6da", '{"order":2}', {}),
        ]
    }


def main():
    h = python_lambda_handler
    # 1. cold start, REST API proxy (v1)
    h.handler(apigw_v1("GET", "/orders/{id}", "/orders/1001"), context("3f1c2a52-9d3e-4c6b-8f0a-0c5e8b7d1a01"))
    # 2. warm, HTTP API (v2) with an incoming W3C traceparent (span gets a remote parent)
    h.handler(
        apigw_v2("POST", "/orders", {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}),
        context("3f1c2a52-9d3e-4c6b-8f0a-0c5e8b7d1a02"),
    )
    # 3. SQS batch of 2
    h.handler(sqs_event(), context("3f1c2a52-9d3e-4c6b-8f0a-0c5e8b7d1a03", qualifier="7"))
    # 4. error
    try:
        h.handler(apigw_v1("GET", "/orders/{id}", "/orders/fail"), context("3f1c2a52-9d3e-4c6b-8f0a-0c5e8b7d1a04"))
    except ValueError:
        pass
    else:
        raise SystemExit("expected the handler to raise")
    tp.shutdown()


if __name__ == "__main__":
    main()
