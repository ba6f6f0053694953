#!/usr/bin/env bash
# e2ee-client-core (clients/core) is the client half of the protocol without I/O, meant to run in the browser too
# (WebAssembly) as well as under the Rust SDK and the CLI. This keeps it that way; scripts/test.sh runs it first.
#
# 1. Its normal (non-dev, non-build) dependency tree, native and for wasm32-unknown-unknown, holds no tokio, reqwest,
#    hyper or mio (nor any tokio-*, hyper-*, ... crate): the offender is named, with the path that pulls it in.
# 2. The workspace crates in that tree (clients/core, shared/crypto, shared/mls, shared/protocol today) do not use
#    std::fs. It compiles for wasm32-unknown-unknown and only fails at run time, so the build below cannot catch it.
#    (Third-party crates are not searched: their std::fs code is behind features we do not enable, e.g.
#    openmls_memory_storage's `persistence`.)
# 3. It builds for wasm32-unknown-unknown, with Cargo.lock as committed (--locked), as the browser loads it
#    (scripts/build-wasm.sh: clients/wasm and its JavaScript glue).
#
# The WebAssembly toolchain (Debian's rustc-web with -Z build-std where rustup cannot add the target, installed when
# missing), the wasm-bindgen CLI, the release profile and the target dir outside the repository: see
# scripts/build-wasm.sh. Compiling every crate for the target is what proves the graph (getrandom and openmls refuse
# to compile for wasm32 without their JavaScript features: clients/core/Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/.."

crate=e2ee-client-core
wasm_target=wasm32-unknown-unknown
say() { echo "check-client-core: $*"; }
fail() {
  echo "check-client-core: FAILED: $*" >&2
  exit 1
}

# 1. No async runtime or HTTP stack in the core's dependency tree.
banned='tokio|reqwest|hyper|mio'
for target in native "$wasm_target"; do
  target_args=()
  [ "$target" = native ] || target_args=(--target "$target")
  tree=$(cargo tree --locked -p "$crate" -e normal --prefix none "${target_args[@]}") ||
    fail "cargo tree -p $crate failed (is Cargo.lock up to date? run a cargo build once and commit it)"
  offenders=$(printf '%s\n' "$tree" | grep -E "^($banned)(-[A-Za-z0-9_-]+)? v" | sed 's/ (.*//' | sort -u || true)
  if [ -n "$offenders" ]; then
    echo "check-client-core: FAILED: $crate ($target) depends on crates it must not use (it does no I/O):" >&2
    while read -r name version; do
      echo "  $name $version, pulled in by:" >&2
      cargo tree --locked -p "$crate" -e normal -i "$name@${version#v}" "${target_args[@]}" >&2 || true
    done <<<"$offenders"
    exit 1
  fi
done
say "dependency tree (native and $wasm_target): no tokio, reqwest, hyper, mio"

# 2. No std::fs in the workspace's own crates of that tree (path dependencies: `name vX (/path)` in cargo tree).
fs_users=""
while read -r dir; do
  hits=$(grep -rnE '(^|[^A-Za-z0-9_])fs::|std::\{[^}]*\bfs\b' "$dir/src" 2>/dev/null || true)
  [ -z "$hits" ] || fs_users+="$hits"$'\n'
done < <(cargo tree --locked -p "$crate" -e normal --prefix none --target "$wasm_target" |
  grep -oE ' \(/[^)]+\)' | sed 's/^ (//; s/)$//' | sort -u)
if [ -n "$fs_users" ]; then
  printf '%s' "$fs_users" >&2
  fail "std::fs used above, in $crate or a workspace crate it depends on (files are the SDK's or the CLI's business)"
fi
say "workspace crates in its tree: no std::fs"

# 3. The WebAssembly build: scripts/build-wasm.sh builds clients/wasm (the core's bindings for the browser, in
# release) for wasm32-unknown-unknown, which compiles the core and its whole graph for the target, and generates
# the JavaScript glue the web SDK and its tests load. One wasm build per run.
start=$SECONDS
scripts/build-wasm.sh || fail "$crate does not build for $wasm_target (see above)"
say "$crate builds for $wasm_target, with its bindings ($((SECONDS - start)) s)"
