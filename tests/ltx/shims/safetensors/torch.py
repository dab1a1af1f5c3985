"""Shim for `safetensors.torch`: save_file / load_file in pure Python (see __init__.py)."""
import json
import struct

import torch

from . import _DTYPES, read_header, safe_open  # noqa: F401  (re-exported, as the real module does)

_TORCH = {k: getattr(torch, v[0]) for k, v in _DTYPES.items()}
_NAMES = {v: k for k, v in _TORCH.items()}


def _read(path, n, info):
    begin, end = info["data_offsets"]
    with open(path, "rb") as f:
        f.seek(8 + n + begin)
        raw = bytearray(f.read(end - begin))
    dtype = _TORCH[info["dtype"]]
    t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
    return t.reshape(info["shape"]).clone()


def load_file(path, device="cpu"):
    n, header = read_header(path)
    return {k: _read(path, n, v) for k, v in header.items() if k != "__metadata__"}


def save_file(tensors, path, metadata=None):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""   # 0-dim too
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)
