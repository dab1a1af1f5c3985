#!/usr/bin/env python3
"""Time the official LTX-Video 13B VAE decode (the reference for `kinora-bench ltx-vae`).

The decoder of CausalVideoAutoencoder built from the 13B (0.9.7 / 0.9.8) VAE config, random weights in
bfloat16, decoding one clip's latent as the pipeline does (decode_timestep 0.05, decode_noise_scale
0.025, the whole clip in one call, no tiling). Prints the seconds of each run and the best.

    bench-torch-vae.py --deps DEPS [--size 1216x704] [--frames 121] [--device cuda] [--dtype bfloat16]

DEPS is the folder of tests/ltx/README.md (ltx_video, diffusers, huggingface_hub, einops).
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

sys.path.insert(0, HERE)
import ltxref  # noqa: E402

CONFIG_13B = ltxref.VAE_13B


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deps", required=True)
    ap.add_argument("--size", default="1216x704")
    ap.add_argument("--frames", type=int, default=121)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    if w % 32 or h % 32 or (args.frames - 1) % 8:
        sys.exit("size must be a multiple of 32 and frames 8n+1")
    torch = ltxref.setup(args.deps, threads=os.cpu_count() or 1)
    torch.use_deterministic_algorithms(False)
    from ltx_video.models.autoencoders.causal_video_autoencoder import CausalVideoAutoencoder

    dtype = getattr(torch, args.dtype)
    dev = torch.device(args.device)
    torch.manual_seed(0)
    vae = CausalVideoAutoencoder.from_config(dict(CONFIG_13B))
    vae.encoder = None   # the decode alone (and its memory)
    C = CONFIG_13B["latent_channels"]
    vae.register_buffer("std_of_means", torch.ones(C))
    vae.register_buffer("mean_of_means", torch.zeros(C))
    vae = vae.to(device=dev, dtype=dtype).eval()
    T, lh, lw = 1 + (args.frames - 1) // 8, h // 32, w // 32
    lat = torch.randn(1, C, T, lh, lw, device=dev, dtype=dtype)
    noise = torch.randn_like(lat)
    ts = torch.tensor([0.05], device=dev, dtype=dtype)
    s = 0.025
    print(f"official LTX-Video 13B VAE decoder, random {args.dtype} weights, {w}x{h} x {args.frames} frames "
          f"(latent {lw}x{lh} x {T}) on {dev}, whole clip in one call")
    times = []
    with torch.no_grad():
        for _ in range(max(args.repeat, 1)):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            z = (lat * (1 - s) + noise * s) * vae.std_of_means.view(1, -1, 1, 1, 1) + \
                vae.mean_of_means.view(1, -1, 1, 1, 1)
            out = vae.decode(z, return_dict=False, target_shape=(1, 3, args.frames, h, w), timestep=ts)[0]
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            print(f"decode: {times[-1]:.3f} s  output {tuple(out.shape)}")
    print(f"best {min(times):.3f} s of {len(times)}")
    if dev.type == "cuda":
        print(f"peak CUDA memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
