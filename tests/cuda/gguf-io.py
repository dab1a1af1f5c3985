#!/usr/bin/env python3
"""Inputs for `kinora-cli eval dit` on a GGUF DiT fixture (../shared/fixtures/gguf).

The tiny GGUF DiTs have no golden IO file and their head_dim (16) cannot be inferred from the file, so
this writes, from the fixture's companion *.dequant.safetensors:
  PREFIX.config.json      the model config (the companion's __metadata__["config"])
  PREFIX.io.safetensors   x [in_dim, 3, 8, 12], t [1] = 637, context [10, text_dim] (fixed pseudo-random
                          values) and __metadata__["outputs"] = ["out"]: the reference output is another
                          backend's run of the same inputs (compare.py IO OUT TOL REF_OUT).
Plain Python (no numpy), so it also runs where only the engine is built.
Usage: gguf-io.py COMPANION.dequant.safetensors PREFIX
"""
import json
import struct
import sys


def read_meta(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def values(n, seed, scale):
    # a 64-bit LCG; the top 24 bits as a uniform value in [-scale, scale)
    out = []
    s = seed
    for _ in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        out.append(scale * ((s >> 40) / 8388608.0 - 1.0))
    return out


def write_safetensors(path, tensors, meta):
    header = {"__metadata__": meta}
    blobs = []
    off = 0
    for name, shape, data in tensors:
        b = struct.pack("<%df" % len(data), *data)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    companion, prefix = sys.argv[1], sys.argv[2]
    meta = read_meta(companion)
    if "config" not in meta:
        print(f"{companion}: no config in __metadata__", file=sys.stderr)
        return 1
    cfg = json.loads(meta["config"])
    with open(prefix + ".config.json", "w") as f:
        json.dump(cfg, f)
    c, td = int(cfg["in_dim"]), int(cfg["text_dim"])
    F, H, W, n_tok = 3, 8, 12, 10
    write_safetensors(prefix + ".io.safetensors", [
        ("x", [c, F, H, W], values(c * F * H * W, 11, 1.0)),
        ("t", [1], [637.0]),
        ("context", [n_tok, td], values(n_tok * td, 12, 0.5)),
    ], {"outputs": json.dumps(["out"]), "generator": "tests/cuda/gguf-io.py from " + companion.split("/")[-1]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
