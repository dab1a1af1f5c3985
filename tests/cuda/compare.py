#!/usr/bin/env python3
"""Compare a kinora-cli eval output with the golden IO file (or with another output file).

Prints, per output tensor, the relative L2 error ||got - ref|| / ||ref|| and the largest absolute
difference over the tensor's largest magnitude; exits 1 when any listed output is missing, not
finite, or over the tolerance. Usage: compare.py IO OUT [TOL] [REF_OUT]
"""
import json
import sys

import numpy as np
from safetensors.numpy import load_file
from safetensors import safe_open


def main():
    io_path, out_path = sys.argv[1], sys.argv[2]
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-2
    ref_path = sys.argv[4] if len(sys.argv) > 4 else io_path
    with safe_open(io_path, "np") as f:
        names = json.loads(f.metadata()["outputs"])
    ref = load_file(ref_path)
    got = load_file(out_path)
    bad = 0
    for n in names:
        if n not in got or n not in ref:
            print(f"  {n}: MISSING")
            bad += 1
            continue
        g = got[n].astype(np.float64)
        r = ref[n].astype(np.float64)
        if g.shape != r.shape:
            print(f"  {n}: shape {g.shape} vs {r.shape}")
            bad += 1
            continue
        rel = np.linalg.norm(g - r) / max(np.linalg.norm(r), 1e-30)
        mx = np.max(np.abs(g - r)) / max(np.max(np.abs(r)), 1e-30)
        ok = np.all(np.isfinite(g)) and rel <= tol
        bad += 0 if ok else 1
        print(f"  {n}: rel L2 {rel:.3e}, max abs / max |ref| {mx:.3e} {'ok' if ok else 'FAIL'} (tol {tol:g})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
