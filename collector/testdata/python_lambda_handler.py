"""The user's Lambda function for the python-lambda capture (see python_lambda_record.py).

Plain handler code, as a user would write it; the instrumentation wraps `handler`.
"""

import json

from opentelemetry import trace

tracer = trace.get_tracer("orders.handler", "1.0.0")


def handler(event, context):
    if isinstance(event, dict) and "Records" in event:  # SQS batch
        failures = []
        for record in event["Records"]:
            body = json.loads(record["body"])
            if body.get("poison"):
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    path = event.get("path") or event.get("rawPath") or ""
    with tracer.start_as_current_span("validate order") as span:
        span.set_attribute("order.id", path.rsplit("/", 1)[-1])
        if path.endswith("/fail"):
            raise ValueError("order fail does not exist")
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": '{"ok":true}'}
