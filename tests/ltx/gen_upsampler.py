"""LTX-Video spatial latent upsampler (ltx_video/models/autoencoders/latent_upsampler.py): upsampler_a, _b.

The 0.9.8 spatial upscaler is LatentUpsampler(in_channels=128, mid_channels=512, num_blocks_per_stage=4,
dims=3, spatial_upsample=True, temporal_upsample=False); these are the same structure with
in_channels 4, mid_channels 32 (GroupNorm(32, .) needs 32 at least) and one ResBlock per stage.
upsampler_a has dims 3 (the real layout), upsampler_b dims 2 (per-frame 2-D convs).

Around the model the pipeline (LTXMultiScalePipeline._upsample_latents) un-normalises and normalises
with the VAE's per-channel statistics:
    raw = upsampler(latent * std_of_means + mean_of_means)
    upsampled = (raw - mean_of_means) / std_of_means
The statistics are inputs of the IO file (they belong to the VAE checkpoint). The intermediates
inter.initial (after initial_activation) and inter.upsampler (after the pixel shuffle) are stored as
[1, C, F, H, W] (the 2-D parts run on (b f) c h w; the hook output is permuted back).
Weights are rounded to bf16 and stored as BF16 (the model runs in float32 on those values).
"""
import os

import ltxref

CASES = {
    "upsampler_a": dict(seed=21, dims=3, latent=(2, 2, 3)),
    "upsampler_b": dict(seed=22, dims=2, latent=(3, 3, 2)),
}
IN_CHANNELS = 4
MID_CHANNELS = 32
BLOCKS = 1


def add_args(g):
    g.add_argument("--upsampler-float64", action="store_true",
                   help="also run in float64 and print each output's difference (nothing written for it)")
    g.add_argument("--upsampler-latent", type=ltxref.ints(3), metavar="F,H,W",
                   help="latent frames, height and width of every case (default: each case's own)")


def _build(torch, case, in_channels=IN_CHANNELS):
    from ltx_video.models.autoencoders.latent_upsampler import LatentUpsampler

    cfg = {"_class_name": "LatentUpsampler", "in_channels": in_channels, "mid_channels": MID_CHANNELS,
           "num_blocks_per_stage": BLOCKS, "dims": case["dims"], "spatial_upsample": True,
           "temporal_upsample": False}
    ltxref.seed_all(case["seed"])
    m = LatentUpsampler.from_config(cfg)
    m.eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "norm" in name:   # GroupNorm affine: away from the (1, 0) init
                p.copy_((1.0 if name.endswith("weight") else 0.0) + torch.randn_like(p) * 0.2)
            p.copy_(p.bfloat16().float())
    return m, cfg


def _run(torch, m, inputs, dtype):
    m = m.to(dtype)
    x = {k: v.to(dtype) for k, v in inputs.items()}
    inter = {}

    def keep(name):
        # stored as [1, C, F, H, W] whatever the module's layout ((b f) c h w for the 2-D parts)
        def f(_m, _i, o):
            o = o.detach().float().clone()
            if o.dim() == 4:
                o = o.permute(1, 0, 2, 3).unsqueeze(0)
            inter[name] = o
        return f

    hooks = [m.initial_activation.register_forward_hook(keep("inter.initial")),
             m.upsampler.register_forward_hook(keep("inter.upsampler"))]
    with torch.no_grad():
        std = x["std_of_means"].view(1, -1, 1, 1, 1)
        mean = x["mean_of_means"].view(1, -1, 1, 1, 1)
        raw = m(x["latent"] * std + mean)
        out = {"upsampled_raw": raw, "upsampled": (raw - mean) / std}
    for h in hooks:
        h.remove()
    return {k: v.float() for k, v in out.items()}, inter


def make(args, torch):
    for name, case in CASES.items():
        case = ltxref.case_options(case, args, latent=args.upsampler_latent)
        m, cfg = _build(torch, case)
        g = torch.Generator().manual_seed(case["seed"] + 100)
        f, h, w = case["latent"]
        inputs = {
            "latent": torch.randn(1, IN_CHANNELS, f, h, w, generator=g),
            "std_of_means": (torch.rand(IN_CHANNELS, generator=g) + 0.5),
            "mean_of_means": torch.randn(IN_CHANNELS, generator=g) * 0.2,
        }
        out, inter = _run(torch, m, inputs, torch.float32)
        weights = {k: v.bfloat16() for k, v in m.state_dict().items()}
        ltxref.save(os.path.join(args.out, f"{name}.weights.safetensors"), weights,
                    {"config": cfg, "generator": "tests/ltx/gen_upsampler.py"})
        io = dict(inputs)
        io.update(out)
        io.update(inter)
        names = sorted(list(out) + list(inter))
        ltxref.save(os.path.join(args.out, f"{name}.io.safetensors"), io,
                    {"outputs": names, "config": cfg, "weights": f"{name}.weights.safetensors",
                     "generator": "tests/ltx/gen_upsampler.py"})
        if args.upsampler_float64:
            m64, _ = _build(torch, case)
            o64, i64 = _run(torch, m64, inputs, torch.float64)
            o64.update(i64)
            for k in names:
                ref = io[k]
                d = (ref.double() - o64[k].double()).abs().max().item()
                mx = ref.abs().max().item()
                print(f"{name} {k}: float32 vs float64 max|diff| {d:.3g} (max|ref| {mx:.3g}, {d / max(mx, 1e-30):.2g})")
