#!/usr/bin/env python3
"""Golden fixtures for the LTX-Video components, from the official code (see README.md).

Each component has its own module gen_<component>.py with
    add_args(parser)            its shape options
    make(args, torch)           writes <name>.weights.safetensors and <name>.io.safetensors to args.out
Usage: make-fixtures.py --deps DEPS --out DIR [--seed N] [--only COMPONENT ...] [component options]
Deterministic: fixed seeds, one thread; two runs give byte-identical files.
"""
import argparse
import glob
import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import ltxref  # noqa: E402


def components():
    names = sorted(os.path.basename(p)[4:-3] for p in glob.glob(os.path.join(HERE, "gen_*.py")))
    return {n: importlib.import_module("gen_" + n) for n in names}


def main():
    comps = components()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deps", required=True, help="folder with ltx_video, diffusers, huggingface_hub, einops")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", choices=sorted(comps), help="components to make (default: all)")
    for name, mod in comps.items():
        mod.add_args(ap.add_argument_group(name))
    args = ap.parse_args()
    torch = ltxref.setup(args.deps)
    os.makedirs(args.out, exist_ok=True)
    for name in args.only or sorted(comps):
        ltxref.seed_all(args.seed)
        comps[name].make(args, torch)


if __name__ == "__main__":
    main()
