#!/usr/bin/env bash
# Builds the web app's bundle (web/dist/, committed; the server embeds it)
# from web/src and web/assets, reproducibly, or checks the committed one.
# See docs/ARCHITECTURE.md, "The web app".
#
#   scripts/build-web.sh           rebuild web/dist
#   scripts/build-web.sh --check   rebuild into a temporary directory and
#                                  fail on any byte that differs from
#                                  web/dist (when the recorded compiler and
#                                  tools are the ones here; otherwise say
#                                  that they differ and compare nothing)
#
# Steps: the crate stadtbote-web is built for wasm32 with Debian's rustc-web
# (scripts/wasm-toolchain.sh, as scripts/build-wasm.sh does), in the profile
# `web` (Cargo.toml: small, LTO, panic=abort); wasm-bindgen (the version in
# Cargo.lock, installed into ~/.cargo/bin when missing) writes the JS glue;
# web/assets/* are copied; build-info.json records the versions of rustc,
# cargo and wasm-bindgen.
#
# Reproducible byte for byte: every path the compiler could embed is
# remapped (the workspace, cargo's home with the registry sources, the
# standard library's source from rust-web-src, the target directory), no
# timestamp is written anywhere, and file order is fixed. Two checkouts at
# different paths produce the same bundle.
#
# The app's start-up check (web/src/integrity.rs) pins the release key
# whose public half is compiled in here: deploy/web-release-key.pub (the
# project's) unless STADTBOTE_WEB_RELEASE_PUB names a town's own `.pub`
# file; build-info.json records it (`release_key`), so the signed manifest
# says which key the app expects. The PWA files (issue 16.9): the PNG icons
# are drawn by scripts/make-icons.py, and sw.js gets the hash of all other
# files of the bundle (@BUNDLE@), so every release changes the service
# worker and browsers install it.
#
# Environment: as scripts/wasm-toolchain.sh, plus
#   WASM_BINDGEN   the wasm-bindgen CLI (default ~/.cargo/bin/wasm-bindgen,
#                  else the one on PATH).
#   STADTBOTE_WEB_RELEASE_PUB  the release key's public half the app pins
#                  (default deploy/web-release-key.pub).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIST=web/dist
CRATE=stadtbote-web
PROFILE=web

mode=build
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
# Building must produce a bundle: no "skipped" success without a toolchain.
[ "$mode" = build ] && export WASM_REQUIRED=1

# shellcheck source=scripts/wasm-toolchain.sh
source scripts/wasm-toolchain.sh

# The value of KEY in build-info.json FILE (our own one-key-per-line format).
recorded() {
  sed -n "s/^  \"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" "$2" | head -n 1
}

# The wasm-bindgen version Cargo.lock pins (the glue must match the crate).
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
[ -n "$bindgen_version" ] || { echo "!! no wasm-bindgen in Cargo.lock" >&2; exit 1; }

find_bindgen() {
  local candidate
  for candidate in "${WASM_BINDGEN:-}" "${CARGO_HOME:-$HOME/.cargo}/bin/wasm-bindgen" "$(command -v wasm-bindgen || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] \
      && [ "$("$candidate" --version 2>/dev/null)" = "wasm-bindgen $bindgen_version" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if ! WASM_BINDGEN=$(find_bindgen); then
  echo "== installing wasm-bindgen-cli $bindgen_version (cargo install, a few minutes)"
  # Not --locked: the CLI's own lock file names a webpki-roots release that
  # some registry mirrors lack; the version itself is pinned exactly.
  cargo install wasm-bindgen-cli --version "=$bindgen_version" \
    || give_up "cargo install wasm-bindgen-cli $bindgen_version failed"
  WASM_BINDGEN=$(find_bindgen) || give_up "wasm-bindgen $bindgen_version is still missing after cargo install"
fi

wasm_toolchain_setup
echo "$WASM_BINDGEN: $("$WASM_BINDGEN" --version)"

release_pub=${STADTBOTE_WEB_RELEASE_PUB:-deploy/web-release-key.pub}
[ -f "$release_pub" ] || { echo "!! no release key file $release_pub" >&2; exit 1; }
# "stadtbote-web-release-key-v1 <64 hex digits>", as `stadtbote web-sign --new-key` writes it.
release_key=$(sed -n 's/^stadtbote-web-release-key-v1 \([0-9a-f]\{64\}\)$/\1/p' "$release_pub" | head -n 1)
[ -n "$release_key" ] || { echo "!! $release_pub is not a release key's public half" >&2; exit 1; }
echo "== the app pins release key $release_key ($release_pub)"

here_rustc=$("$WASM_RUSTC" --version)
here_cargo=$("$WASM_CARGO" --version)
here_bindgen=$("$WASM_BINDGEN" --version)

if [ "$mode" = check ]; then
  info="$DIST/build-info.json"
  [ -f "$info" ] || { echo "!! $info is missing: run $0 and commit $DIST" >&2; exit 1; }
  differs=0
  for pair in "rustc|$here_rustc" "cargo|$here_cargo" "wasm_bindgen|$here_bindgen"; do
    key=${pair%%|*}
    here=${pair#*|}
    was=$(recorded "$key" "$info")
    if [ "$was" != "$here" ]; then
      echo "!! compiler differs (recorded $was, here $here): cannot compare the bundle byte for byte." >&2
      differs=1
    fi
  done
  if [ "$differs" = 1 ]; then
    echo "!! The committed bundle was built with other tools; rebuilding it here would differ for" >&2
    echo "!! that reason alone. Rebuild it with $0 on a machine with the recorded versions to check it," >&2
    echo "!! or rebuild and commit it with the tools here." >&2
    exit 0
  fi
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cargo_home=${CARGO_HOME:-$HOME/.cargo}
mkdir -p "$WASM_TARGET_DIR"
target_dir=$(cd "$WASM_TARGET_DIR" && pwd -P)
# Later remaps win over earlier ones (the target directory may lie inside
# the workspace). /stadtbote, /cargo, /rust-web-src and /target are names,
# not paths that exist.
remap=(
  "--remap-path-prefix=$(pwd -P)=/stadtbote"
  "--remap-path-prefix=$cargo_home=/cargo"
  "--remap-path-prefix=$WASM_SYSROOT/lib/rustlib/src/rust=/rust-web-src"
  "--remap-path-prefix=$target_dir=/target"
)
[ "$ROOT" = "$(pwd -P)" ] || remap=("--remap-path-prefix=$ROOT=/stadtbote" "${remap[@]}")

echo "== cargo build --profile $PROFILE --target $TARGET -p $CRATE"
start=$(date +%s)
# The settings of build-wasm.sh (see there), with the remaps, and nothing of
# the caller's cargo settings that could change the output.
unset_vars=(-u RUSTUP_TOOLCHAIN -u RUSTC_WRAPPER -u RUSTC_WORKSPACE_WRAPPER -u CARGO_BUILD_RUSTC_WRAPPER
  -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS -u SOURCE_DATE_EPOCH)
while IFS= read -r var; do unset_vars+=(-u "$var"); done < <(compgen -e | grep '^CARGO_PROFILE_' || true)
env "${unset_vars[@]}" \
  RUSTC="$WASM_RUSTC" \
  RUSTC_BOOTSTRAP=1 \
  RUSTFLAGS="--cfg getrandom_backend=\"wasm_js\" ${remap[*]}" \
  CARGO_TARGET_DIR="$target_dir" \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld \
  CARGO_INCREMENTAL=0 \
  STADTBOTE_WEB_PINNED_KEY="$release_key" \
  "$WASM_CARGO" build --locked --quiet \
  -Zbuild-std=std,panic_abort --target "$TARGET" \
  --profile "$PROFILE" -p "$CRATE"
wasm="$target_dir/$TARGET/$PROFILE/${CRATE//-/_}.wasm"
[ -f "$wasm" ] || { echo "!! cargo built no $wasm" >&2; exit 1; }

echo "== wasm-bindgen --target web"
"$WASM_BINDGEN" --target web --no-typescript --out-dir "$out" "$wasm"
cp web/assets/* "$out/"
python3 scripts/make-icons.py "$out"
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
cat >"$out/build-info.json" <<INFO
{
  "version": "$version",
  "rustc": "$here_rustc",
  "cargo": "$here_cargo",
  "wasm_bindgen": "$here_bindgen",
  "target": "$TARGET",
  "release_key": "$release_key"
}
INFO
# The service worker names the release it caches: the hash of every other
# file and of the worker's own source, so that any change makes a new worker
# with a new cache.
bundle=$({
  (cd "$out" && find . -type f ! -name sw.js | LC_ALL=C sort | xargs sha256sum)
  sha256sum <web/assets/sw.js
} | sha256sum | cut -c1-64)
sed "s/@BUNDLE@/$bundle/" web/assets/sw.js >"$out/sw.js"
echo "== built in $(($(date +%s) - start)) s"
(cd "$out" && find . -type f | LC_ALL=C sort | xargs sha256sum)

if [ "$mode" = check ]; then
  # The signed manifest is not built from the sources (issue 17): it is
  # written by `stadtbote web-sign`, and the server checks it at start.
  if diff -r -x stadtbote-web-manifest.json -x stadtbote-web-manifest.sig "$out" "$DIST" >/dev/null; then
    echo "ok: $DIST is byte for byte what its sources build to"
    # Proof that this comparison can fail (issue 17's test): the same
    # comparison against a copy of the bundle with one byte of the wasm
    # changed must name that file.
    probe=$(mktemp -d)
    cp -r "$DIST/." "$probe/"
    wasm="$probe/stadtbote_web_bg.wasm"
    old_byte=$(od -An -tu1 -j 100 -N 1 "$wasm" | tr -d ' ')
    printf "\\$(printf '%03o' $((old_byte ^ 1)))" | dd of="$wasm" bs=1 seek=100 conv=notrunc status=none
    if diff -r -x stadtbote-web-manifest.json -x stadtbote-web-manifest.sig "$out" "$probe" >/dev/null; then
      echo "!! the comparison did not notice one changed byte of the wasm: the check is broken" >&2
      rm -rf "$probe"
      exit 1
    fi
    echo "ok: a copy with one byte of the wasm changed is refused:" \
      "$(diff -rq -x stadtbote-web-manifest.json -x stadtbote-web-manifest.sig "$out" "$probe" | head -n 1)"
    rm -rf "$probe"
    exit 0
  fi
  echo "!! $DIST differs from what its sources build to:" >&2
  diff -rq -x stadtbote-web-manifest.json -x stadtbote-web-manifest.sig "$out" "$DIST" >&2 || true
  echo "!! Rebuild it with $0 and commit $DIST (or find out who changed it)." >&2
  exit 1
fi

# The release signature (issue 17): signed here when STADTBOTE_WEB_SIGNING_KEY
# names the release key's secret file; otherwise the previous manifest and
# signature are kept, and the server (and its test
# web_integrity::tests::the_embedded_bundle_is_signed_by_the_release_key)
# refuses a bundle they no longer match until it is signed again.
signed=$(mktemp -d)
cp "$DIST"/stadtbote-web-manifest.json "$DIST"/stadtbote-web-manifest.sig "$signed/" 2>/dev/null || true
rm -rf "$DIST"
mkdir -p "$DIST"
cp -r "$out/." "$DIST/"
if [ -n "${STADTBOTE_WEB_SIGNING_KEY:-}" ]; then
  cargo run --quiet -p stadtbote-cli --bin stadtbote -- web-sign "$DIST" \
    --key "$STADTBOTE_WEB_SIGNING_KEY" --build-info "$DIST/build-info.json"
else
  cp "$signed"/* "$DIST/" 2>/dev/null || true
  echo "== kept the previous signed manifest; if the bundle changed, sign it:"
  echo "   stadtbote web-sign $DIST --key RELEASE-KEY-FILE --build-info $DIST/build-info.json"
fi
rm -rf "$signed"
echo "== wrote $DIST"
