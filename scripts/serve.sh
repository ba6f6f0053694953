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
exec cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "${PORT:-9000}" "$@"
