#!/usr/bin/env python3
"""PSNR between two videos written as PNG frame folders by kinora-cli (8-bit RGB, not interlaced).

usage: video-psnr.py REF_DIR TEST_DIR   -> one line: PSNR in dB over every frame and channel (inf if equal)
Standard library only (zlib): the PNG filters are undone here.
"""
import math
import os
import struct
import sys
import zlib


def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("%s: not a PNG" % path)
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                sys.exit("%s: only 8-bit RGB/RGBA, not interlaced" % path)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    out = bytearray(h * stride)
    prev = bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ft == 1:
                line[x] = (line[x] + a) & 255
            elif ft == 2:
                line[x] = (line[x] + b) & 255
            elif ft == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        out[y * stride:(y + 1) * stride] = line
        prev = line
    if bpp == 4:
        out = bytearray(v for i, v in enumerate(out) if i % 4 != 3)
    return out


def main():
    ref_dir, test_dir = sys.argv[1], sys.argv[2]
    frames = sorted(f for f in os.listdir(ref_dir) if f.endswith(".png"))
    if not frames:
        sys.exit("%s: no PNG frames" % ref_dir)
    se, n = 0, 0
    for f in frames:
        a, b = read_png(os.path.join(ref_dir, f)), read_png(os.path.join(test_dir, f))
        if len(a) != len(b):
            sys.exit("%s: frame sizes differ" % f)
        se += sum((x - y) * (x - y) for x, y in zip(a, b))
        n += len(a)
    mse = se / n
    print("inf" if mse == 0 else "%.2f" % (10 * math.log10(255 * 255 / mse)))


if __name__ == "__main__":
    main()
