#!/usr/bin/env bash
# Runs the browser tests of client-web (IndexedDB storage, Web Locks lease,
# WebSocket transport, clock) in headless Chromium: builds them for
# wasm32-unknown-unknown with Debian's toolchain, exactly as
# scripts/build-wasm.sh builds the browser crates, and runs them with
# wasm-bindgen-test-runner, which drives Chromium through chromedriver.
# The end-to-end test `browser::client_web_passes_its_browser_tests`
# (tests/it/browser.rs) runs this script against a real stadtbote-server.
#
# Arguments are passed on to `cargo test` (e.g. --no-fail-fast, or
# `-- NAME` to run the tests whose name contains NAME).
#
# Environment:
#   CI=true                   anything missing (toolchain, Chromium,
#                             chromedriver, wasm-bindgen-test-runner, the
#                             server URL) fails the run instead of skipping it.
#   STADTBOTE_TEST_SERVER_WS  ws:// URL of a running stadtbote-server for the
#                             transport tests (compiled into the tests);
#                             without it they skip loudly.
#   CHROMEDRIVER              chromedriver (default: /usr/bin/chromedriver).
#   WASM_BINDGEN_TEST_RUNNER  the runner (default: from PATH or ~/.cargo/bin);
#                             its version must equal wasm-bindgen's in Cargo.lock.
#   WASM_TARGET_DIR, WASM_RUSTC, WASM_CARGO  as in scripts/build-wasm.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=wasm32-unknown-unknown
WASM_RUSTC=${WASM_RUSTC:-/usr/bin/rustc}
WASM_CARGO=${WASM_CARGO:-/usr/bin/cargo}
WASM_TARGET_DIR=${WASM_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/wasm32}
CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}

give_up() {
  echo "!! $*" >&2
  if [ "${CI:-}" = "true" ]; then
    echo "!! FAILED: the browser tests are required in CI." >&2
    exit 1
  fi
  echo "!! SKIPPED: the browser tests (client-web in headless Chromium) did not run." >&2
  exit 0
}

# The compiler: scripts/build-wasm.sh installs Debian's packages when they
# are missing (and skips or fails as this script does), and checks that the
# browser crates build at all.
if [ ! -x "$WASM_RUSTC" ] || [ ! -x "$WASM_CARGO" ] || ! command -v wasm-ld >/dev/null 2>&1; then
  scripts/build-wasm.sh
fi
[ -x "$WASM_RUSTC" ] && [ -x "$WASM_CARGO" ] || give_up "no wasm32 toolchain ($WASM_RUSTC, $WASM_CARGO); see scripts/build-wasm.sh"
command -v wasm-ld >/dev/null 2>&1 || give_up "wasm-ld (Debian package lld) is missing"

# The browser and its driver: Debian's chromium and chromium-driver,
# installed when missing (as root or with password-less sudo).
if ! command -v chromium >/dev/null 2>&1 || [ ! -x "$CHROMEDRIVER" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=()
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    fi
    if [ "$(id -u)" = 0 ] || [ "${#sudo[@]}" -gt 0 ]; then
      echo "== installing Debian packages: chromium chromium-driver"
      export DEBIAN_FRONTEND=noninteractive
      apt=("${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
      "${apt[@]}" update -qq || true
      "${apt[@]}" install -y -qq --no-install-recommends chromium chromium-driver >/dev/null || true
    fi
  fi
fi
chromium=""
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null 2>&1; then chromium=$(command -v "$c"); break; fi
done
[ -n "$chromium" ] || give_up "Chromium is not installed (Debian package chromium)"
[ -x "$CHROMEDRIVER" ] || give_up "chromedriver is not at $CHROMEDRIVER (Debian package chromium-driver)"

# The runner must be the wasm-bindgen version the crates link against.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
runner=${WASM_BINDGEN_TEST_RUNNER:-$(command -v wasm-bindgen-test-runner || echo "$HOME/.cargo/bin/wasm-bindgen-test-runner")}
if [ ! -x "$runner" ] && [ "${CI:-}" = "true" ]; then
  # Not --locked: its lock file names a webpki-roots release some registry
  # mirrors lack; the version pin is what matters for the runner.
  echo "== installing wasm-bindgen-cli $want (wasm-bindgen-test-runner)"
  cargo install wasm-bindgen-cli --version "$want" || true
  runner="$HOME/.cargo/bin/wasm-bindgen-test-runner"
fi
[ -x "$runner" ] || give_up "wasm-bindgen-test-runner is missing (cargo install wasm-bindgen-cli --version <the wasm-bindgen version in Cargo.lock>)"
have=$("$runner" --version | awk '{ print $2 }')
[ "$want" = "$have" ] || give_up "wasm-bindgen-test-runner is $have, Cargo.lock has wasm-bindgen $want"

if [ -z "${STADTBOTE_TEST_SERVER_WS:-}" ] && [ "${CI:-}" = "true" ]; then
  echo "!! FAILED: STADTBOTE_TEST_SERVER_WS is unset: the transport tests need a server in CI" >&2
  echo "!!         (cargo test -p stadtbote-tests --test it -- browser starts one)." >&2
  exit 1
fi

echo "== browser tests: $("$chromium" --version 2>/dev/null | head -n 1), $("$CHROMEDRIVER" --version | head -n 1), runner $have"
# --lib --tests: no doc tests (rustdoc would be the other toolchain's, and the
# crate's docs have no examples to run). The runner starts Chromium headless (and without its sandbox, which fails
# as root and in containers); client-web/webdriver.json adds
# --disable-dev-shm-usage (containers' small /dev/shm crashes tabs).
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-300}
start=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
env -u RUSTUP_TOOLCHAIN -u RUSTC_WRAPPER -u RUSTC_WORKSPACE_WRAPPER -u CARGO_BUILD_RUSTC_WRAPPER \
  -u CARGO_ENCODED_RUSTFLAGS \
  RUSTC="$WASM_RUSTC" \
  RUSTC_BOOTSTRAP=1 \
  RUSTFLAGS='--cfg getrandom_backend="wasm_js"' \
  CARGO_TARGET_DIR="$WASM_TARGET_DIR" \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$runner" \
  CARGO_INCREMENTAL=0 \
  CARGO_PROFILE_DEV_DEBUG=0 \
  CHROMEDRIVER="$CHROMEDRIVER" \
  "$WASM_CARGO" test --locked \
  -Zbuild-std=std,panic_abort --target "$TARGET" \
  -p stadtbote-client-web --lib --tests "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { echo "!! the browser tests failed (exit $status)" >&2; exit "$status"; }
# Both test targets ran in the browser when no filter was given (a runner that silently ran nothing,
# or a target that vanished, must not pass).
ran=$(grep -cE '^test result: ok\. [1-9][0-9]* passed' "$log" || true)
[ "$#" -gt 0 ] || [ "$ran" -ge 2 ] || { echo "!! expected the unit and browser test targets to run tests; $ran did" >&2; exit 1; }
echo "== browser tests passed in $(($(date +%s) - start)) s"
