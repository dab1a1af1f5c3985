"""Shim for the `safetensors` package (not packaged in Debian 12).

Pure Python, enough for what the reference code and the generator use: `safe_open` (keys,
metadata, get_tensor) and `safetensors.torch.save_file / load_file`. The file format is the
documented one: an 8-byte little-endian header length, a JSON header, then the raw tensor bytes.
"""
import json
import struct

_DTYPES = {
    "F64": ("float64", 8), "F32": ("float32", 4), "F16": ("float16", 2), "BF16": ("bfloat16", 2),
    "I64": ("int64", 8), "I32": ("int32", 4), "I16": ("int16", 2), "I8": ("int8", 1),
    "U8": ("uint8", 1), "BOOL": ("bool", 1),
}


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return n, header


class safe_open:  # noqa: N801  (the real package's name)
    def __init__(self, path, framework="pt", device="cpu"):
        self.path = path
        self.n, self.header = read_header(path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def metadata(self):
        return self.header.get("__metadata__")

    def keys(self):
        return [k for k in self.header if k != "__metadata__"]

    def get_tensor(self, name):
        from . import torch as st_torch
        return st_torch._read(self.path, self.n, self.header[name])
