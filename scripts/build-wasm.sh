#!/usr/bin/env bash
# Builds the client core for the browser: clients/wasm (crate e2ee-client-wasm, wasm-bindgen bindings over
# e2ee-client-core) compiled to wasm32-unknown-unknown in release (the workspace's size-optimized profile), then
# wasm-bindgen's JavaScript glue, into clients/web/wasm/ (not committed):
#   e2ee_client_wasm.js, e2ee_client_wasm.d.ts, e2ee_client_wasm_bg.wasm
# `--target web` output: the page loads it with `init()`; Node (tests, benchmarks) passes the bytes:
#   `await init({ module_or_path: readFileSync(".../e2ee_client_wasm_bg.wasm") })`.
#
# Toolchain. On an ordinary machine: `rustup target add wasm32-unknown-unknown` and `cargo install
# wasm-bindgen-cli --version <the wasm-bindgen version in Cargo.lock>`; then set E2EE_WASM_CARGO=cargo and this
# script builds with them. On machines that reach only package registries (ours and CI's) rustup cannot add the
# target, so by default this uses Debian's Rust for the web: rustc-web (sysroot /usr, no prebuilt wasm32 std, so std
# is built from rust-web-src with `-Z build-std`, allowed on a stable compiler by RUSTC_BOOTSTRAP=1; std's own
# dependencies come from the registry on the first build), lld-19's wasm-ld, and Debian's cargo by its full path
# (/usr/bin/cargo: rustup's ~/.cargo/bin usually comes first on PATH). rustup's compilers with Debian's std sources
# fail (`unknown lang item`). The packages are installed here when missing (as root; CI runs as root).
# wasm-bindgen-cli is installed once per version under $E2EE_WASM_BINDGEN_ROOT (default
# ~/.cache/e2ee-wasm-bindgen/<version>, ~3.5 min the first time).
#
# Cold on 2 cores: std + ~170 crates ≈ 5–6 min; nothing changed: a few seconds. Target dir: $E2EE_WASM_TARGET_DIR
# (default ~/.cache/e2ee-wasm-target), never the native target/. Every checkout shares it (a fresh clone, as in CI,
# builds only the workspace's crates again), and cargo tells fresh from stale by file times: do not interleave
# builds of two checkouts with different sources (a clone's older files can pass for built), or give each its own.
set -euo pipefail
cd "$(dirname "$0")/.."

crate=e2ee_client_wasm
wasm_target=wasm32-unknown-unknown
out_dir=clients/web/wasm
say() { echo "build-wasm: $*"; }
fail() {
  echo "build-wasm: FAILED: $*" >&2
  exit 1
}

cache="${XDG_CACHE_HOME:-$HOME/.cache}"
wasm_target_dir="${E2EE_WASM_TARGET_DIR:-$cache/e2ee-wasm-target}"
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$bindgen_version" ] || fail "no wasm-bindgen in Cargo.lock"
bindgen_root="${E2EE_WASM_BINDGEN_ROOT:-$cache/e2ee-wasm-bindgen/$bindgen_version}"
bindgen="$bindgen_root/bin/wasm-bindgen"

# 1. The compiler.
if [ -n "${E2EE_WASM_CARGO:-}" ]; then
  build=("$E2EE_WASM_CARGO" build)
  build_env=()
else
  packages=(rustc-web cargo-web rust-web-src lld-19)
  missing=()
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 ||
      fail "needs Debian's ${missing[*]}; elsewhere: rustup target add $wasm_target, then E2EE_WASM_CARGO=cargo $0"
    [ "$(id -u)" -eq 0 ] ||
      fail "needs Debian's ${missing[*]}: sudo apt-get install -y --no-install-recommends ${packages[*]}"
    say "installing ${missing[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
  fi
  command -v wasm-ld-19 >/dev/null 2>&1 || fail "wasm-ld-19 missing after installing lld-19"
  build=(/usr/bin/cargo build -Z build-std=std,panic_abort)
  # With std built here, a panic can trap at once instead of formatting a message nobody reads
  # (wasm32-unknown-unknown has no stderr): -9 % of the module's gzipped size with the opt-level below.
  build_env=(RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-19
    RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort")
fi

# 2. wasm-bindgen-cli, exactly the library's version (the glue and the module must match).
if ! [ -x "$bindgen" ] || [ "$("$bindgen" --version)" != "wasm-bindgen $bindgen_version" ]; then
  say "installing wasm-bindgen-cli $bindgen_version into $bindgen_root"
  cargo install --quiet wasm-bindgen-cli --version "$bindgen_version" --root "$bindgen_root"
fi

# 3. The module and its glue.
say "building $crate for $wasm_target (release) into $wasm_target_dir"
start=$SECONDS
# Size over speed for the download (opt-level "z"; the workspace's hot cryptography keeps opt-level 3 by its
# [profile.release.package] entries). Not stripped by cargo: wasm-bindgen reads the `target_features` section, then
# drops the names and producers. (binaryen's wasm-opt -Oz made the module smaller but its gzip larger: not used.)
env CARGO_TARGET_DIR="$wasm_target_dir" CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
  "${build_env[@]}" \
  "${build[@]}" --locked --release -p e2ee-client-wasm --target "$wasm_target" ||
  fail "the $wasm_target build failed (see above)"
rm -rf "$out_dir"
"$bindgen" --target web --remove-name-section --remove-producers-section --out-dir "$out_dir" "$wasm_target_dir/$wasm_target/release/$crate.wasm"
say "built $out_dir in $((SECONDS - start)) s: $(wc -c <"$out_dir/${crate}_bg.wasm") bytes of wasm," \
  "$(gzip -9 <"$out_dir/${crate}_bg.wasm" | wc -c) gzipped"
