#!/usr/bin/env python3
"""PSNR and SSIM of the videos in one kinora-cli eval output against another (or the golden IO file).

Usage: video-quality.py GOT REF [MIN_PSNR]
Every tensor whose name ends in 'video' (t2v.video, i2v.video, video) is compared, or, where REF holds
'decoded' (the VAE fixtures, whose eval output has no 'video'), that alone. The videos are
[3, frames, H, W] in [-1, 1]; both measures use that range (PSNR = 10 log10(2^2 / MSE)). SSIM is the
usual one (Wang et al. 2004): an 11x11 Gaussian window of sigma 1.5, C1 = (0.01 L)^2, C2 = (0.03 L)^2
with L = 2, computed per frame and channel over the window positions that fit and averaged.
Exits 1 when a video is missing, has another shape, is not finite, or (with MIN_PSNR) is below it.
"""
import sys

import numpy as np
from safetensors.numpy import load_file


def gauss_filter(x, k):
    # separable 'valid' filtering along the last two axes
    r = len(k)
    h = sum(k[i] * x[..., i:x.shape[-2] - r + 1 + i, :] for i in range(r))
    return sum(k[i] * h[..., :, i:h.shape[-1] - r + 1 + i] for i in range(r))


def ssim(a, b, data_range=2.0):
    if a.shape[-1] < 11 or a.shape[-2] < 11:
        raise ValueError("frames smaller than the 11x11 window")
    g = np.exp(-0.5 * ((np.arange(11) - 5) / 1.5) ** 2)
    g /= g.sum()
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_a = gauss_filter(a, g)
    mu_b = gauss_filter(b, g)
    saa = gauss_filter(a * a, g) - mu_a * mu_a
    sbb = gauss_filter(b * b, g) - mu_b * mu_b
    sab = gauss_filter(a * b, g) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))
    return float(m.mean())


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    got = load_file(sys.argv[1])
    ref = load_file(sys.argv[2])
    min_psnr = float(sys.argv[3]) if len(sys.argv) > 3 else None
    names = ["decoded"] if "decoded" in ref else sorted(n for n in ref if n.endswith("video"))
    if not names:
        print(f"{sys.argv[2]}: no video tensors")
        return 1
    bad = 0
    for n in names:
        if n not in got:
            print(f"  {n}: MISSING in {sys.argv[1]}")
            bad += 1
            continue
        g = got[n].astype(np.float64)
        r = ref[n].astype(np.float64)
        if g.shape != r.shape or not np.all(np.isfinite(g)):
            print(f"  {n}: shape {g.shape} vs {r.shape} or not finite")
            bad += 1
            continue
        mse = float(np.mean((g - r) ** 2))
        psnr = float("inf") if mse == 0 else 10 * np.log10(4.0 / mse)
        s = ssim(g, r)
        ok = min_psnr is None or psnr >= min_psnr
        bad += 0 if ok else 1
        lim = "" if min_psnr is None else f" (at least {min_psnr:g} dB: {'ok' if ok else 'FAIL'})"
        print(f"  {n}: PSNR {psnr:.2f} dB, SSIM {s:.4f}{lim}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
