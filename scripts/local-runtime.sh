# shellcheck shell=bash
# Source it before starting `cargo lambda watch` on PORT (scripts/serve.sh, scripts/test.sh):
#
#     . scripts/local-runtime.sh PORT        # then: env "${e2ee_watch_env[@]}" cargo lambda watch ... --invoke-port PORT
#
# Starts scripts/runtime_api_proxy.py in front of cargo-lambda's Runtime API (the functions' side only; clients
# still talk to PORT) and sets e2ee_watch_env to the variables that make every function use it
# (CARGO_TARGET_<host triple>_RUNNER=scripts/lambda-runner.sh, E2EE_RUNTIME_API_PROXY=127.0.0.1:<proxy port>),
# and e2ee_proxy_pid to the proxy's pid (stop it when the watch stops). Why: cargo-lambda 1.9.2 loses about 1
# function response in 500 (bare 500 or a hang) — docs/upstream/cargo-lambda-500.md. Set
# E2EE_RUNTIME_API_PROXY=off to serve without it (to reproduce the bug).
_e2ee_watch_port="$1"
e2ee_watch_env=()
e2ee_proxy_pid=""
if [ "${E2EE_RUNTIME_API_PROXY:-}" = "off" ]; then
  echo "local-runtime: E2EE_RUNTIME_API_PROXY=off: functions talk to cargo-lambda directly (known to lose responses)" >&2
else
  _e2ee_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  _e2ee_port_file="$(mktemp)"
  rm -f "$_e2ee_port_file"
  python3 "$_e2ee_root/scripts/runtime_api_proxy.py" --upstream "127.0.0.1:$_e2ee_watch_port" --port-file "$_e2ee_port_file" &
  e2ee_proxy_pid=$!
  for _ in $(seq 1 100); do [ -s "$_e2ee_port_file" ] && break; sleep 0.05; done
  if [ ! -s "$_e2ee_port_file" ]; then
    echo "local-runtime: the Runtime API proxy did not start" >&2
    return 1
  fi
  _e2ee_triple="$(rustc -vV | sed -n 's/^host: //p' | tr 'a-z-' 'A-Z_')"
  e2ee_watch_env=(
    "CARGO_TARGET_${_e2ee_triple}_RUNNER=$_e2ee_root/scripts/lambda-runner.sh"
    "E2EE_RUNTIME_API_PROXY=127.0.0.1:$(cat "$_e2ee_port_file")"
  )
  rm -f "$_e2ee_port_file"
fi
