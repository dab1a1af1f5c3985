#!/usr/bin/env python3
"""Seconds per forward of the official LTX-Video 13B transformer (Transformer3DModel, random bf16 weights,
SDPA attention), the counterpart of `kinora-bench ltx-transformer --random`: the same token grid
(1216x704, 121 frames -> 13,376 tokens by default), the pipeline's fractional coords (frame rate 30),
256 text tokens of which 64 kept, one timestep. Run both in one lease of the same GPU to compare.

    python3 tests/ltx/bench-torch.py --deps DEPS [--size 1216x704] [--frames 121] [--layers N] [--repeat N]
    python3 tests/ltx/bench-torch.py --deps DEPS --tiny      (a small config on the CPU: checks it starts)

--layers N builds N of the 48 blocks and extrapolates the time to 48, as kinora-bench does.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import ltxref  # noqa: E402

CONFIG_13B = ltxref.TRANSFORMER_13B


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deps", required=True, help="folder with ltx_video, diffusers, huggingface_hub, einops")
    ap.add_argument("--size", default="1216x704")
    ap.add_argument("--frames", type=int, default=121)
    ap.add_argument("--layers", type=int, default=48)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--text", type=int, default=256, help="text tokens (padded length)")
    ap.add_argument("--kept", type=int, default=64, help="text tokens the mask keeps")
    ap.add_argument("--tiny", action="store_true", help="a small config on the CPU in float32")
    args = ap.parse_args()
    torch = ltxref.setup(args.deps, threads=os.cpu_count() or 1)
    torch.use_deterministic_algorithms(False)
    from ltx_video.models.transformers.transformer3d import Transformer3DModel

    w, h = (int(v) for v in args.size.lower().split("x"))
    assert (args.frames - 1) % 8 == 0 and w % 32 == 0 and h % 32 == 0, "frames 8n+1, size a multiple of 32"
    cfg = dict(CONFIG_13B, num_layers=args.layers)
    if args.tiny:
        cfg.update(num_attention_heads=2, attention_head_dim=16, cross_attention_dim=32, caption_channels=24)
        device, dtype = torch.device("cpu"), torch.float32
    else:
        device, dtype = torch.device("cuda"), torch.bfloat16
    torch.manual_seed(0)
    # built directly in the compute dtype on the device (13B in float32 would not fit next to its copy)
    torch.set_default_dtype(dtype)
    if device.type == "cuda":
        torch.set_default_tensor_type(torch.cuda.BFloat16Tensor)
    t0 = time.time()
    model = Transformer3DModel.from_config(cfg).to(device=device, dtype=dtype).eval()
    torch.set_default_tensor_type(torch.FloatTensor)
    torch.set_default_dtype(torch.float32)
    t_build = time.time() - t0

    F, H, W = (args.frames - 1) // 8 + 1, h // 32, w // 32
    N = F * H * W
    f, y, x = torch.meshgrid(torch.arange(F), torch.arange(H), torch.arange(W), indexing="ij")
    grid = torch.stack([(8 * f + 1 - 8).clamp(min=0) / 30.0, 32.0 * y, 32.0 * x]).reshape(1, 3, N)
    grid = grid.to(device=device, dtype=torch.float32)
    hidden = torch.randn(1, N, 128, device=device, dtype=dtype)
    text = 0.2 * torch.randn(1, args.text, cfg["caption_channels"], device=device, dtype=dtype)
    mask = torch.zeros(1, args.text, dtype=torch.int64, device=device)
    mask[:, : args.kept] = 1
    t = torch.ones(1, 1, device=device, dtype=dtype)
    print(f"model: official Transformer3DModel, {args.layers} of 48 layers, {dtype}, {device}"
          + (" (tiny config)" if args.tiny else ""))
    print(f"video: {w}x{h}, {args.frames} frames -> {N} tokens; text {args.text} tokens ({args.kept} kept)")
    print(f"torch {torch.__version__}; build {t_build:.2f} s")

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    times = []
    with torch.no_grad():
        for r in range(args.repeat + 1):   # the first run (allocator, kernels) is not counted
            sync()
            t0 = time.time()
            out = model(hidden, indices_grid=grid, encoder_hidden_states=text, timestep=t,
                        encoder_attention_mask=mask, return_dict=False)[0]
            sync()
            dt = time.time() - t0
            print(f"forward {r}{' (warm-up)' if r == 0 else ''}: {dt:.3f} s")
            if r > 0:
                times.append(dt)
    assert out.shape == (1, N, 128) and torch.isfinite(out.float()).all()
    times.sort()
    med = times[len(times) // 2]
    print(f"seconds per forward (median of {len(times)}): {med:.3f}")
    if args.layers != 48:
        print(f"seconds per forward, extrapolated to 48 layers: {med * 48 / args.layers:.3f}")
    if device.type == "cuda":
        print(f"peak device memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
