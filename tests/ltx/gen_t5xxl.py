"""T5 v1.1 XXL text encoder (LTX-Video's `text_encoder`, a Hugging Face T5EncoderModel).

The reference is the official Wan2.2 `T5Encoder` (wan/modules/t5.py) with shared_pos=True: one
relative-position table at the top, its bias computed once and added in every layer, which is the
function HF's T5EncoderModel v1.1 computes (bias in block 0 only, reused by the later blocks; RMS
norm; no 1/sqrt(d) scaling; gated FFN with the tanh GELU; final norm). The weights are written under
the HF T5EncoderModel names by renaming the Wan module's state dict; the HF config.json fields go in
the metadata. Importing wan.modules.t5 bypasses wan/__init__.py and wan/modules/__init__.py (they
import every pipeline) stubs `ftfy` and `transformers`, which only wan/modules/tokenizers.py
imports, and answers torch.cuda.current_device() with 0 during the import (a default argument of
the unused T5EncoderModel wrapper; README.md, Shims).

Two cases: t5xxl_a (seed 0, 2 layers, d_model 32 = inner dim, L 16) and t5xxl_b (seed 1, 3 layers,
d_model 40, inner dim 48 = 4 heads x 12, L 24, relative distances past max_exact).
"""
import json
import os
import sys
import types

import ltxref

CASES = {
    "a": dict(seed=0, vocab=160, d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2, L=16, lens=(5, 16)),
    "b": dict(seed=1, vocab=200, d_model=40, d_kv=12, num_heads=4, d_ff=72, num_layers=3, L=24, lens=(9, 17)),
}
NUM_BUCKETS = 32
MAX_DISTANCE = 128
EPS = 1e-6


def add_args(p):
    p.add_argument("--t5xxl-float64", action="store_true",
                   help="t5xxl: run in float64 and write <name>.f64.io.safetensors (tolerance study, not committed)")
    p.add_argument("--t5xxl-length", type=int, metavar="L", help="padded prompt length of every case")
    p.add_argument("--t5xxl-tokens", type=ltxref.ints(2, low=2), metavar="N1,N2",
                   help="real tokens (EOS included) of the two prompts of every case, each <= L")


def import_wan_t5(deps):
    """wan.modules.t5 without wan/__init__.py and wan/modules/__init__.py (they import the pipelines)."""
    root = os.path.join(os.path.abspath(deps), "wan")
    if not os.path.isdir(root):
        sys.exit(f"{deps}: no wan/ folder (Wan-Video/Wan2.2, see tests/ltx/README.md)")
    stubbed = []
    for name in ("ftfy", "transformers"):   # third-party, imported by wan/modules/tokenizers.py only
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.fix_text = None
            stub.AutoTokenizer = None
            sys.modules[name] = stub
            stubbed.append(name)
    for pkg, path in (("wan", root), ("wan.modules", os.path.join(root, "modules"))):
        if pkg not in sys.modules:
            m = types.ModuleType(pkg)
            m.__path__ = [path]
            sys.modules[pkg] = m
    import importlib

    import torch

    # T5EncoderModel (the wrapper, unused here) has `device=torch.cuda.current_device()` as a default
    # argument, evaluated at import; a CPU-only PyTorch raises there. Answer 0 during the import only.
    saved = torch.cuda.current_device
    torch.cuda.current_device = lambda: 0
    try:
        return importlib.import_module("wan.modules.t5")
    finally:
        torch.cuda.current_device = saved
        # the stubs live only for this import: the other components' diffusers probes the real packages
        for name in stubbed:
            del sys.modules[name]


def hf_names(sd, num_layers):
    """Wan T5Encoder (shared_pos) state dict -> HF T5EncoderModel names."""
    out = {
        "shared.weight": sd["token_embedding.weight"],
        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": sd["pos_embedding.embedding.weight"],
        "encoder.final_layer_norm.weight": sd["norm.weight"],
    }
    for i in range(num_layers):
        b, p = f"blocks.{i}.", f"encoder.block.{i}."
        out[p + "layer.0.layer_norm.weight"] = sd[b + "norm1.weight"]
        for x in "qkvo":
            out[p + f"layer.0.SelfAttention.{x}.weight"] = sd[b + f"attn.{x}.weight"]
        out[p + "layer.1.layer_norm.weight"] = sd[b + "norm2.weight"]
        out[p + "layer.1.DenseReluDense.wi_0.weight"] = sd[b + "ffn.gate.0.weight"]
        out[p + "layer.1.DenseReluDense.wi_1.weight"] = sd[b + "ffn.fc1.weight"]
        out[p + "layer.1.DenseReluDense.wo.weight"] = sd[b + "ffn.fc2.weight"]
    assert len(out) == len(sd), "a Wan T5Encoder tensor has no HF name"
    return out


def make_case(tag, c, args, torch, wan_t5, f64):
    import ltxref

    ltxref.seed_all(c["seed"])
    dim_attn = c["d_kv"] * c["num_heads"]
    m = wan_t5.T5Encoder(vocab=c["vocab"], dim=c["d_model"], dim_attn=dim_attn, dim_ffn=c["d_ff"],
                         num_heads=c["num_heads"], num_layers=c["num_layers"], num_buckets=NUM_BUCKETS,
                         shared_pos=True, dropout=0.1).eval()
    # Re-randomise what init_weights sets to ones (norms), keep its fan-in scaled projections.
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif name == "pos_embedding.embedding.weight":
                p.copy_(0.5 * torch.randn_like(p))
    B, L = len(c["lens"]), c["L"]
    ids = torch.zeros(B, L, dtype=torch.long)          # pad id 0
    mask = torch.zeros(B, L, dtype=torch.long)
    for b, n in enumerate(c["lens"]):
        ids[b, : n - 1] = torch.randint(2, c["vocab"], (n - 1,))
        ids[b, n - 1] = 1                               # EOS
        mask[b, :n] = 1
    if f64:
        m = m.double()
    inter = {}

    def hook(name):
        def f(mod, inp, out):
            inter[name] = out.detach().clone()
        return f

    m.token_embedding.register_forward_hook(hook("inter.token_embedding"))
    m.pos_embedding.register_forward_hook(hook("inter.pos_bias"))
    for i, blk in enumerate(m.blocks):
        blk.register_forward_hook(hook(f"inter.block{i}"))
    with torch.no_grad():
        hidden = m(ids, mask)
    outputs = ["hidden", "inter.token_embedding", "inter.pos_bias"] + [f"inter.block{i}" for i in range(c["num_layers"])]
    config = {
        "architectures": ["T5EncoderModel"], "model_type": "t5", "d_model": c["d_model"], "d_kv": c["d_kv"],
        "d_ff": c["d_ff"], "num_layers": c["num_layers"], "num_heads": c["num_heads"],
        "relative_attention_num_buckets": NUM_BUCKETS, "relative_attention_max_distance": MAX_DISTANCE,
        "vocab_size": c["vocab"], "feed_forward_proj": "gated-gelu", "layer_norm_epsilon": EPS,
        "is_gated_act": True, "dense_act_fn": "gelu_new", "pad_token_id": 0, "eos_token_id": 1,
    }
    pins = json.dumps({**ltxref.PINS, "wan": ltxref.OPTIONAL_PINS["wan"]}, sort_keys=True)
    name = f"t5xxl_{tag}"
    gen = "tests/ltx/gen_t5xxl.py (wan/modules/t5.py T5Encoder, shared_pos=True)"
    io = {"ids": ids, "mask": mask, "hidden": hidden, **inter}
    if f64:
        ltxref.save(os.path.join(args.out, name + ".f64.io.safetensors"), io,
                    {"generator": gen, "outputs": outputs, "config": config, "dtype": "float64", "pins": pins})
        return
    w = hf_names(m.state_dict(), c["num_layers"])
    ltxref.save(os.path.join(args.out, name + ".weights.safetensors"), w,
                {"config": config, "format": "pt", "generator": gen, "pins": pins})
    ltxref.save(os.path.join(args.out, name + ".io.safetensors"), io,
                {"generator": gen, "outputs": outputs, "config": config, "weights": name + ".weights.safetensors",
                 "pins": pins})


def make(args, torch):
    wan_t5 = import_wan_t5(args.deps)
    for tag, case in CASES.items():
        c = ltxref.case_options(case, args, L=args.t5xxl_length, lens=args.t5xxl_tokens)
        if max(c["lens"]) > c["L"]:
            sys.exit(f"--t5xxl-tokens: {max(c['lens'])} tokens do not fit the length {c['L']} (--t5xxl-length)")
        make_case(tag, c, args, torch, wan_t5, args.t5xxl_float64)
