#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what the tests need, then
# fmt check, clippy, every test, and a debug build. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "python venv for the OpenTelemetry SDK e2e tests"
SLOD_TEST_PYTHON="$(./scripts/setup-python.sh | tail -n 1)"
export SLOD_TEST_PYTHON

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --workspace --all-targets

step "debug build"
cargo build --workspace
echo "all checks passed"
