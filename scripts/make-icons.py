#!/usr/bin/env python3
"""Draws the web app's PNG icons from the shapes of web/assets/icon.svg.

    scripts/make-icons.py OUT_DIR

Writes icon-180.png (iOS home screen, apple-touch-icon), icon-192.png and
icon-512.png (Android, the web app manifest) and icon-maskable-512.png (the
same on a full-bleed square, the bubble inside the maskable safe zone).
scripts/build-web.sh runs this for every bundle, so the PNGs are built from
the repository like everything else in web/dist.

Reproducible: pure Python (no image library), 4x4 supersampling with a
fixed palette, and PNG chunks written here without timestamps; the only
outside code is zlib's deflate at level 9, whose output is the same for
the same input with zlib 1.2.x and 1.3.x (a zlib-ng build may differ; the
bundle is built with Debian's toolchain, scripts/wasm-toolchain.sh).
Keep the shapes in sync with icon.svg (viewBox 0 0 64 64).
"""
import struct
import sys
import zlib

BLUE = (0x0B, 0x5C, 0xAD)
WHITE = (0xFF, 0xFF, 0xFF)
# icon.svg: <rect width="64" height="64" rx="12"/> and the speech bubble
# <path d="M14 20h36v22H30l-10 8v-8h-6z"/>.
RADIUS = 12.0
BUBBLE = [(14, 20), (50, 20), (50, 42), (30, 42), (20, 50), (20, 42), (14, 42)]
SAMPLES = 4  # per axis


def in_rounded_square(x, y, radius):
    cx = min(max(x, radius), 64 - radius)
    cy = min(max(y, radius), 64 - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius * radius


def in_polygon(x, y, points):
    inside = False
    j = len(points) - 1
    for i, (xi, yi) in enumerate(points):
        xj, yj = points[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def draw(size, maskable):
    """Rows of palette indices: coverage of (background, bubble) per pixel,
    quantised to SAMPLES*SAMPLES+1 levels each."""
    # Maskable: a full-bleed square, the bubble scaled to 70 % around the
    # centre so that it stays inside the 80 % safe circle.
    scale = 0.7 if maskable else 1.0
    levels = SAMPLES * SAMPLES
    rows = []
    for py in range(size):
        row = []
        for px in range(size):
            back = bubble = 0
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    x = (px + (sx + 0.5) / SAMPLES) * 64 / size
                    y = (py + (sy + 0.5) / SAMPLES) * 64 / size
                    if maskable or in_rounded_square(x, y, RADIUS):
                        back += 1
                        bx = 32 + (x - 32) / scale
                        by = 32 + (y - 32) / scale
                        if in_polygon(bx, by, BUBBLE):
                            bubble += 1
            row.append(back * (levels + 1) + bubble)
        rows.append(row)
    return rows


def palette():
    """Index back*(L+1)+bubble -> RGBA: bubble pixels white, the rest blue,
    alpha the background's coverage."""
    levels = SAMPLES * SAMPLES
    colours = []
    for back in range(levels + 1):
        for bubble in range(levels + 1):
            if back == 0:
                colours.append((0, 0, 0, 0))
                continue
            share = min(bubble, back) / back
            rgb = tuple(round(b + (w - b) * share) for b, w in zip(BLUE, WHITE))
            colours.append(rgb + (round(255 * back / levels),))
    return colours


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(size, maskable):
    colours = palette()  # 17*17 = 289 entries: more than 256, so compact it
    rows = draw(size, maskable)
    used = sorted({index for row in rows for index in row})
    remap = {index: n for n, index in enumerate(used)}
    assert len(used) <= 256, len(used)
    plte = b"".join(bytes(colours[i][:3]) for i in used)
    trns = bytes(colours[i][3] for i in used)
    raw = b"".join(b"\x00" + bytes(remap[i] for i in row) for row in rows)
    header = struct.pack(">IIBBBBB", size, size, 8, 3, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", plte)
        + chunk(b"tRNS", trns)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make-icons.py OUT_DIR")
    out = sys.argv[1]
    for name, size, maskable in [
        ("icon-180.png", 180, False),
        ("icon-192.png", 192, False),
        ("icon-512.png", 512, False),
        ("icon-maskable-512.png", 512, True),
    ]:
        with open(f"{out}/{name}", "wb") as f:
            f.write(png(size, maskable))


if __name__ == "__main__":
    main()
