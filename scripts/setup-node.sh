#!/usr/bin/env bash
# Idempotently install scripts/node/node_modules from the committed package-lock.json.
# Skips npm entirely when node_modules already matches the lock (sha256 of
# package.json + package-lock.json stored in node_modules/.slod-lock.sha256).
# Uses `npm ci` when a lock exists (reproducible), `npm install` otherwise (creates it).
# Set FORCE=1 to reinstall anyway.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/node" && pwd)"
cd "$dir"
command -v node >/dev/null || { echo "setup-node: node not found" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup-node: npm not found" >&2; exit 1; }

stamp="node_modules/.slod-lock.sha256"
hash_inputs() { cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1; }

if [[ "${FORCE:-0}" != 1 && -f package-lock.json && -f "$stamp" && "$(cat "$stamp")" == "$(hash_inputs)" ]]; then
    echo "setup-node: $dir/node_modules is up to date" >&2
    exit 0
fi

npm_flags=(--no-audit --no-fund --loglevel=error)
if [[ -f package-lock.json ]]; then
    echo "setup-node: npm ci in $dir" >&2
    npm ci "${npm_flags[@]}"
else
    echo "setup-node: npm install in $dir (no lock yet; commit the new package-lock.json)" >&2
    npm install "${npm_flags[@]}"
fi
hash_inputs > "$stamp"
