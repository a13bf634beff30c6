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

TARGET=wasm32-unknown-unknown
PACKAGES=(rustc-web cargo-web rust-web-src lld)
WASM_RUSTC=${WASM_RUSTC:-/usr/bin/rustc}
WASM_CARGO=${WASM_CARGO:-/usr/bin/cargo}
WASM_TARGET_DIR=${WASM_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/wasm32}

# Without the toolchain: fail under CI, otherwise say so loudly and stop
# (a developer without root should still be able to run .ci/run).
give_up() {
  echo "!! $*" >&2
  if [ "${CI:-}" = "true" ]; then
    echo "!! FAILED: the wasm32 build is required in CI." >&2
    exit 1
  fi
  echo "!! SKIPPED: the wasm32 build (browser) did not run on this machine." >&2
  echo "!! Install the Debian packages '${PACKAGES[*]}' and run $0 again." >&2
  exit 0
}

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      echo "$p"
    fi
  done
}

install_packages() {
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      give_up "missing Debian packages ($*) and neither root nor password-less sudo to install them"
    fi
  fi
  echo "== installing Debian packages: $*"
  export DEBIAN_FRONTEND=noninteractive
  # Another apt run (unattended upgrades, a parallel job) may hold the lock
  # for a while: wait for it rather than fail.
  local apt=("${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
  "${apt[@]}" update -qq || give_up "apt-get update failed"
  "${apt[@]}" install -y -qq --no-install-recommends "$@" >/dev/null \
    || give_up "apt-get install $* failed"
}

if command -v dpkg-query >/dev/null 2>&1; then
  mapfile -t missing < <(missing_packages)
  if [ "${#missing[@]}" -gt 0 ]; then
    install_packages "${missing[@]}"
  fi
elif [ ! -x "$WASM_RUSTC" ] || [ ! -x "$WASM_CARGO" ]; then
  give_up "not a Debian system and no wasm-capable toolchain at $WASM_RUSTC / $WASM_CARGO"
fi

for tool in "$WASM_RUSTC" "$WASM_CARGO"; do
  [ -x "$tool" ] || give_up "$tool is missing after installing ${PACKAGES[*]}"
done
command -v wasm-ld >/dev/null 2>&1 || give_up "wasm-ld (package lld) is missing"
sysroot=$("$WASM_RUSTC" --print sysroot)
[ -f "$sysroot/lib/rustlib/src/rust/library/Cargo.lock" ] \
  || give_up "no standard library source under $sysroot/lib/rustlib/src (package rust-web-src)"

# bookworm's main archive has an older rustc-web than bookworm-security: a
# compiler older than the workspace's rust-version cannot build it, and the
# message below says why instead of cargo's "package requires rustc 1.xx".
need=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n 1)
have=$("$WASM_RUSTC" --version | sed -n 's/^rustc \([0-9][0-9.]*\).*/\1/p')
if [ -n "$need" ] && [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n 1)" != "$need" ]; then
  give_up "$WASM_RUSTC is $have, the workspace needs $need (is bookworm-security in the apt sources?)"
fi

echo "== wasm32 toolchain"
"$WASM_RUSTC" --version
"$WASM_CARGO" --version
wasm-ld --version | head -n 1

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
