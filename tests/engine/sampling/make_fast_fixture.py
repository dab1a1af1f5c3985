#!/usr/bin/python3
"""Reference numbers for the few-step preset and the TeaCache rescale polynomial (fast.io.safetensors).

Runs the official code, unmodified, from checkouts at pinned commits:
  --lightning  ModelTC/Wan2.2-Lightning @ 92efeb4442a90d8f1985a486a0f33afd12dfeacf
               wan/utils/fm_solvers_euler.py: EulerScheduler (set_timesteps, step)
  --lightx2v   ModelTC/LightX2V @ f8aee98b5462cca8d7288888146ebd95592bf266
               lightx2v/models/schedulers/{scheduler,wan/scheduler,wan/step_distill/scheduler}.py:
               WanStepDistillScheduler.set_denoising_timesteps, with the config of
               configs/distill/wan22/wan_moe_t2v_distill_lora.json;
               configs/caching/teacache/wan_ti2v_tea_720p.json: the TI2V-5B TeaCache coefficients
  --teacache   ali-vilab/TeaCache @ 7c10efc4702c6b619f47805f7abe4a7a08085aa0
               TeaCache4Wan2.1/teacache_generate.py: the Wan2.1 14B coefficients (read from the source text)
  --magcache   Zehong-Ma/MagCache @ df81cb181776c2c61477c08e1d21f87fda1cd938
               MagCache4Wan2.2/magcache_generate.py: its nearest_interp and init_magcache (taken out of the
               file with ast and run as they are, on a stand-in model object) over its Wan2.2 mag_ratios

Needs torch and numpy (Debian: python3-torch, python3-numpy). Missing third-party pieces are replaced by
small stand-ins defined below, and nothing else:
  * diffusers.FlowMatchEulerDiscreteScheduler, EulerScheduler's base class: only what EulerScheduler
    uses of it (step_index, begin_index, _init_step_index, index_for_timestep), with diffusers' semantics;
  * loguru.logger, lightx2v.utils.envs, lightx2v.utils.utils.masks_like and
    lightx2v_platform.base.global_var.AI_DEVICE ("cpu"), imported by the LightX2V scheduler modules but not
    used by set_denoising_timesteps.
Deterministic: the same files give the same bytes.
"""
import argparse
import ast
import importlib.util
import json
import os
import re
import struct
import sys
import types

import numpy as np
import torch


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def stub(name, **attrs):
    mod = types.ModuleType(name)
    mod.__path__ = []
    for k, v in attrs.items():
        setattr(mod, k, v)
    sys.modules[name] = mod
    return mod


class FlowMatchEulerDiscreteSchedulerStandIn:
    """The parts of diffusers' FlowMatchEulerDiscreteScheduler that EulerScheduler relies on."""

    def __init__(self, num_train_timesteps=1000, shift=1.0, **kwargs):
        self._step_index = None
        self._begin_index = None

    @property
    def step_index(self):
        return self._step_index

    @property
    def begin_index(self):
        return self._begin_index

    def index_for_timestep(self, timestep, schedule_timesteps=None):
        if schedule_timesteps is None:
            schedule_timesteps = self.timesteps
        indices = (schedule_timesteps == timestep).nonzero()
        pos = 1 if len(indices) > 1 else 0
        return indices[pos].item()

    def _init_step_index(self, timestep):
        if self.begin_index is None:
            if isinstance(timestep, torch.Tensor):
                timestep = timestep.to(self.timesteps.device)
            self._step_index = self.index_for_timestep(timestep)
        else:
            self._step_index = self._begin_index


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs = []
    off = 0
    for name in sorted(tensors):
        a = tensors[name]
        dt = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}[a.dtype]
        b = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lightning", required=True)
    ap.add_argument("--lightx2v", required=True)
    ap.add_argument("--teacache", required=True)
    ap.add_argument("--magcache", required=True)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(0)
    out = {}

    # --- Wan2.2-Lightning EulerScheduler: schedules and the steps of a 4-step run --------------------
    stub("diffusers", FlowMatchEulerDiscreteScheduler=FlowMatchEulerDiscreteSchedulerStandIn)
    euler = load("fm_solvers_euler", os.path.join(args.lightning, "wan/utils/fm_solvers_euler.py"))
    cases = [(4, 5.0), (8, 5.0), (4, 3.0), (6, 12.0), (3, 8.0)]
    for n, shift in cases:
        # as text2video.py: EulerScheduler(num_train_timesteps, shift), set_timesteps(steps), timesteps[:-1]
        sch = euler.EulerScheduler(num_train_timesteps=1000, shift=shift, device="cpu")
        sch.set_timesteps(n, device="cpu")
        key = "lightning.n%d_s%g" % (n, shift)
        out[key + ".sigmas"] = sch.sigmas.numpy().astype(np.float32)
        out[key + ".timesteps"] = sch.timesteps[:-1].numpy().astype(np.float32)
    sch = euler.EulerScheduler(num_train_timesteps=1000, shift=5.0, device="cpu")
    sch.set_timesteps(4, device="cpu")
    x = torch.randn(2, 3, 5, 7)
    xs, vs = [x.numpy().copy()], []
    for t in sch.timesteps[:-1].clone():
        v = torch.randn(2, 3, 5, 7)
        x = sch.step(v.unsqueeze(0), t, x.unsqueeze(0), return_dict=False)[0]
        xs.append(x.numpy().copy())
        vs.append(v.numpy().copy())
    out["lightning.step.x"] = np.stack(xs).astype(np.float32)
    out["lightning.step.v"] = np.stack(vs).astype(np.float32)

    # --- LightX2V WanStepDistillScheduler (the same recipe through denoising_step_list) --------------
    stub("loguru", logger=types.SimpleNamespace(info=print, warning=print))
    stub("lightx2v")
    stub("lightx2v.utils")
    stub("lightx2v.utils.envs")
    stub("lightx2v.utils.utils", masks_like=None)
    stub("lightx2v_platform")
    stub("lightx2v_platform.base")
    stub("lightx2v_platform.base.global_var", AI_DEVICE="cpu")
    stub("lightx2v.models")
    stub("lightx2v.models.schedulers")
    stub("lightx2v.models.schedulers.wan")
    root = os.path.join(args.lightx2v, "lightx2v/models/schedulers")
    load("lightx2v.models.schedulers.scheduler", os.path.join(root, "scheduler.py"))
    load("lightx2v.models.schedulers.wan.scheduler", os.path.join(root, "wan/scheduler.py"))
    sd = load("lightx2v.models.schedulers.wan.step_distill.scheduler", os.path.join(root, "wan/step_distill/scheduler.py"))
    with open(os.path.join(args.lightx2v, "configs/distill/wan22/wan_moe_t2v_distill_lora.json")) as f:
        cfg = json.load(f)
    cfg.update({"seq_parallel": False, "dim": 5120, "num_heads": 40})
    s2 = sd.Wan22StepDistillScheduler(cfg)
    s2.set_denoising_timesteps(device="cpu")
    out["lightx2v.sigmas"] = s2.sigmas.numpy().astype(np.float32)
    out["lightx2v.timesteps"] = s2.timesteps.numpy().astype(np.float32)
    out["lightx2v.boundary_step_index"] = np.array([cfg["boundary_step_index"]], dtype=np.float32)

    # --- TeaCache rescale polynomials ----------------------------------------------------------------
    with open(os.path.join(args.lightx2v, "configs/caching/teacache/wan_ti2v_tea_720p.json")) as f:
        ti2v = json.load(f)["coefficients"][1]      # use_ret_steps false: the set on the time embedding
    with open(os.path.join(args.teacache, "TeaCache4Wan2.1/teacache_generate.py")) as f:
        src = f.read()
    # the else (no retention steps) branches: t2v '14B' and i2v '720P'
    t2v = re.search(r"else:\s*\n\s*if '1\.3B'.*?\n.*?\n\s*if '14B' in args\.ckpt_dir:\s*\n\s*.*?coefficients = (\[[^\]]*\])",
                    src, re.S)
    i2v = re.search(r"else:\s*\n\s*if '480P'.*?\n.*?\n\s*if '720P' in args\.ckpt_dir:\s*\n\s*.*?coefficients = (\[[^\]]*\])",
                    src, re.S)
    polys = {"ti2v": ti2v, "t2v": json.loads(t2v.group(1)), "i2v": json.loads(i2v.group(1))}
    xs_tea = np.array([0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3], dtype=np.float64)
    for k, c in polys.items():
        out["tea.%s.coefficients" % k] = np.array(c, dtype=np.float64)
        out["tea.%s.x" % k] = xs_tea
        out["tea.%s.y" % k] = np.poly1d(c)(xs_tea).astype(np.float64)

    # --- MagCache ratios per step as init_magcache sets them -----------------------------------------
    with open(os.path.join(args.magcache, "MagCache4Wan2.2/magcache_generate.py")) as f:
        msrc = f.read()
    tree = ast.parse(msrc)
    # magcache_forward (the patched forward init_magcache installs) is never called here
    ns = {"np": np, "torch": torch, "magcache_forward": None}
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in ("nearest_interp", "init_magcache")]
    exec(compile(ast.Module(body=defs, type_ignores=[]), "magcache_generate.py", "exec"), ns)
    # the four mag_ratios lists in file order: t2v-A14B, ti2v-5B (text), ti2v-5B (image), i2v-A14B
    assigns = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Assign) and
                      any(getattr(t, "id", None) == "mag_ratios" for t in n.targets)), key=lambda n: n.lineno)
    lists = [ast.literal_eval(n.value) for n in assigns]
    assert [len(l) for l in lists] == [78, 98, 98, 78], [len(l) for l in lists]
    for key, ratios in zip(("t2v", "ti2v_t2v", "ti2v_i2v", "i2v"), lists):
        for steps in (1, 4, 8, 20, 40, 50):
            class Model:
                pass
            margs = types.SimpleNamespace(sample_steps=steps, magcache_thresh=0.04, magcache_K=2, retention_ratio=0.2)
            ns["init_magcache"](Model(), list(ratios), margs, split_steps=0)
            out["mag.%s.s%d" % (key, steps)] = np.asarray(Model.mag_ratios, dtype=np.float64)

    meta = {
        "generator": "tests/engine/sampling/make_fast_fixture.py",
        "lightning_commit": "92efeb4442a90d8f1985a486a0f33afd12dfeacf",
        "lightx2v_commit": "f8aee98b5462cca8d7288888146ebd95592bf266",
        "teacache_commit": "7c10efc4702c6b619f47805f7abe4a7a08085aa0",
        "magcache_commit": "df81cb181776c2c61477c08e1d21f87fda1cd938",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "outputs": json.dumps(sorted(out)),
    }
    write_safetensors(args.out, out, meta)


if __name__ == "__main__":
    main()
