#!/usr/bin/env python3
"""Decode raw OTLP protobuf export requests into readable JSON.

Used by capture_server.py for every capture it saves, and usable by hand:

    .venv/bin/python collector/testdata/otlp_json.py collector/testdata/python-sdk/metrics-1.pb
    .venv/bin/python collector/testdata/otlp_json.py --rewrite collector/testdata   # regenerate all *.json

The signal is taken from the file name (traces-*, metrics-*, logs-*).

Output = google.protobuf.json_format.MessageToJson of the Export*ServiceRequest with two
changes that make it valid OTLP/JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding)
rather than canonical proto3 JSON:
  * traceId / spanId / parentSpanId are lowercase hex (proto3 JSON would print base64);
  * enums are integers (use_integers_for_enums=True), e.g. "kind": 2 for SERVER.
64-bit integers stay JSON strings ("intValue": "512", "timeUnixNano": "1764..."), as the
protobuf library prints them; OTLP/JSON receivers must accept both strings and numbers.
"""

from __future__ import annotations

import base64
import pathlib
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

REQUEST_TYPES = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}
_ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def parse(signal: str, raw: bytes):
    msg = REQUEST_TYPES[signal]()
    msg.ParseFromString(raw)
    return msg


def _hex_ids(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in _ID_KEYS and isinstance(v, str):
                node[k] = base64.b64decode(v).hex()
            else:
                _hex_ids(v)
    elif isinstance(node, list):
        for v in node:
            _hex_ids(v)
    return node


def to_json(signal: str, raw: bytes) -> str:
    import json

    msg = parse(signal, raw)
    d = json.loads(json_format.MessageToJson(msg, use_integers_for_enums=True))
    return json.dumps(_hex_ids(d), indent=2) + "\n"


def signal_of(path: pathlib.Path) -> str:
    sig = path.name.split("-", 1)[0]
    if sig not in REQUEST_TYPES:
        raise SystemExit(f"{path}: cannot tell the signal from the file name")
    return sig


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--rewrite":
        for pb in sorted(pathlib.Path(argv[1]).rglob("*.pb")):
            pb.with_suffix(".json").write_text(to_json(signal_of(pb), pb.read_bytes()))
            print(pb.with_suffix(".json"))
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    pb = pathlib.Path(argv[0])
    sys.stdout.write(to_json(signal_of(pb), pb.read_bytes()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
