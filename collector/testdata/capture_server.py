#!/usr/bin/env python3
"""Tiny OTLP capture server: records what real exporters send, byte for byte.

    .venv/bin/python collector/testdata/capture_server.py --out-dir DIR [--grpc] [--port-file F]

* OTLP/HTTP on 127.0.0.1 (a free port unless --http-port): POST /v1/traces, /v1/metrics,
  /v1/logs; Content-Length or chunked bodies; Content-Encoding gzip / deflate undone;
  answers 200 with an empty protobuf body (Content-Type application/x-protobuf), or "{}"
  for application/json requests.
* With --grpc also an OTLP/gRPC server (grpcio) on 127.0.0.1 (a free port unless
  --grpc-port) for the three OTLP collector services, answering empty Export*ServiceResponse;
  the request message bytes are saved as received (gRPC framing / compression undone by grpcio).
* Every request body (after decompression) is saved as DIR/<signal>-<n>.pb (n counts per
  signal from 1, across both transports; JSON requests as DIR/<signal>-<n>.otlp.json), a
  readable DIR/<signal>-<n>.json next to it (see otlp_json.py), and one line of transport
  facts (headers / metadata, wire and body sizes) appended to DIR/requests.jsonl.
* Once listening it writes {"http": PORT, "grpc": PORT|null} to --port-file (atomically)
  and to stdout, then serves until SIGTERM / SIGINT.
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import json
import os
import pathlib
import signal
import sys
import threading
import zlib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import otlp_json  # noqa: E402

PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}


class Store:
    def __init__(self, out_dir: pathlib.Path):
        self.out_dir = out_dir
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        out_dir.mkdir(parents=True, exist_ok=True)

    def save(self, signal_name: str, body: bytes, is_json: bool, meta: dict) -> str:
        with self.lock:
            n = self.counts.get(signal_name, 0) + 1
            self.counts[signal_name] = n
            stem = f"{signal_name}-{n}"
            if is_json:
                name = f"{stem}.otlp.json"
                (self.out_dir / name).write_bytes(body)
            else:
                name = f"{stem}.pb"
                (self.out_dir / name).write_bytes(body)
                (self.out_dir / f"{stem}.json").write_text(otlp_json.to_json(signal_name, body))
            meta = {"file": name, **meta}
            with open(self.out_dir / "requests.jsonl", "a") as f:
                f.write(json.dumps(meta, sort_keys=True) + "\n")
            print(f"capture: {meta}", file=sys.stderr, flush=True)
            return name


def decompress(body: bytes, encoding: str) -> bytes:
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        try:
            return zlib.decompress(body)  # zlib-wrapped (what Python's exporter sends)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


def make_http_handler(store: Store):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as exporters expect

        def log_message(self, fmt, *args):  # quiet; Store.save logs what matters
            pass

        def _read_body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    line = self.rfile.readline().strip()
                    size = int(line.split(b";", 1)[0], 16)
                    if size == 0:
                        while self.rfile.readline().strip():  # trailers
                            pass
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()  # CRLF after each chunk
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _reply(self, code: int, body: bytes, ctype: str):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            signal_name = PATHS.get(self.path.split("?", 1)[0])
            wire = self._read_body()
            if signal_name is None:
                self._reply(404, b"not an OTLP path\n", "text/plain")
                return
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            is_json = ctype == "application/json"
            try:
                body = decompress(wire, self.headers.get("Content-Encoding"))
                if not is_json:
                    otlp_json.parse(signal_name, body)  # reject garbage early
            except Exception as e:  # noqa: BLE001
                self._reply(400, f"bad request: {e}\n".encode(), "text/plain")
                return
            store.save(
                signal_name,
                body,
                is_json,
                {
                    "transport": "http",
                    "path": self.path,
                    "content_type": self.headers.get("Content-Type"),
                    "content_encoding": self.headers.get("Content-Encoding"),
                    "transfer_encoding": self.headers.get("Transfer-Encoding"),
                    "content_length": self.headers.get("Content-Length"),
                    "user_agent": self.headers.get("User-Agent"),
                    "wire_bytes": len(wire),
                    "body_bytes": len(body),
                },
            )
            if is_json:
                self._reply(200, b"{}", "application/json")
            else:
                self._reply(200, b"", "application/x-protobuf")

    return Handler


def start_grpc(store: Store, port: int):
    """OTLP/gRPC collector services, registered generically so the handlers get the raw
    request bytes (saved unmodified, like the HTTP bodies) rather than a re-serialisation."""
    from concurrent import futures

    import grpc

    services = {
        "opentelemetry.proto.collector.trace.v1.TraceService": "traces",
        "opentelemetry.proto.collector.metrics.v1.MetricsService": "metrics",
        "opentelemetry.proto.collector.logs.v1.LogsService": "logs",
    }

    def handler_for(service: str, signal_name: str):
        def export(raw: bytes, context):
            try:
                otlp_json.parse(signal_name, raw)
            except Exception as e:  # noqa: BLE001
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad request: {e}")
            md = {k: v for k, v in context.invocation_metadata() if not k.endswith("-bin")}
            store.save(
                signal_name,
                raw,
                False,
                {
                    "transport": "grpc",
                    "method": f"/{service}/Export",
                    "metadata": md,
                    "body_bytes": len(raw),
                },
            )
            return b""  # an empty Export*ServiceResponse

        return grpc.method_handlers_generic_handler(
            service,
            {"Export": grpc.unary_unary_rpc_method_handler(export, request_deserializer=None, response_serializer=None)},
        )

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(tuple(handler_for(svc, sig) for svc, sig in services.items()))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, bound


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", required=True, type=pathlib.Path)
    ap.add_argument("--http-port", type=int, default=0)
    ap.add_argument("--grpc", action="store_true", help="also serve OTLP/gRPC")
    ap.add_argument("--grpc-port", type=int, default=0)
    ap.add_argument("--port-file", type=pathlib.Path)
    args = ap.parse_args()

    store = Store(args.out_dir)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", args.http_port), make_http_handler(store))
    httpd.daemon_threads = True
    grpc_server, grpc_port = (None, None)
    if args.grpc:
        grpc_server, grpc_port = start_grpc(store, args.grpc_port)

    ports = json.dumps({"http": httpd.server_address[1], "grpc": grpc_port})
    if args.port_file:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(ports + "\n")
        os.replace(tmp, args.port_file)
    print(ports, flush=True)

    def stop(*_):
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    httpd.serve_forever()
    if grpc_server is not None:
        grpc_server.stop(grace=1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
