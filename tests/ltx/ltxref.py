"""Shared set-up for the LTX-Video fixture generators (tests/ltx/gen_*.py).

The official code runs unmodified: `ltx_video` (Lightricks/LTX-Video) and the pieces of its
dependencies it imports are taken from one folder given with --deps, laid out as

    DEPS/ltx_video        Lightricks/LTX-Video   5260738e171955b66c0827f9af7e84d68fd1d919
    DEPS/configs          (same checkout: the official YAML configs)
    DEPS/diffusers        huggingface/diffusers  v0.31.0 (src/diffusers)
    DEPS/huggingface_hub  huggingface/huggingface_hub v0.32.6 (src/huggingface_hub)
    DEPS/einops           arogozhnikov/einops    v0.8.1
    DEPS/wan              Wan-Video/Wan2.2       42bf4cfaa384bc21833865abc2f9e6c0e67233dc
                          (optional: only gen_t5xxl.py, which checks for it, imports it)

(see README.md for the exact commits and `fetch-deps.sh` to make the folder). PyTorch is Debian's
python3-torch. Shims, only for pieces missing from Debian 12 (listed in README.md):
  * shims/safetensors: the `safetensors` package (not packaged in Debian 12), pure Python, used only
    where the real package is not installed;
  * F.scaled_dot_product_attention when the installed PyTorch predates it (Debian 12 has 1.13):
    installed below as the textbook softmax(q k^T * scale + mask) v, exactly what PyTorch 2's
    math backend computes on the CPU.
"""
import contextlib
import json
import math
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

PINS = {
    "ltx_video": "Lightricks/LTX-Video@5260738e171955b66c0827f9af7e84d68fd1d919",
    "diffusers": "huggingface/diffusers@v0.31.0",
    "huggingface_hub": "huggingface/huggingface_hub@v0.32.6",
    "einops": "arogozhnikov/einops@v0.8.1",
}
# Needed by one generator only (not checked by setup(); that generator checks and records it).
OPTIONAL_PINS = {
    "wan": "Wan-Video/Wan2.2@42bf4cfaa384bc21833865abc2f9e6c0e67233dc",   # gen_t5xxl.py
}


# The 13B (0.9.7 / 0.9.8) model configs at their real sizes, for the benchmark baselines (bench-torch*.py).
# Transformer: the distilled checkpoint's transformer section (README.md, Transformer: where the sizes come
# from; causal_temporal_positioning assumed).
TRANSFORMER_13B = {
    "activation_fn": "gelu-approximate", "adaptive_norm": "single_scale_shift", "attention_bias": True,
    "attention_head_dim": 128, "caption_channels": 4096, "causal_temporal_positioning": True,
    "cross_attention_dim": 4096, "in_channels": 128, "norm_elementwise_affine": False, "norm_eps": 1e-06,
    "num_attention_heads": 32, "num_layers": 48, "out_channels": 128,
    "positional_embedding_max_pos": [20, 2048, 2048], "positional_embedding_theta": 10000.0,
    "positional_embedding_type": "rope", "qk_norm": "rms_norm", "standardization_norm": "rms_norm",
    "timestep_scale_multiplier": 1000,
}
# VAE: the config the checkpoint carries (README.md, VAE and latent upsampler; the padding mode assumed)
VAE_13B = {
    "_class_name": "CausalVideoAutoencoder",
    "dims": 3,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 128,
    "encoder_blocks": [
        ["res_x", {"num_layers": 4}], ["compress_space_res", {"multiplier": 2}],
        ["res_x", {"num_layers": 6}], ["compress_time_res", {"multiplier": 2}],
        ["res_x", {"num_layers": 6}], ["compress_all_res", {"multiplier": 2}],
        ["res_x", {"num_layers": 2}], ["compress_all_res", {"multiplier": 2}],
        ["res_x", {"num_layers": 2}],
    ],
    "decoder_blocks": [
        ["res_x", {"num_layers": 5, "inject_noise": False}],
        ["compress_all", {"residual": True, "multiplier": 2}],
        ["res_x", {"num_layers": 5, "inject_noise": False}],
        ["compress_all", {"residual": True, "multiplier": 2}],
        ["res_x", {"num_layers": 5, "inject_noise": False}],
        ["compress_all", {"residual": True, "multiplier": 2}],
        ["res_x", {"num_layers": 5, "inject_noise": False}],
    ],
    "scaling_factor": 1.0,
    "norm_layer": "pixel_norm",
    "patch_size": 4,
    "latent_log_var": "uniform",
    "use_quant_conv": False,
    "causal_decoder": False,
    "timestep_conditioning": True,
}
# Spatial upscaler (ltxv-spatial-upscaler-0.9.7 and -0.9.8 alike; the config diffusers'
# scripts/convert_ltx_to_diffusers.py gives both versions)
UPSAMPLER_13B = {
    "_class_name": "LatentUpsampler", "in_channels": 128, "mid_channels": 512, "num_blocks_per_stage": 4,
    "dims": 3, "spatial_upsample": True, "temporal_upsample": False,
}


@contextlib.contextmanager
def default_device(torch, device, dtype):
    """Modules built in the block get their parameters in `dtype`, on `device` (CUDA: PyTorch 2's
    device context), so a 13B model is drawn where it runs, never as a float32 copy on the host."""
    saved = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        if device.type == "cpu":
            yield
        else:
            with device:
                yield
    finally:
        torch.set_default_dtype(saved)


def _sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    import torch

    assert dropout_p == 0.0, "the fixtures never use attention dropout"
    s = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    w = torch.matmul(query, key.transpose(-2, -1)) * s
    L, S = query.shape[-2], key.shape[-2]
    if is_causal:
        keep = torch.ones(L, S, dtype=torch.bool, device=query.device).tril()
        w = w.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            w = w.masked_fill(~attn_mask, float("-inf"))
        else:
            w = w + attn_mask
    return torch.matmul(torch.softmax(w, dim=-1), value)


def setup(deps, threads=1):
    """Make the official modules importable and the run deterministic. Returns torch."""
    deps = os.path.abspath(deps)
    for name in ("ltx_video", "diffusers", "huggingface_hub", "einops"):
        if not os.path.isdir(os.path.join(deps, name)):
            sys.exit(f"{deps}: no {name}/ folder (see tests/ltx/README.md)")
    # an installed huggingface_hub / einops wins over the pinned copies: where Transformers is installed
    # (the GPU machine) it needs its own huggingface_hub version, which is imported first for it
    for name in ("huggingface_hub", "einops"):
        try:
            __import__(name)
        except ImportError:
            pass
    sys.path[:0] = [deps]
    try:  # the real safetensors where installed (PyTorch machines have it); the shim otherwise
        import safetensors.torch  # noqa: F401
    except ImportError:
        sys.path.insert(1, os.path.join(HERE, "shims"))
    import torch
    import torch.nn.functional as F

    if not hasattr(F, "scaled_dot_product_attention"):
        F.scaled_dot_product_attention = _sdpa
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    return torch


def ints(n, low=1):
    """argparse type: n comma-separated integers >= low, e.g. "3,4,6"."""
    def parse(text):
        try:
            v = tuple(int(x) for x in text.split(","))
        except ValueError:
            v = ()
        if len(v) != n or min(v) < low:
            raise ValueError(f"want {n} comma-separated integers >= {low}")
        return v
    parse.__name__ = f"{n} integers"
    return parse


def case_options(case, args, **overrides):
    """A case of a generator with the command line applied: --seed is added to the case's own seed
    (--seed 0 gives the committed files), and each override that was given (not None) replaces it."""
    c = dict(case)
    c["seed"] = case["seed"] + args.seed
    for k, v in overrides.items():
        if v is not None:
            c[k] = v
    return c


def seed_all(seed):
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def save(path, tensors, metadata=None):
    """Write a safetensors file (keys sorted, so two runs give identical bytes)."""
    from safetensors.torch import save_file

    meta = dict(metadata or {})
    for k, v in list(meta.items()):
        if not isinstance(v, str):
            meta[k] = json.dumps(v, sort_keys=True)
    meta.setdefault("pins", json.dumps(PINS, sort_keys=True))
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, path, metadata=meta)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(tensors)} tensors)")
