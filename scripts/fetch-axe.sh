#!/usr/bin/env bash
# Fetches axe-core, the accessibility checker the browser tests inject into
# the page (tests/it/a11y.rs, tests/it/web_channel.rs), into
# target/test-tools/. It is test tooling only: never served, never in
# web/dist, never in the repository (its minified source carries help links
# to other sites, which the repository's web files must not).
#
# The npm registry's tarball is checked against the package's published
# integrity (SHA-512) and axe.min.js against its pinned SHA-256 (the
# package's own sri-history.json lists the same file); anything else is
# refused. Run by .ci/run; run it by hand before the browser tests.
# axe-core is MPL-2.0 (Deque Systems).
set -euo pipefail
VERSION=4.14.1
# npm integrity sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ== in hex:
TARBALL_SHA512=1477dafa598d8d065f273d6af302aa203c02e83131707b7fa648cd41bd3d6b734f8c22a0dab86ee6a6f64b8afbe804b214d36db85a2826965edfb3a0b9d546b5
AXE_SHA256=29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/target/test-tools/axe-core-$VERSION"
if [ -f "$dest/axe.min.js" ] && echo "$AXE_SHA256  $dest/axe.min.js" | sha256sum -c --status; then
  echo "axe-core $VERSION already in $dest"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
curl -fsS --retry 3 -o "$tmp/axe.tgz" "https://registry.npmjs.org/axe-core/-/axe-core-$VERSION.tgz"
echo "$TARBALL_SHA512  $tmp/axe.tgz" | sha512sum -c --status || {
  echo "axe-core $VERSION tarball does not have the pinned SHA-512; refused" >&2
  exit 1
}
tar -xzf "$tmp/axe.tgz" -C "$tmp" package/axe.min.js package/LICENSE
echo "$AXE_SHA256  $tmp/package/axe.min.js" | sha256sum -c --status || {
  echo "axe.min.js does not have the pinned SHA-256; refused" >&2
  exit 1
}
mkdir -p "$dest"
cp "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$dest/"
echo "axe-core $VERSION fetched into $dest"
