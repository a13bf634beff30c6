#!/usr/bin/env bash
# Builds the crates the web app will run in the browser for
# wasm32-unknown-unknown, so that the browser build cannot rot (.ci/run runs
# this after clippy). See docs/ARCHITECTURE.md, "Building for the browser".
#
# Why Debian's toolchain: the rustup toolchain on our machines has no wasm32
# standard library and rustup cannot download one here. Debian's `rustc-web`
# and `cargo-web` (bookworm-security) are a full compiler whose source
# package `rust-web-src` lets cargo build std itself for wasm32
# (-Zbuild-std; RUSTC_BOOTSTRAP=1 unlocks that nightly flag on a stable
# compiler). `lld` brings wasm-ld, the linker for wasm (needed once a cdylib
# is linked; the rlibs below do not link). The build uses its own target
# directory so that the two compilers never overwrite each other's artifacts.
#
# Environment:
#   CI=true          a missing or unusable toolchain fails the run instead of
#                    skipping it loudly.
#   WASM_TARGET_DIR  target directory (default: <workspace target>/wasm32).
#   WASM_RUSTC, WASM_CARGO  the compiler and cargo to use (default: Debian's
#                    /usr/bin/rustc and /usr/bin/cargo).
set -euo pipefail
cd "$(dirname "$0")/.."

# The crates that must build for the browser. Adding one is one line here.
CRATES=(
  stadtbote-protocol
  stadtbote-i18n
  stadtbote-client
  stadtbote-client-web
)

# The toolchain (Debian's rustc-web, cargo-web, rust-web-src, lld): found,
# installed when missing, or given up on loudly (scripts/wasm-toolchain.sh,
# shared with scripts/build-web.sh).
# shellcheck source=scripts/wasm-toolchain.sh
source scripts/wasm-toolchain.sh
wasm_toolchain_setup

packages=()
for c in "${CRATES[@]}"; do packages+=(-p "$c"); done

echo "== cargo build --target $TARGET ${packages[*]}"
start=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# --locked: the stable toolchain's Cargo.lock is the one truth; this build
# must not change it. The getrandom cfg is for getrandom 0.3, should a crate
# bring it in (it then also needs its `wasm_js` feature on wasm32, like 0.2
# and 0.4 in protocol/Cargo.toml); 0.2 and 0.4 ignore it. No debug info:
# this build is a compile check, and debug info nearly doubles its disk use
# (0.5 -> 0.9 GB). Rustup's and the user's own compiler settings must not
# leak into Debian's compiler.
env -u RUSTUP_TOOLCHAIN -u RUSTC_WRAPPER -u RUSTC_WORKSPACE_WRAPPER -u CARGO_BUILD_RUSTC_WRAPPER \
  -u CARGO_ENCODED_RUSTFLAGS \
  RUSTC="$WASM_RUSTC" \
  RUSTC_BOOTSTRAP=1 \
  RUSTFLAGS='--cfg getrandom_backend="wasm_js"' \
  CARGO_TARGET_DIR="$WASM_TARGET_DIR" \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld \
  CARGO_INCREMENTAL=0 \
  CARGO_PROFILE_DEV_DEBUG=0 \
  "$WASM_CARGO" build --locked \
  -Zbuild-std=std,panic_abort --target "$TARGET" \
  --message-format=json-render-diagnostics \
  "${packages[@]}" >"$log"

# Cargo succeeded; make sure that each listed crate really produced a library
# for wasm32 (a typo'd or renamed crate, or one whose lib target vanished,
# must not pass in silence).
failed=0
for c in "${CRATES[@]}"; do
  lib=${c//-/_}
  if grep -F "\"reason\":\"compiler-artifact\"" "$log" \
    | grep -F "\"name\":\"$lib\"" \
    | grep -qE "/$TARGET/[^\"]*/lib${lib}(-[0-9a-f]+)?\.rlib\""; then
    echo "ok: $c builds for $TARGET"
  else
    echo "!! $c: no $TARGET library in cargo's output" >&2
    failed=1
  fi
done
[ "$failed" = 0 ] || exit 1
echo "== wasm32 build took $(($(date +%s) - start)) s (target dir: $WASM_TARGET_DIR)"
