#!/usr/bin/env python3
"""PyTorch baseline for the Wan2.2 models: the official Wan-Video/Wan2.2 modules (wan/modules/model.py,
vae2_2.py, vae2_1.py, imported unmodified from the --deps folder that tests/ltx/fetch-deps.sh makes),
random seeded weights at the real shapes, one GPU. The counterpart of `kinora-bench dit`,
`kinora-bench dit --model t2v-A14B`, `kinora-bench vae22-decode` and `kinora-bench vae21-decode`: run
both in one lease of the same GPU kind to compare.

    python3 tests/cuda/bench-torch-wan.py --deps DEPS [--what dit|vae22|vae21|all]
        [--model ti2v-5B|t2v-A14B] [--size WxH] [--frames N] [--repeat R] [--warmup W] [--layers N]
        [--text-tokens N] [--timestep T] [--vae-dtype float32|bfloat16] [--seed S] [--json FILE]
    python3 tests/cuda/bench-torch-wan.py --deps DEPS --tiny   (small DiT config and clip on the CPU in
        float32: checks that it runs; the VAE parts need PyTorch >= 2.1, as the official code does)

Parts (--what; `all` runs dit, then vae22, then vae21, freeing the device between them):
* dit: one WanModel forward as the official pipelines call it (textimage2video.py WanTI2V.t2v for
  TI2V-5B, text2video.py WanT2V.generate for a T2V-A14B expert): the config of wan/configs/<model>.py
  (read from the file), with model_type / in_dim / out_dim from the checkpoint's config.json
  (docs: wan22-spec.md section 1.1): TI2V-5B ti2v 48/48, T2V-A14B t2v 16/16. Parameters are made
  directly on the GPU in bfloat16 (the --convert_model_dtype layout; no float32 copy anywhere), with
  WanModel's own initialisation after torch.manual_seed(--seed). Inputs as the pipeline makes them:
  latent [z, (F-1)/4+1, H/s, W/s] float32 (s = the config's vae_stride: 16 for TI2V-5B, 8 for A14B),
  context a list of one [--text-tokens, 4096] bfloat16 tensor (the T5 output; WanModel pads it to
  text_len 512 whatever its length), seq_len = ceil(H'W'/4 * F') (one GPU), and t: a scheduler
  timestep (int64 on the device, --timestep, default 999 = the first UniPC step) stacked to [1]; for
  TI2V-5B expanded per token as WanTI2V.t2v does (mask2[0][0][:, ::2, ::2] * timestep, padded with the
  timestep to seq_len, unsqueezed: [1, seq_len] float32). The forward runs under
  torch.amp.autocast('cuda', bfloat16) and torch.no_grad(), the pipelines' context.
  --layers N builds N blocks and also reports the forward scaled by (model layers / N).
* vae22 / vae21: Wan2_2_VAE.decode / Wan2_1_VAE.decode of one latent [z, (F-1)/4+1, H/s, W/s] (z 48,
  s 16 / z 16, s 8), called inside torch.amp.autocast('cuda', bfloat16) and torch.no_grad() as the
  pipelines call it. The pipelines build both VAEs with the default dtype=torch.float, so decode()
  enters its own torch.cuda.amp.autocast(dtype=float32), which overrides the outer bfloat16: the
  official decode runs in float32 (convolutions through cuDNN, TF32 as PyTorch's default
  torch.backends.cudnn.allow_tf32 = True allows; the checkpoints are float32). --vae-dtype bfloat16
  passes dtype=torch.bfloat16 to the constructor instead (the class's own option: bfloat16 autocast
  over the float32 weights). Random weights: the modules' own initialisation (PyTorch's defaults plus
  the official init_weight calls), seeded.

Shims (the official math runs unmodified):
* wan/__init__.py and wan/modules/__init__.py are bypassed (empty package modules with the right
  __path__; they import the pipelines, T5, the tokenizer and their third-party packages);
* wan/configs/*.py are read with ast, not imported (they need easydict);
* attention: model.py calls wan.modules.attention.flash_attention, which needs the flash_attn package
  (FA3 or FA2; it asserts when neither is installed). WanModel's module-level name flash_attention is
  replaced, whether or not flash_attn is installed, by a function with its contract (q/k/v
  [B, L, N, D]; float32 inputs cast to bfloat16; keys past k_lens masked; output in q's dtype) that
  calls torch.nn.functional.scaled_dot_product_attention on [B, N, L, D] views. The brief of this
  baseline is SDPA; with seq_len equal to the token count (one GPU) no key is masked;
* checkpoints: the VAE classes read theirs in _video_vae (torch.load of a path, then
  load_state_dict(assign=True) into a model built on the meta device). During the official
  constructor, WanVAE_ is wrapped to note the config _video_vae builds, and torch.load answers with
  the state dict of a WanVAE_ of that config built on the GPU with its own initialisation (seeded):
  the rest of the constructor (mean/std scale, eval, requires_grad_(False), .to(device)) is the
  official code. The DiT is built with WanModel(...) instead of from_pretrained;
* with --tiny on a PyTorch without F.scaled_dot_product_attention (Debian 12's 1.13): the textbook
  softmax(q k^T * scale + mask) v in its place (the CPU check only).
Installed huggingface_hub / einops / safetensors win over the copies in DEPS (as tests/ltx/ltxref.py
does): the GPU machine's Transformers needs its own huggingface_hub.

Timing: torch.cuda.synchronize() before and after each forward / decode, wall clock
(time.perf_counter) between, so host work inside the official code (rope_apply's .tolist(), the
per-sample loops) counts. --warmup calls (default 1) are not counted; the figure is the median of
--repeat calls. Peak memory is torch.cuda.max_memory_allocated() over the timed and warm-up calls,
weights included (the statistics are reset after the model is built). Each part ends with a line
`result: {json}`; --json FILE also writes the list of results.
"""
import argparse
import ast
import contextlib
import gc
import importlib
import json
import math
import os
import statistics
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ltx"))
from ltxref import default_device  # noqa: E402 (tensors made in a block: that dtype, on that device)
SHIMS = os.path.join(os.path.dirname(HERE), "ltx", "shims")   # the pure-Python safetensors

# what the checkpoints' config.json adds to wan/configs/<file> (wan22-spec.md 1.1 and 2.1)
MODELS = {
    "ti2v-5B": dict(config="wan_ti2v_5B.py", model_type="ti2v", in_dim=48, out_dim=48, size=(1280, 704), frames=121),
    "t2v-A14B": dict(config="wan_t2v_A14B.py", model_type="t2v", in_dim=16, out_dim=16, size=(1280, 720), frames=81),
}
# the VAE classes as the pipelines build them: Wan2_2_VAE(vae_pth=, device=) in textimage2video.py,
# Wan2_1_VAE(vae_pth=, device=) in text2video.py; stride = the matching config's vae_stride
VAES = {
    "vae22": dict(module="vae2_2", cls="Wan2_2_VAE", z_dim=48, stride=(4, 16, 16), size=(1280, 704), frames=121),
    "vae21": dict(module="vae2_1", cls="Wan2_1_VAE", z_dim=16, stride=(4, 8, 8), size=(1280, 720), frames=81),
}
# WanModel keyword arguments taken from the config files
DIT_KEYS = ("patch_size", "text_len", "dim", "ffn_dim", "freq_dim", "num_heads", "num_layers", "window_size",
            "qk_norm", "cross_attn_norm", "eps")
TINY_DIT = dict(dim=64, ffn_dim=128, num_heads=2, num_layers=2)   # head_dim 32: RoPE split 6 + 5 + 5
TINY = dict(size=(64, 64), frames=5)
TEXT_DIM = 4096   # WanModel's text_dim default (the UMT5-XXL width); the configs do not set it


def setup(deps):
    """Make the official sources in DEPS importable. Returns torch."""
    deps = os.path.abspath(deps)
    for name in ("wan", "diffusers", "huggingface_hub", "einops"):
        if not os.path.isdir(os.path.join(deps, name)):
            sys.exit(f"{deps}: no {name}/ folder (tests/ltx/fetch-deps.sh makes it)")
    for name in ("huggingface_hub", "einops"):   # installed copies first (see the docstring)
        try:
            __import__(name)
        except ImportError:
            pass
    sys.path.insert(0, deps)
    try:
        import safetensors.torch  # noqa: F401 (diffusers' modeling_utils imports it)
    except ImportError:
        sys.path.insert(1, SHIMS)
    import torch

    return torch


def import_wan(deps, names):
    """wan.modules.<name> for each name, without wan/__init__.py and wan/modules/__init__.py."""
    root = os.path.join(os.path.abspath(deps), "wan")
    for pkg, path in (("wan", root), ("wan.modules", os.path.join(root, "modules"))):
        if pkg not in sys.modules:
            m = types.ModuleType(pkg)
            m.__path__ = [path]
            sys.modules[pkg] = m
    return [importlib.import_module("wan.modules." + n) for n in names]


def read_config(deps, filename):
    """The attribute assignments of wan/configs/shared_config.py then wan/configs/<filename> whose
    values are literals (`cfg.dim = 3072`), as a dict."""
    out = {}
    for f in ("shared_config.py", filename):
        path = os.path.join(os.path.abspath(deps), "wan", "configs", f)
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Attribute):
                try:
                    out[node.targets[0].attr] = ast.literal_eval(node.value)
                except ValueError:
                    pass   # torch.bfloat16 and the like
    return out


def sdpa_flash_attention(torch):
    """Stand-in for wan.modules.attention.flash_attention (same signature), through SDPA."""
    F = torch.nn.functional
    sdpa = getattr(F, "scaled_dot_product_attention", None) or _math_sdpa

    def flash_attention(q, k, v, q_lens=None, k_lens=None, dropout_p=0., softmax_scale=None, q_scale=None,
                        causal=False, window_size=(-1, -1), deterministic=False, dtype=torch.bfloat16,
                        version=None):
        # WanModel calls it with q_lens None, no dropout, global windows, not causal
        assert q_lens is None and dropout_p == 0 and not causal and tuple(window_size) == (-1, -1)
        half_dtypes = (torch.float16, torch.bfloat16)
        assert dtype in half_dtypes
        out_dtype, lk = q.dtype, k.size(1)

        def half(x):
            return x if x.dtype in half_dtypes else x.to(dtype)

        q, k, v = half(q), half(k), half(v)
        q, k = q.to(v.dtype), k.to(v.dtype)
        if q_scale is not None:
            q = q * q_scale
        mask = None
        if k_lens is not None and int(k_lens.min()) < lk:   # k_lens lives on the host (WanModel.forward)
            keep = torch.arange(lk, device=q.device)[None, :] < k_lens.to(q.device)[:, None]
            mask = keep[:, None, None, :]
        extra = {} if softmax_scale is None else {"scale": softmax_scale}
        x = sdpa(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask, **extra)
        return x.transpose(1, 2).type(out_dtype)

    return flash_attention


def _math_sdpa(q, k, v, attn_mask=None, scale=None):
    import torch

    s = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    w = torch.matmul(q.float(), k.float().transpose(-2, -1)) * s
    if attn_mask is not None:
        w = w.masked_fill(~attn_mask, float("-inf"))
    return torch.matmul(torch.softmax(w, dim=-1), v.float()).to(v.dtype)


def pipeline_context(torch, device):
    """What the pipelines run the DiT and the decode in: bfloat16 autocast on CUDA, no autograd (the CPU
    check: no autograd only)."""
    stack = contextlib.ExitStack()
    if device.type == "cuda":
        stack.enter_context(torch.amp.autocast("cuda", dtype=torch.bfloat16))
    stack.enter_context(torch.no_grad())
    return stack


def sync(torch, device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def free(torch, device):
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def latent_shape(z, stride, size, frames):
    w, h = size
    if (frames - 1) % stride[0] or h % stride[1] or w % stride[2]:
        sys.exit(f"{w}x{h}x{frames}: want frames 4n+1 and sides multiples of {stride[1]}")
    return (z, (frames - 1) // stride[0] + 1, h // stride[1], w // stride[2])


def timed(torch, device, fn, warmup, repeat, label):
    """Seconds of each call after `warmup` uncounted ones; returns (times, last output)."""
    times = []
    out = None
    for r in range(warmup + repeat):
        sync(torch, device)
        t0 = time.perf_counter()
        out = fn()
        sync(torch, device)
        dt = time.perf_counter() - t0
        print(f"{label} {r}{' (warm-up)' if r < warmup else ''}: {dt:.3f} s")
        if r >= warmup:
            times.append(dt)
    return times, out


def peak_gib(torch, device):
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None


def run_dit(torch, model_mod, args, device, dtype, flash):
    spec = MODELS[args.model]
    cfg = read_config(args.deps, spec["config"])
    kw = {k: cfg[k] for k in DIT_KEYS}
    kw.update(model_type=spec["model_type"], in_dim=spec["in_dim"], out_dim=spec["out_dim"], text_dim=TEXT_DIM)
    kw["patch_size"], kw["window_size"] = tuple(kw["patch_size"]), tuple(kw["window_size"])
    full_layers = kw["num_layers"]
    if args.tiny:
        kw.update(TINY_DIT)
        full_layers = kw["num_layers"]
    if args.layers:
        kw["num_layers"] = args.layers
    size, frames = args.size or (TINY["size"] if args.tiny else spec["size"]), args.frames or (
        TINY["frames"] if args.tiny else spec["frames"])
    z, T, H, W = latent_shape(spec["out_dim"], cfg["vae_stride"], size, frames)
    p = kw["patch_size"]
    if T % p[0] or H % p[1] or W % p[2]:
        sys.exit(f"latent {T}x{H}x{W} is not a multiple of the patch {p}")
    sp_size = 1   # one GPU: WanTI2V / WanT2V round seq_len up to a multiple of sp_size
    seq_len = math.ceil((H * W) / (p[1] * p[2]) * T / sp_size) * sp_size

    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    with default_device(torch, device, dtype):
        model = model_mod.WanModel(**kw)
    model.eval().requires_grad_(False)
    sync(torch, device)
    t_build = time.perf_counter() - t0
    n_params = sum(q.numel() for q in model.parameters())
    w_gib = sum(q.numel() * q.element_size() for q in model.parameters()) / 2**30
    assert all(q.device.type == device.type and q.dtype == dtype for q in model.parameters())

    g = torch.Generator(device=device.type).manual_seed(args.seed + 1)
    x = [torch.randn(z, T, H, W, dtype=torch.float32, device=device, generator=g)]
    context = [torch.randn(args.text_tokens, TEXT_DIM, dtype=dtype, device=device, generator=g)]
    # one sampling step's t as the pipeline makes it from a scheduler timestep (int64 on the device)
    timestep = torch.stack([torch.tensor(args.timestep, dtype=torch.int64, device=device)])
    if spec["model_type"] == "ti2v":   # WanTI2V.t2v: masks_like(noise, zero=False) gives ones
        mask2 = [torch.ones(z, T, H, W, dtype=torch.float32, device=device)]
        temp_ts = (mask2[0][0][:, ::2, ::2] * timestep).flatten()
        temp_ts = torch.cat([temp_ts, temp_ts.new_ones(seq_len - temp_ts.size(0)) * timestep])
        timestep = temp_ts.unsqueeze(0)
    arg_c = {"context": context, "seq_len": seq_len}

    print(f"== dit: official WanModel {args.model} ({spec['config']}): " + ", ".join(f"{k}={kw[k]}" for k in (
        "model_type", "dim", "ffn_dim", "num_heads", "num_layers", "in_dim", "out_dim", "patch_size", "text_len",
        "freq_dim")) + (f" ({kw['num_layers']} of {full_layers} layers)" if kw["num_layers"] != full_layers else ""))
    print(f"{n_params:,} parameters, {w_gib:.2f} GiB, {dtype} on {device}, built in {t_build:.1f} s; "
          f"attention: SDPA (flash_attn {'installed, not used' if flash else 'not installed'})")
    print(f"video {size[0]}x{size[1]}x{frames} -> latent {z}x{T}x{H}x{W}, seq_len {seq_len}; context "
          f"{args.text_tokens}x{TEXT_DIM} (padded to {kw['text_len']}); t {tuple(timestep.shape)} {timestep.dtype}")
    free(torch, device)

    def forward():
        with pipeline_context(torch, device):
            return model(x, t=timestep, **arg_c)[0]

    times, out = timed(torch, device, forward, args.warmup, args.repeat, "forward")
    assert tuple(out.shape) == (spec["out_dim"], T, H, W) and out.dtype == torch.float32, tuple(out.shape)
    med = statistics.median(times)
    res = dict(part="dit", model=args.model, size=f"{size[0]}x{size[1]}", frames=frames, tokens=seq_len,
               layers=kw["num_layers"], params=n_params, weights_gib=round(w_gib, 3), seconds=round(med, 4),
               times=[round(t, 4) for t in times], peak_memory_gib=peak_gib(torch, device),
               finite=bool(torch.isfinite(out).all()), torch=torch.__version__, device=_device_name(torch, device))
    print(f"seconds per forward (median of {len(times)}): {med:.3f}")
    if kw["num_layers"] != full_layers:
        res["seconds_scaled_to_all_layers"] = round(med * full_layers / kw["num_layers"], 4)
        print(f"scaled to {full_layers} layers: {res['seconds_scaled_to_all_layers']:.3f} s")
    if res["peak_memory_gib"] is not None:
        print(f"peak device memory: {res['peak_memory_gib']:.2f} GiB (weights {w_gib:.2f} GiB)")
    return res   # the model and its tensors go with this frame; main() then empties the cache


def build_vae(torch, mod, cls_name, device, seed, **ctor):
    """The official VAE class's constructor, its torch.load of the checkpoint answered with a randomly
    initialised WanVAE_ of the config _video_vae asks for (made on `device`, float32)."""
    real_cls, real_load = mod.WanVAE_, torch.load
    seen = {}

    def noting(**cfg):
        seen["cfg"] = cfg
        return real_cls(**cfg)   # inside _video_vae's meta-device block

    def load(path, map_location=None, **_):
        assert "cfg" in seen, "torch.load before the model was built"
        torch.manual_seed(seed)
        with default_device(torch, device, torch.float32):   # _video_vae has left its meta block
            return real_cls(**seen["cfg"]).state_dict()

    mod.WanVAE_, torch.load = noting, load
    try:
        vae = getattr(mod, cls_name)(vae_pth="(random weights)", device=device, **ctor)
    finally:
        mod.WanVAE_, torch.load = real_cls, real_load
    assert all(q.device.type == device.type for q in vae.model.parameters())
    return vae, seen["cfg"]


def run_vae(torch, mod, name, args, device):
    spec = VAES[name]
    size = args.size or (TINY["size"] if args.tiny else spec["size"])
    frames = args.frames or (TINY["frames"] if args.tiny else spec["frames"])
    shape = latent_shape(spec["z_dim"], spec["stride"], size, frames)
    vdtype = getattr(torch, args.vae_dtype)
    t0 = time.perf_counter()
    # the pipelines pass vae_pth and device only (dtype stays torch.float); --vae-dtype bfloat16 passes it
    vae, cfg = build_vae(torch, mod, spec["cls"], device, args.seed,
                         **({} if vdtype == torch.float32 else {"dtype": vdtype}))
    sync(torch, device)
    t_build = time.perf_counter() - t0
    n_params = sum(q.numel() for q in vae.model.parameters())
    w_gib = sum(q.numel() * q.element_size() for q in vae.model.parameters()) / 2**30
    # the decoder alone is what decode() uses; the encoder stays, as the pipelines keep it
    g = torch.Generator(device=device.type).manual_seed(args.seed + 1)
    zs = [torch.randn(*shape, dtype=torch.float32, device=device, generator=g)]
    print(f"== {name}: official {spec['cls']} ({spec['module']}.py), WanVAE_({', '.join(f'{k}={v}' for k, v in cfg.items())})")
    print(f"{n_params:,} parameters, {w_gib:.2f} GiB float32 on {device}, built in {t_build:.1f} s; "
          f"decode under autocast {vae.dtype} inside the pipelines' bfloat16 autocast"
          + (f"; cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}" if device.type == "cuda" else ""))
    print(f"latent {'x'.join(map(str, shape))} -> video 3x{frames}x{size[1]}x{size[0]}")
    free(torch, device)

    def decode():
        with pipeline_context(torch, device):
            return vae.decode(zs)

    times, videos = timed(torch, device, decode, args.warmup, args.repeat, "decode")
    assert videos is not None and tuple(videos[0].shape) == (3, frames, size[1], size[0]), \
        None if videos is None else tuple(videos[0].shape)
    med = statistics.median(times)
    res = dict(part=name, size=f"{size[0]}x{size[1]}", frames=frames, latent=list(shape), params=n_params,
               weights_gib=round(w_gib, 3), vae_dtype=args.vae_dtype, seconds=round(med, 4),
               times=[round(t, 4) for t in times], peak_memory_gib=peak_gib(torch, device),
               finite=bool(torch.isfinite(videos[0]).all()), torch=torch.__version__,
               device=_device_name(torch, device))
    print(f"seconds per decode (median of {len(times)}): {med:.3f}")
    if res["peak_memory_gib"] is not None:
        print(f"peak device memory: {res['peak_memory_gib']:.2f} GiB (weights {w_gib:.2f} GiB)")
    return res   # the model and its tensors go with this frame; main() then empties the cache


def _device_name(torch, device):
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deps", required=True, help="folder with wan, diffusers, huggingface_hub, einops")
    ap.add_argument("--what", default="dit", choices=["dit", "vae22", "vae21", "all"])
    ap.add_argument("--model", default="ti2v-5B", choices=sorted(MODELS))
    ap.add_argument("--size", help="WxH (default: the part's, e.g. 1280x704 for ti2v-5B and vae22)")
    ap.add_argument("--frames", type=int, help="video frames, 4n+1 (default: the part's, 121 or 81)")
    ap.add_argument("--repeat", type=int, default=3, help="timed calls (median reported)")
    ap.add_argument("--warmup", type=int, default=1, help="uncounted calls first")
    ap.add_argument("--layers", type=int, help="DiT blocks built (default: all)")
    ap.add_argument("--text-tokens", type=int, default=512, help="rows of the text context (<= text_len 512)")
    ap.add_argument("--timestep", type=int, default=999, help="the scheduler timestep given to the DiT")
    ap.add_argument("--vae-dtype", default="float32", choices=["float32", "bfloat16"],
                    help="the VAE class's dtype (float32: as the pipelines build it)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--tiny", action="store_true", help="small DiT config and clip on the CPU, float32")
    args = ap.parse_args()
    if args.size:
        try:
            args.size = tuple(int(v) for v in args.size.lower().split("x"))
            assert len(args.size) == 2
        except (ValueError, AssertionError):
            sys.exit(f"--size {args.size}: want WxH, e.g. 1280x704")
    if args.repeat < 1 or args.warmup < 0 or not 1 <= args.text_tokens <= 512 or (args.layers is not None and args.layers < 1):
        sys.exit("want --repeat >= 1, --warmup >= 0, --text-tokens 1..512, --layers >= 1")
    torch = setup(args.deps)
    if args.tiny:
        device, dtype = torch.device("cpu"), torch.float32
        torch.set_num_threads(os.cpu_count() or 1)
    else:
        if not torch.cuda.is_available():
            sys.exit("no CUDA device (--tiny runs on the CPU)")
        device, dtype = torch.device("cuda"), torch.bfloat16
    print(f"torch {torch.__version__}, {_device_name(torch, device)}, seed {args.seed}")
    parts = ["dit", "vae22", "vae21"] if args.what == "all" else [args.what]
    results = []
    for part in parts:
        if part == "dit":
            (model_mod,) = import_wan(args.deps, ["model"])
            model_mod.flash_attention = sdpa_flash_attention(torch)   # the attention shim (docstring)
            att = sys.modules["wan.modules.attention"]
            flash = att.FLASH_ATTN_2_AVAILABLE or att.FLASH_ATTN_3_AVAILABLE
            res = run_dit(torch, model_mod, args, device, dtype, flash)
        else:
            (mod,) = import_wan(args.deps, [VAES[part]["module"]])
            res = run_vae(torch, mod, part, args, device)
        free(torch, device)
        print("result: " + json.dumps(res))
        results.append(res)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
