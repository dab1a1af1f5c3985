"""LTX-Video transformer (ltx_video/models/transformers/transformer3d.py Transformer3DModel) fixtures.

A small random config of the 13B distilled transformer's structure (see README.md, "### Transformer"):
RMS norms without affine weights, single_scale_shift AdaLN, RMS q/k norm across heads, tanh GELU,
fractional RoPE over the whole inner dim (inner_dim % 6 != 0, as 4096 % 6 = 4, so the padded pairs are
covered), caption projection, timestep x1000. Inputs are built the way pipeline_ltx_video.py builds
them: patchified latents [B, N, 128]; the patchifier's latent coords scaled by the VAE factors 8x32x32
with the causal fix of the first frame, the frame axis divided by the frame rate; per-token timesteps
min(t, 1 - conditioning_mask) (case a: the first latent frame is a conditioning frame, timestep 0);
a text mask with padded tokens (case a) or a single timestep and all text kept (case b).

Files: transformer_{a,b}.weights.safetensors (official key names; b carries the single-file
checkpoint's `model.diffusion_model.` prefix; metadata `config` = {"transformer": {...}} as in the
checkpoint) and transformer_{a,b}.io.safetensors.
--transformer-f64 DIR: the same cases run in float64 into DIR (not committed; README figures).
"""
import json
import os
import sys

import ltxref

CASES = {
    # name: seed, latent grid (F, H, W), text tokens, kept text tokens, frame rate, conditioning frame,
    # timestep, prefixed weight names
    "a": dict(seed=11, grid=(3, 4, 6), n_text=8, n_keep=5, fps=25.0, cond=True, t=0.9094, prefix=False),
    "b": dict(seed=23, grid=(2, 5, 4), n_text=6, n_keep=6, fps=30.0, cond=False, t=0.725, prefix=True),
}


def config():
    # the 13B distilled transformer's config with the sizes made small (13B: 48 layers, 32 heads x 128,
    # cross_attention_dim 4096, caption_channels 4096)
    return {
        "_class_name": "Transformer3DModel",
        "activation_fn": "gelu-approximate",
        "adaptive_norm": "single_scale_shift",
        "attention_bias": True,
        "attention_head_dim": 16,
        "attention_type": "default",
        "caption_channels": 24,
        "causal_temporal_positioning": True,
        "cross_attention_dim": 32,
        "double_self_attention": False,
        "dropout": 0.0,
        "in_channels": 128,
        "norm_elementwise_affine": False,
        "norm_eps": 1e-06,
        "norm_num_groups": 32,
        "num_attention_heads": 2,
        "num_embeds_ada_norm": 1000,
        "num_layers": 2,
        "num_vector_embeds": None,
        "only_cross_attention": False,
        "out_channels": 128,
        "positional_embedding_max_pos": [20, 2048, 2048],
        "positional_embedding_theta": 10000.0,
        "positional_embedding_type": "rope",
        "qk_norm": "rms_norm",
        "standardization_norm": "rms_norm",
        "timestep_scale_multiplier": 1000,
        "upcast_attention": False,
        "use_tpu_flash_attention": False,
    }


def add_args(ap):
    ap.add_argument("--transformer-f64", metavar="DIR", help="also run the cases in float64 into DIR")
    ap.add_argument("--transformer-grid", type=ltxref.ints(3), metavar="F,H,W",
                    help="latent grid of every case (frames, height, width; default: each case's own)")
    ap.add_argument("--transformer-text", type=ltxref.ints(2), metavar="T,KEPT",
                    help="text tokens and how many the mask keeps (KEPT <= T)")


def _pixel_coords(torch, F, H, W, fps):
    from ltx_video.models.autoencoders.vae_encode import latent_to_pixel_coords_from_factors
    from ltx_video.models.transformers.symmetric_patchifier import SymmetricPatchifier

    p = SymmetricPatchifier(patch_size=1)
    coords = p.get_latent_coords(F, H, W, 1, torch.device("cpu"))
    # the causal video VAE's factors (time, height, width); causal_fix as the pipeline passes it
    # (config causal_temporal_positioning)
    pix = latent_to_pixel_coords_from_factors(coords, (8, 32, 32), causal_fix=True)
    frac = pix.to(torch.float32)
    frac[:, 0] = frac[:, 0] * (1.0 / fps)
    return frac


def randomize(torch, model):
    """Every parameter random, also those the module initialises to zero or one (draws from the global
    generator, in name order)."""
    with torch.no_grad():
        for pname, prm in sorted(model.named_parameters()):
            scale = 0.5 if pname.endswith("norm.weight") else (1.0 / prm.shape[-1] ** 0.5 if prm.ndim > 1 else 0.2)
            if pname.endswith("norm.weight"):
                prm.copy_(1.0 + scale * torch.randn(prm.shape))
            else:
                prm.copy_(scale * torch.randn(prm.shape))


def _case(torch, name, c, dtype, out_dir):
    import ltxref
    from ltx_video.models.transformers.transformer3d import Transformer3DModel

    ltxref.seed_all(c["seed"])
    cfg = config()
    model = Transformer3DModel.from_config(cfg)
    randomize(torch, model)
    model.eval()
    F, H, W = c["grid"]
    N = F * H * W
    D = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    hidden = torch.randn(1, N, cfg["in_channels"])
    grid = _pixel_coords(torch, F, H, W, c["fps"])
    text = torch.randn(1, c["n_text"], cfg["caption_channels"])
    mask = torch.zeros(1, c["n_text"], dtype=torch.int64)
    mask[:, : c["n_keep"]] = 1
    if c["cond"]:
        cond_mask = torch.zeros(1, N)
        cond_mask[:, : H * W] = 1.0   # the first latent frame is a conditioning item (strength 1)
        t = torch.min(torch.tensor([[c["t"]]]), 1.0 - cond_mask)
    else:
        t = torch.tensor([[c["t"]]])

    taps = {}

    def hook(key):
        def fn(mod, inp, out):
            taps[key] = out
        return fn

    model.adaln_single.register_forward_hook(hook("adaln"))
    model.caption_projection.register_forward_hook(hook("caption"))
    model.transformer_blocks[0].register_forward_hook(hook("block0"))
    model = model.to(dtype)
    with torch.no_grad():
        out = model(
            hidden.to(dtype), indices_grid=grid, encoder_hidden_states=text.to(dtype),
            timestep=t.to(dtype), encoder_attention_mask=mask, return_dict=False,
        )[0]
        cos, sin = model.precompute_freqs_cis(grid)
    Nt = t.shape[1]
    io = {
        "hidden_states": hidden, "indices_grid": grid, "encoder_hidden_states": text,
        "encoder_attention_mask": mask, "timestep": t,
        "out": out, "inter.timestep": taps["adaln"][0].view(1, Nt, 6 * D),
        "inter.embedded_timestep": taps["adaln"][1].view(1, Nt, D),
        "inter.caption_projection": taps["caption"], "inter.rope_cos": cos, "inter.rope_sin": sin,
        "inter.block0": taps["block0"],
    }
    outputs = ["out", "inter.timestep", "inter.embedded_timestep", "inter.caption_projection",
               "inter.rope_cos", "inter.rope_sin", "inter.block0"]
    io = {k: (v.float() if v.is_floating_point() else v) for k, v in io.items()}
    meta = {"config": {"transformer": cfg}}
    pre = "model.diffusion_model." if c["prefix"] else ""
    sd = {pre + k: v.float() for k, v in model.state_dict().items()}
    wpath = os.path.join(out_dir, f"transformer_{name}.weights.safetensors")
    ltxref.save(wpath, sd, meta)
    ltxref.save(os.path.join(out_dir, f"transformer_{name}.io.safetensors"), io,
                {"generator": "tests/ltx/gen_transformer.py", "outputs": outputs, "config": meta["config"],
                 "weights": os.path.basename(wpath), "frame_rate": c["fps"]})
    if dtype == torch.float32:
        # the weights file loads as the official single-file loader does (from_pretrained, whose
        # torch.device("meta") context needs PyTorch 2: the metadata's config, then the model's
        # load_state_dict, which strips the prefix) and gives the same output
        from safetensors import safe_open

        with safe_open(wpath, framework="pt", device="cpu") as f:
            ref = Transformer3DModel.from_config(json.loads(f.metadata()["config"])["transformer"])
            ref.load_state_dict({k: f.get_tensor(k) for k in f.keys()})
        ref.eval()
        with torch.no_grad():
            out2 = ref(hidden, indices_grid=grid, encoder_hidden_states=text, timestep=t,
                       encoder_attention_mask=mask, return_dict=False)[0]
        assert torch.equal(out2, out), "official from_pretrained gives another output"
    return io


def make(args, torch):
    if args.transformer_text and args.transformer_text[1] > args.transformer_text[0]:
        sys.exit("--transformer-text T,KEPT: KEPT must not exceed T")
    text = args.transformer_text or (None, None)
    for name, case in CASES.items():
        c = ltxref.case_options(case, args, grid=args.transformer_grid, n_text=text[0], n_keep=text[1])
        io32 = _case(torch, name, c, torch.float32, args.out)
        if args.transformer_f64:
            os.makedirs(args.transformer_f64, exist_ok=True)
            io64 = _case(torch, name, c, torch.float64, args.transformer_f64)
            for k in json.loads(json.dumps(sorted(io32))):
                a, b = io32[k], io64[k]
                if not a.is_floating_point():
                    continue
                d = (a.double() - b.double()).abs().max().item()
                m = b.abs().max().item()
                print(f"f32 vs f64 {name}.{k}: max|diff| {d:.3g} (max|ref| {m:.3g}, {d / max(m, 1e-30):.3g})")
