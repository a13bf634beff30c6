# shellcheck shell=bash
# The wasm32 toolchain, shared by scripts/build-wasm.sh (the compile check)
# and scripts/build-web.sh (the web app's bundle): Debian's rustc-web,
# cargo-web, rust-web-src and lld (see build-wasm.sh for why these). Sourced,
# not run: it defines the variables below and wasm_toolchain_setup, which
# installs the packages when missing and checks them.
#
# Environment:
#   CI=true          a missing or unusable toolchain fails the run instead of
#                    skipping it loudly.
#   WASM_REQUIRED=1  the same outside CI (a build that must produce output).
#   WASM_TARGET_DIR  target directory (default: <workspace target>/wasm32).
#   WASM_RUSTC, WASM_CARGO  the compiler and cargo to use (default: Debian's
#                    /usr/bin/rustc and /usr/bin/cargo).

TARGET=wasm32-unknown-unknown
PACKAGES=(rustc-web cargo-web rust-web-src lld)
WASM_RUSTC=${WASM_RUSTC:-/usr/bin/rustc}
WASM_CARGO=${WASM_CARGO:-/usr/bin/cargo}
WASM_TARGET_DIR=${WASM_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/wasm32}

# Without the toolchain: fail under CI (or WASM_REQUIRED=1), otherwise say
# so loudly and stop (a developer without root should still be able to run
# .ci/run).
give_up() {
  echo "!! $*" >&2
  if [ "${CI:-}" = "true" ] || [ "${WASM_REQUIRED:-}" = "1" ]; then
    echo "!! FAILED: the wasm32 build is required here." >&2
    exit 1
  fi
  echo "!! SKIPPED: the wasm32 build (browser) did not run on this machine." >&2
  echo "!! Install the Debian packages '${PACKAGES[*]}' and run $0 again." >&2
  exit 0
}

missing_packages() {
  local p
  for p in "$@"; do
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

# Installs what is missing and checks the result; prints the versions.
wasm_toolchain_setup() {
  if command -v dpkg-query >/dev/null 2>&1; then
    local missing
    mapfile -t missing < <(missing_packages "${PACKAGES[@]}")
    if [ "${#missing[@]}" -gt 0 ]; then
      install_packages "${missing[@]}"
    fi
  elif [ ! -x "$WASM_RUSTC" ] || [ ! -x "$WASM_CARGO" ]; then
    give_up "not a Debian system and no wasm-capable toolchain at $WASM_RUSTC / $WASM_CARGO"
  fi

  local tool
  for tool in "$WASM_RUSTC" "$WASM_CARGO"; do
    [ -x "$tool" ] || give_up "$tool is missing after installing ${PACKAGES[*]}"
  done
  command -v wasm-ld >/dev/null 2>&1 || give_up "wasm-ld (package lld) is missing"
  WASM_SYSROOT=$("$WASM_RUSTC" --print sysroot)
  [ -f "$WASM_SYSROOT/lib/rustlib/src/rust/library/Cargo.lock" ] \
    || give_up "no standard library source under $WASM_SYSROOT/lib/rustlib/src (package rust-web-src)"

  # bookworm's main archive has an older rustc-web than bookworm-security: a
  # compiler older than the workspace's rust-version cannot build it, and the
  # message below says why instead of cargo's "package requires rustc 1.xx".
  local need have
  need=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n 1)
  have=$("$WASM_RUSTC" --version | sed -n 's/^rustc \([0-9][0-9.]*\).*/\1/p')
  if [ -n "$need" ] && [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n 1)" != "$need" ]; then
    give_up "$WASM_RUSTC is $have, the workspace needs $need (is bookworm-security in the apt sources?)"
  fi

  echo "== wasm32 toolchain"
  "$WASM_RUSTC" --version
  "$WASM_CARGO" --version
  wasm-ld --version | head -n 1
}
