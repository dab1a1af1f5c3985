#!/usr/bin/env python3
"""Test LoRAs for the tiny Wan DiT fixtures, one per format found in the wild, and the same deltas merged
into the weights independently (numpy, float64, then float32).

Formats (key conventions as ComfyUI comfy/lora.py, Diffusers loaders/lora_conversion_utils.py and
stable-diffusion.cpp lora.hpp read them):
  comfy     "diffusion_model.<m>.lora_down.weight" / ".lora_up.weight" / ".alpha" (f32), every Linear and
            the patch embedding (a conv LoRA: down [r, in, 1, 2, 2], up [out, r, 1, 1, 1]), plus one layer
            the model lacks (cross_attn.k_img: an unmatched key, a warning)
  kohya     "lora_unet_<m with _ for .>.lora_down.weight" ... (bf16, the blocks only, musubi-tuner style)
  diffusers "transformer.<Diffusers name>.lora_A.weight" / ".lora_B.weight" (f16, no alpha: scale 1) and
            ".lora_B.bias" bias deltas
  lightx2v  "diffusion_model.<m>.lora_down/up.weight" + ".alpha", ".diff_b" bias deltas on every Linear,
            ".diff" on norms, modulations and a full head.head delta (Lightning / LightX2V distill files)

Usage: make_lora.py WEIGHTS OUT_DIR NAME FORMAT:STRENGTH[+FORMAT:STRENGTH...]
       make_lora.py --fuzz-seeds WEIGHTS OUT_DIR   (the LoRA fuzz seeds, from dit_ti2v_tiny)
writes OUT_DIR/NAME.<format>.safetensors (each LoRA) and OUT_DIR/NAME.merged.safetensors (the weights with
every listed LoRA merged at its strength). Deterministic: the same arguments give the same bytes.
"""
import json
import struct
import sys

import numpy as np

# --- safetensors by hand (no safetensors module needed) -----------------------------------------------

DT = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8,
      "BF16": np.uint16, "F8_E4M3": np.uint8}


def read_st(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    head = json.loads(data[8:8 + n])
    meta = head.pop("__metadata__", {})
    out = {}
    for k, v in head.items():
        a, b = v["data_offsets"]
        arr = np.frombuffer(data[8 + n + a:8 + n + b], dtype=DT[v["dtype"]]).reshape(v["shape"])
        if v["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[k] = arr
    return out, meta


def to_bf16(x):
    """float32 -> bf16 bits, round to nearest even (the stored value)."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    return b.astype(np.uint16)


def f8e4m3_table():
    """The 256 float8_e4m3fn values (1 sign, 4 exponent bits with bias 7, 3 mantissa bits; 0x7f, 0xff NaN)."""
    v = np.arange(256)
    e, m = (v >> 3) & 15, (v & 7).astype(np.float64)
    mag = np.where(e == 0, m / 8 * 2.0 ** -6, (1 + m / 8) * 2.0 ** (e - 7.0))
    mag[(e == 15) & (m == 7)] = np.nan
    return np.where(v >= 128, -mag, mag)


def to_f8e4m3(x):
    """float -> the nearest float8_e4m3fn code (no scaling; |x| is far below the 448 maximum here)."""
    table = f8e4m3_table()
    codes = np.array([c for c in range(256) if not np.isnan(table[c])])
    return codes[np.argmin(np.abs(table[codes][None, :] - np.asarray(x, np.float64).reshape(-1, 1)), axis=1)] \
        .astype(np.uint8).reshape(np.shape(x))


def write_st(path, tensors, meta=None):
    """tensors: name -> (dtype name, array); written in name order."""
    head, blobs, off = {}, [], 0
    for k in sorted(tensors):
        dt, arr = tensors[k]
        raw = np.ascontiguousarray(arr, dtype=DT[dt]).tobytes()
        head[k] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if meta:
        head["__metadata__"] = meta
    h = json.dumps(head, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# --- the model's layers ---------------------------------------------------------------------------------

def linears(w):
    """Official names of the Linear layers (2-D weights) and the patch embedding."""
    return sorted(k[:-7] for k, v in w.items() if k.endswith(".weight") and (v.ndim == 2 or k == "patch_embedding.weight"))


def diffusers_name(m):
    """Official Wan module -> Diffusers WanTransformer3DModel module (written here, apart from the C map)."""
    top = {"text_embedding.0": "condition_embedder.text_embedder.linear_1",
           "text_embedding.2": "condition_embedder.text_embedder.linear_2",
           "time_embedding.0": "condition_embedder.time_embedder.linear_1",
           "time_embedding.2": "condition_embedder.time_embedder.linear_2",
           "time_projection.1": "condition_embedder.time_proj", "head.head": "proj_out"}
    if m in top:
        return top[m]
    p = m.split(".")
    if p[0] != "blocks":
        return None
    rest = ".".join(p[2:])
    inner = {"self_attn.q": "attn1.to_q", "self_attn.k": "attn1.to_k", "self_attn.v": "attn1.to_v",
             "self_attn.o": "attn1.to_out.0", "cross_attn.q": "attn2.to_q", "cross_attn.k": "attn2.to_k",
             "cross_attn.v": "attn2.to_v", "cross_attn.o": "attn2.to_out.0", "ffn.0": "ffn.net.0.proj",
             "ffn.2": "ffn.net.2"}
    return "blocks.%s.%s" % (p[1], inner[rest]) if rest in inner else None


def pair(rng, w2, r, scale_up=0.1):
    """A random (down [r, in], up [out, r]) pair for a 2-D weight."""
    out, inp = w2.shape
    down = (rng.standard_normal((r, inp)) / np.sqrt(inp)).astype(np.float32)
    up = (rng.standard_normal((out, r)) * scale_up).astype(np.float32)
    return down, up


def make(fmt, w, seed):
    """Returns (lora tensors name -> (dtype, array), deltas param -> float64 array at strength 1)."""
    rng = np.random.default_rng(seed)
    t, d = {}, {}

    def add(param, delta):
        d[param] = d.get(param, 0) + delta.astype(np.float64)

    for m in linears(w):
        W = w[m + ".weight"]
        W2 = W.reshape(W.shape[0], -1)
        if fmt == "comfy":
            r, alpha = 8, 4.0
            down, up = pair(rng, W2, r)
            dshape = (r,) + W.shape[1:] if W.ndim > 2 else down.shape
            ushape = (W.shape[0], r) + (1,) * (W.ndim - 2)
            t["diffusion_model.%s.lora_down.weight" % m] = ("F32", down.reshape(dshape))
            t["diffusion_model.%s.lora_up.weight" % m] = ("F32", up.reshape(ushape))
            t["diffusion_model.%s.alpha" % m] = ("F32", np.array(alpha, dtype=np.float32))
            add(m + ".weight", (alpha / r) * (up.astype(np.float64) @ down.astype(np.float64)).reshape(W.shape))
        elif fmt == "kohya":
            if not m.startswith("blocks."):
                continue
            r, alpha = 8, 4.0
            down, up = pair(rng, W2, r)
            db, ub = to_bf16(down), to_bf16(up)
            k = "lora_unet_" + m.replace(".", "_")
            t[k + ".lora_down.weight"] = ("BF16", db)
            t[k + ".lora_up.weight"] = ("BF16", ub)
            t[k + ".alpha"] = ("F32", np.array(alpha, dtype=np.float32))
            dv = (db.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
            uv = (ub.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
            add(m + ".weight", (alpha / r) * (uv @ dv))
        elif fmt == "diffusers":
            dn = diffusers_name(m)
            if dn is None:
                continue
            r = 16
            down, up = pair(rng, W2, r)
            down, up = down.astype(np.float16), up.astype(np.float16)
            t["transformer.%s.lora_A.weight" % dn] = ("F16", down)
            t["transformer.%s.lora_B.weight" % dn] = ("F16", up)
            add(m + ".weight", up.astype(np.float64) @ down.astype(np.float64))
            if "ffn" in dn:
                b = (rng.standard_normal(W.shape[0]) * 0.05).astype(np.float16)
                t["transformer.%s.lora_B.bias" % dn] = ("F16", b)
                add(m + ".bias", b)
        elif fmt == "lightx2v":
            if m == "patch_embedding":
                continue
            if m == "head.head":
                full = (rng.standard_normal(W.shape) * 0.02).astype(np.float32)
                t["diffusion_model.head.head.diff"] = ("F32", full)
                add(m + ".weight", full)
            else:
                r = 8
                down, up = pair(rng, W2, r)
                t["diffusion_model.%s.lora_down.weight" % m] = ("F32", down)
                t["diffusion_model.%s.lora_up.weight" % m] = ("F32", up)
                t["diffusion_model.%s.alpha" % m] = ("F32", np.array(float(r), dtype=np.float32))
                add(m + ".weight", up.astype(np.float64) @ down.astype(np.float64))
            b = (rng.standard_normal(W.shape[0]) * 0.05).astype(np.float32)
            t["diffusion_model.%s.diff_b" % m] = ("F32", b)
            add(m + ".bias", b)
        else:
            raise SystemExit("unknown format " + fmt)
    if fmt == "comfy":
        # a layer of Wan2.1 I2V that this model lacks: reported as unmatched
        dim = w["blocks.0.self_attn.q.weight"].shape[0]
        down, up = pair(rng, np.zeros((dim, dim), np.float32), 8)
        t["diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight"] = ("F32", down)
        t["diffusion_model.blocks.0.cross_attn.k_img.lora_up.weight"] = ("F32", up)
    if fmt == "lightx2v":
        for k, v in sorted(w.items()):
            if ".norm" in k or k.endswith("modulation"):
                delta = (rng.standard_normal(v.shape) * 0.05).astype(np.float32)
                base = k[:-7] if k.endswith(".weight") else k[:-5] if k.endswith(".bias") else k
                suffix = ".diff_b" if k.endswith(".bias") else ".diff"
                t["diffusion_model." + base + suffix] = ("F32", delta)
                add(k, delta)
    return t, d


def fuzz_seeds(weights, out_dir):
    """The fuzz seeds (tests/fuzz/seeds/lora-FORMAT.safetensors): each format's LoRA for these weights cut
    to block 0's self-attention q and FFN, norm3 and modulation, the head, the patch embedding and the
    unmatched k_img layer (small files, every kind of key)."""
    w, _ = read_st(weights)
    keep = ("blocks.0.self_attn.q.", "blocks_0_self_attn_q.", "blocks.0.attn1.to_q.", "blocks.0.ffn.",
            "blocks_0_ffn_", "blocks.0.norm3.", "blocks.0.modulation.", "head.", "proj_out.", "patch_embedding.",
            "k_img.")
    for fmt in ("comfy", "kohya", "diffusers", "lightx2v"):
        t, _ = make(fmt, w, 1000 + sum(map(ord, fmt)))
        write_st("%s/lora-%s.safetensors" % (out_dir, fmt), {k: v for k, v in t.items() if any(x in k for x in keep)})


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--fuzz-seeds":
        fuzz_seeds(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    weights, out_dir, name, spec = sys.argv[1:]
    w, meta = read_st(weights)
    merged = {k: v.astype(np.float64) for k, v in w.items()}
    for i, item in enumerate(spec.split("+")):
        fmt, s = item.split(":")
        t, d = make(fmt, w, 1000 + 17 * i + sum(map(ord, fmt)))
        write_st("%s/%s.%s.safetensors" % (out_dir, name, fmt), t)
        for k, v in d.items():
            merged[k] = merged[k] + float(s) * v
    write_st("%s/%s.merged.safetensors" % (out_dir, name),
             {k: ("F32", v.astype(np.float32)) for k, v in merged.items()}, meta)


if __name__ == "__main__":
    main()
