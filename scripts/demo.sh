#!/usr/bin/env bash
# `make demo`: brings the local stack up, runs `inferwatch demo` against it, and stops what it started whatever
# happens (a stack that was already up before is left running).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK=$ROOT/scripts/stack.sh

started=()
for service in kafka redis; do
  bash "$STACK" status "$service" >/dev/null || started+=("$service")
done
stop_started() { ((${#started[@]} == 0)) || bash "$STACK" down "${started[@]}"; }
trap stop_started EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$STACK" up
export INFERWATCH_KAFKA_BOOTSTRAP=127.0.0.1:${INFERWATCH_KAFKA_PORT:-9092}
export INFERWATCH_REDIS_URL=redis://127.0.0.1:${INFERWATCH_REDIS_PORT:-6379}/0
export INFERWATCH_CONFIG=${INFERWATCH_CONFIG:-$ROOT/scripts/demo.yaml}  # the demo's declared SLOs
"$ROOT/.venv/bin/inferwatch" demo "$@"
