#!/usr/bin/env bash
# Serves the whole API locally on the embedded SQLite store: http://127.0.0.1:${PORT:-9000}/api/...
# Installs cargo-lambda (from PyPI) when it is missing. Extra arguments go to `cargo lambda watch`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo lambda --version >/dev/null 2>&1; then
  echo "installing cargo-lambda (pip install cargo-lambda)" >&2
  python3 -m pip install --quiet cargo-lambda
fi
# Build every function first so the first request does not wait for a compile.
cargo build --bins
# The functions reach cargo-lambda's Runtime API through scripts/runtime_api_proxy.py: without it cargo-lambda
# 1.9.2 loses about 1 function response in 500 (docs/upstream/cargo-lambda-500.md; E2EE_RUNTIME_API_PROXY=off
# serves without it). Sets e2ee_watch_env and e2ee_proxy_pid.
# shellcheck source=scripts/local-runtime.sh
. scripts/local-runtime.sh "${PORT:-9000}"
trap 'kill $e2ee_proxy_pid 2>/dev/null || true' EXIT
env "${e2ee_watch_env[@]}" cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "${PORT:-9000}" "$@"
