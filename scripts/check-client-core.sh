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
# 3. It builds for wasm32-unknown-unknown, with Cargo.lock as committed (--locked).
#
# The WebAssembly toolchain. rustup cannot add the wasm32 target on machines that reach only package registries, and
# rustup's compilers with Debian's std sources fail (`unknown lang item`, seen in an earlier spike), so this uses
# Debian's Rust for the web: rustc-web (sysroot /usr; it has no prebuilt wasm32 std, so std is built from rust-web-src
# with `-Z build-std`, allowed on a stable compiler by RUSTC_BOOTSTRAP=1) and lld-19's wasm-ld.
# Debian's own cargo (cargo-web, /usr/bin/cargo, 1.96 here) is used by its full path: rustup's ~/.cargo/bin usually
# comes first on PATH. It reads this workspace as is (edition 2024, Cargo.lock version 4), so no mixing of rustup's
# cargo with Debian's rustc is needed. -Z build-std resolves std's own dependencies (compiler_builtins, dlmalloc, ...)
# from std's Cargo.lock in /usr/lib/rustlib/src/rust and downloads them from the registry on the first build.
# The packages are installed here when missing (apt-get, as root: CI runs as root); elsewhere the script says what to
# install and stops. On a machine where `rustup target add wasm32-unknown-unknown` works, a plain
# `cargo build -p e2ee-client-core --target wasm32-unknown-unknown` is the same check.
#
# Profile: dev. Measured on 2 shared cores, cold (193 crates with std's own): dev 3 min 10-17 s, release 3 min 51 s (the
# release profile's LTO does not apply to a library, so release only adds optimization); warm (nothing changed): under
# 1 s. The crate is an rlib, so nothing is linked yet; compiling every crate for the target is what proves the graph
# (getrandom and openmls refuse to compile for wasm32 without their JavaScript features: clients/core/Cargo.toml).
#
# The build goes to its own target dir, outside the repository by default, so it never mixes with the native
# target/ (another compiler, another std): $E2EE_WASM_TARGET_DIR, default ~/.cache/e2ee-wasm-target (~0.5 GB).
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

# 3. The WebAssembly build.
packages=(rustc-web cargo-web rust-web-src lld-19)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  install=(apt-get install -y -qq --no-install-recommends "${packages[@]}")
  command -v apt-get >/dev/null 2>&1 ||
    fail "the $wasm_target build needs Debian's ${missing[*]} and this machine has no apt-get" \
      "(with rustup: rustup target add $wasm_target; cargo build -p $crate --target $wasm_target)"
  [ "$(id -u)" -eq 0 ] ||
    fail "the $wasm_target build needs Debian's ${missing[*]}, and this script is not running as root to install" \
      "them; run: sudo apt-get update && sudo ${install[*]}"
  cargo_before=$(command -v cargo || true)
  say "installing ${missing[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${install[@]}"
  # cargo-web and rustc-web put cargo and rustc in /usr/bin; normally rustup's ~/.cargo/bin comes first on PATH.
  cargo_after=$(command -v cargo || true)
  if [ "$cargo_after" != "$cargo_before" ]; then
    say "WARNING: \`cargo\` on PATH is now $cargo_after (was ${cargo_before:-none}): put rustup's ~/.cargo/bin first"
  fi
fi
for tool in /usr/bin/cargo /usr/bin/rustc; do
  [ -x "$tool" ] || fail "$tool missing after installing ${packages[*]}"
done
command -v wasm-ld-19 >/dev/null 2>&1 || fail "wasm-ld-19 missing after installing lld-19"

wasm_target_dir="${E2EE_WASM_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/e2ee-wasm-target}"
say "building $crate for $wasm_target with $(/usr/bin/cargo --version) / $(/usr/bin/rustc --version)" \
  "into $wasm_target_dir"
start=$SECONDS
if ! CARGO_TARGET_DIR="$wasm_target_dir" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-19 \
  /usr/bin/cargo build --locked -p "$crate" --target "$wasm_target" -Z build-std=std,panic_abort; then
  fail "$crate does not build for $wasm_target (see above)"
fi
say "$crate builds for $wasm_target ($((SECONDS - start)) s)"
