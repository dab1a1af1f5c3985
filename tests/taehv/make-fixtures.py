#!/usr/bin/env python3
"""Golden fixtures for the TAEHV tiny video autoencoder (Wan2.1 / Wan2.2 latents).

Runs the reference taehv.py (madebyollin/taehv, commit pinned below) unmodified: the module is
imported from the path given with --taehv, and its own classes (TAEHV, MemBlock, TPool, TGrow,
Clamp, conv) and its own apply_model_with_memblocks / decode_video / encode_video run. Only the
layer widths are reduced so that the files stay small: the reference constructor hard-codes the
widths (encoder 64, decoder 256/128/64/64), so the generator builds the same nn.Sequential layout
with the same reference block classes at smaller widths and swaps it into a TAEHV object made by
the reference constructor. The block order, strides and flags are the reference ones, so every
key name (decoder.3.conv.0.weight, ...) equals the real checkpoints' (checked below against a
model made by the unmodified constructor).

Usage: make-fixtures.py --taehv PATH/taehv.py --out DIR
Needs torch (CPU). Deterministic: fixed seeds, one thread, float32 (and a float64 rerun).
"""
import argparse
import importlib.util
import json
import os
import struct
import sys
import types

import torch

TAEHV_COMMIT = "1f14a568f24bf8811e0a0ac601613e04fc1581e8"

CASES = [
    # name, patch, z, encoder width, decoder widths, latent (T, h, w)
    dict(name="taehv_w21_tiny", patch=1, z=16, enc=8, dec=[16, 12, 8, 6], lat=(4, 2, 3)),
    dict(name="taehv_w22_tiny", patch=2, z=48, enc=8, dec=[16, 12, 8, 6], lat=(3, 2, 3)),
]


def import_taehv(path):
    try:
        import tqdm.auto  # noqa: F401  (the reference imports it for progress bars)
    except ImportError:
        stub = types.ModuleType("tqdm")
        auto = types.ModuleType("tqdm.auto")

        class _Bar:
            def __init__(self, it=None, **kw):
                self.it = it

            def __iter__(self):
                return iter(self.it)

            def update(self, n=1):
                pass

            def close(self):
                pass

        auto.tqdm = _Bar
        stub.auto = auto
        sys.modules["tqdm"] = stub
        sys.modules["tqdm.auto"] = auto
    spec = importlib.util.spec_from_file_location("taehv_ref", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def small_encoder(m, cfg, width, flags):
    conv, MemBlock, TPool = m.conv, m.MemBlock, m.TPool
    nn = torch.nn
    w = width
    return nn.Sequential(
        conv(3 * cfg["patch"] ** 2, w), nn.ReLU(inplace=True),
        TPool(w, 2 if flags[0] else 1), conv(w, w, stride=2, bias=False), MemBlock(w, w), MemBlock(w, w), MemBlock(w, w),
        TPool(w, 2 if flags[1] else 1), conv(w, w, stride=2, bias=False), MemBlock(w, w), MemBlock(w, w), MemBlock(w, w),
        TPool(w, 2 if flags[2] else 1), conv(w, w, stride=2, bias=False), MemBlock(w, w), MemBlock(w, w), MemBlock(w, w),
        conv(w, cfg["z"]),
    )


def small_decoder(m, cfg, n_f, tup, sup):
    conv, MemBlock, TGrow, Clamp = m.conv, m.MemBlock, m.TGrow, m.Clamp
    nn = torch.nn
    return nn.Sequential(
        Clamp(), conv(cfg["z"], n_f[0]), nn.ReLU(inplace=True),
        MemBlock(n_f[0], n_f[0]), MemBlock(n_f[0], n_f[0]), MemBlock(n_f[0], n_f[0]),
        nn.Upsample(scale_factor=2 if sup[0] else 1), TGrow(n_f[0], 2 if tup[0] else 1), conv(n_f[0], n_f[1], bias=False),
        MemBlock(n_f[1], n_f[1]), MemBlock(n_f[1], n_f[1]), MemBlock(n_f[1], n_f[1]),
        nn.Upsample(scale_factor=2 if sup[1] else 1), TGrow(n_f[1], 2 if tup[1] else 1), conv(n_f[1], n_f[2], bias=False),
        MemBlock(n_f[2], n_f[2]), MemBlock(n_f[2], n_f[2]), MemBlock(n_f[2], n_f[2]),
        nn.Upsample(scale_factor=2 if sup[2] else 1), TGrow(n_f[2], 2 if tup[2] else 1), conv(n_f[2], n_f[3], bias=False),
        nn.ReLU(inplace=True), conv(n_f[3], 3 * cfg["patch"] ** 2),
    )


# --- safetensors writer (the format: u64 header length, JSON header, raw little-endian data) ---
DT = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": {k: metadata[k] for k in sorted(metadata)}}
    blobs = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        try:
            b = t.numpy().tobytes()
        except (RuntimeError, ImportError):  # torch without numpy
            b = bytes(t.flatten().view(torch.uint8).tolist())
        header[name] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":"), sort_keys=False).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def build(m, case):
    enc_flags, dec_tup, dec_sup = (True, True, False), (False, True, True), (True, True, True)
    # The reference constructor (no checkpoint): the wanted patch size and latent channels.
    model = m.TAEHV(checkpoint_path=None, encoder_time_downscale=enc_flags, decoder_time_upscale=dec_tup,
                    decoder_space_upscale=dec_sup, patch_size=case["patch"], latent_channels=case["z"])
    full_sd = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    model.encoder = small_encoder(m, case, case["enc"], enc_flags)
    model.decoder = small_decoder(m, case, case["dec"], dec_tup, dec_sup)
    # Same key names and ranks as the reference-built model; the shapes differ only in widths.
    small_sd = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert sorted(small_sd) == sorted(full_sd), "key names differ from the reference constructor's"
    for k in full_sd:
        assert len(small_sd[k]) == len(full_sd[k]) and small_sd[k][2:] == full_sd[k][2:], k
    # the computed properties, recomputed from the new Sequentials exactly as the constructor does
    t_down = 2 ** sum(t.stride == 2 for t in model.encoder if isinstance(t, m.TPool))
    t_up = 2 ** sum(t.stride == 2 for t in model.decoder if isinstance(t, m.TGrow))
    assert (t_down, t_up, t_up - 1) == (model.t_downscale, model.t_upscale, model.frames_to_trim)
    cfg = dict(patch_size=case["patch"], latent_channels=case["z"], encoder_width=case["enc"],
               decoder_widths=case["dec"], encoder_time_downscale=list(enc_flags),
               decoder_time_upscale=list(dec_tup), decoder_space_upscale=list(dec_sup))
    return model, cfg


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            fan_in = p[0].numel() if p.dim() > 1 else 1
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=g) * (1.4 / fan_in ** 0.5))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def run_case(m, case, out_dir, seed, commit):
    model, cfg = build(m, case)
    randomise(model, seed)
    model.eval()
    T, h, w = case["lat"]
    g = torch.Generator().manual_seed(seed + 1)
    latent = torch.randn((1, T, case["z"], h, w), generator=g) * 1.5
    dec_last = model.decoder[len(model.decoder) - 1]
    # Scale the last conv so the raw output spans about [-0.4, 1.4]: the final clamp then matters.
    with torch.no_grad():
        raw = m.apply_model_with_memblocks(model.decoder, latent, True, False)
        s = raw.std().item()
        dec_last.weight.mul_(0.45 / s)
        dec_last.bias.add_(0.5 - raw.mean().item() * 0.45 / s)

    hooks, inter = [], {}

    def hook(name):
        def f(mod, inp, out):
            inter[name] = out.detach().clone()
        return f
    # stage ends of the decoder and encoder (outputs are [N*T, C, H, W])
    for i in (2, 5, 8, 14, 20):
        hooks.append(model.decoder[i].register_forward_hook(hook(f"inter.decoder.{i}")))
    for i in (6, 11, 16):
        hooks.append(model.encoder[i].register_forward_hook(hook(f"inter.encoder.{i}")))

    with torch.no_grad():
        decoded_raw = m.apply_model_with_memblocks(model.decoder, latent, True, False)
        decoded = model.decode_video(latent, parallel=True, show_progress_bar=False)
        Tv = decoded.shape[1]
        video = torch.rand((1, Tv, 3, decoded.shape[3], decoded.shape[4]), generator=g)
        encoded = model.encode_video(video, parallel=True, show_progress_bar=False)
        for hk in hooks:
            hk.remove()
        # the sequential (one frame at a time) path of the reference gives the same result
        dec_seq = model.decode_video(latent, parallel=False, show_progress_bar=False)
        enc_seq = model.encode_video(video, parallel=False, show_progress_bar=False)
        # relative to each tensor's largest magnitude (float32 rounding of a different summation order)
        d_seq = max((dec_seq - decoded).abs().max().item() / decoded.abs().max().item(),
                    (enc_seq - encoded).abs().max().item() / encoded.abs().max().item())
        assert d_seq < 1e-5, d_seq
        # float64 rerun on the same weights and inputs
        m64 = model.double()
        decoded64 = m64.decode_video(latent.double(), parallel=True, show_progress_bar=False)
        encoded64 = m64.encode_video(video.double(), parallel=True, show_progress_bar=False)
        model.float()

    weights = {k: v.float() for k, v in model.state_dict().items()}
    n_params = sum(v.numel() for v in weights.values())
    cfg_json = json.dumps(cfg, sort_keys=True)
    write_safetensors(os.path.join(out_dir, case["name"] + ".weights.safetensors"), weights,
                      {"config": cfg_json, "format": "pt", "source": f"madebyollin/taehv@{commit} taehv.py"})
    io = {"latent": latent, "decoded": decoded, "decoded_raw": decoded_raw, "video": video, "encoded": encoded}
    io.update(inter)
    outputs = sorted(k for k in io if k not in ("latent", "video"))
    d_dec = (decoded64 - decoded.double()).abs().max().item()
    d_enc = (encoded64 - encoded.double()).abs().max().item()
    meta = {"generator": "tests/taehv/make-fixtures.py", "outputs": json.dumps(outputs), "config": cfg_json,
            "weights": case["name"] + ".weights.safetensors",
            "layout": "NTCHW (batch, frames, channels, height, width); inter.* are [N*T, C, H, W]",
            "f32_vs_f64_max_abs": json.dumps({"decoded": d_dec, "encoded": d_enc}),
            "seed": str(seed), "source": f"madebyollin/taehv@{commit} taehv.py"}
    write_safetensors(os.path.join(out_dir, case["name"] + ".io.safetensors"), io, meta)
    print(f"{case['name']}: {n_params} params, latent {tuple(latent.shape)} -> decoded {tuple(decoded.shape)} "
          f"raw range [{decoded_raw.min().item():.3f}, {decoded_raw.max().item():.3f}], "
          f"encoded {tuple(encoded.shape)} max |{encoded.abs().max().item():.3f}|; f32 vs f64: decoded {d_dec:.3g}, "
          f"encoded {d_enc:.3g}; sequential vs parallel (relative) {d_seq:.3g}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--taehv", required=True, help="path to the reference taehv.py")
    ap.add_argument("--out", required=True)
    ap.add_argument("--commit", default=TAEHV_COMMIT)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    m = import_taehv(a.taehv)
    os.makedirs(a.out, exist_ok=True)
    for i, case in enumerate(CASES):
        run_case(m, case, a.out, 1234 + 100 * i, a.commit)


if __name__ == "__main__":
    main()
