#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what the tests need, then
# fmt check, clippy, every test, and a debug build. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# A cold, one-shot build gains nothing from incremental compilation and it costs disk
# (gigabytes under target/debug/incremental) and time; set CARGO_INCREMENTAL=1 to keep it.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step() { printf '\n==> %s\n' "$*"; }

step "python venv: OpenTelemetry SDK, psycopg and DuckDB for the e2e tests"
SLOD_TEST_PYTHON="$(./scripts/setup-python.sh sql | tail -n 1)"
export SLOD_TEST_PYTHON

step "psql and node-postgres for the PostgreSQL wire e2e tests"
if ! command -v psql >/dev/null; then
    apt-get update && apt-get install -y --no-install-recommends postgresql-client
fi
./scripts/setup-node.sh

step "Alertmanager (Debian's prometheus-alertmanager) for the alerting e2e tests"
SLOD_TEST_ALERTMANAGER="$(./scripts/setup-alertmanager.sh | tail -n 1)"
export SLOD_TEST_ALERTMANAGER

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --workspace --all-targets

step "debug build"
cargo build --workspace
echo "all checks passed"
