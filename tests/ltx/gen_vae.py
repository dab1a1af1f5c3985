"""LTX-Video causal video VAE (ltx_video/models/autoencoders/causal_video_autoencoder.py): vae_a, vae_b.

Small random configs with the block structure of the 13B (0.9.7 / 0.9.8) VAE: encoder res_x ->
compress_space_res -> res_x -> compress_time_res -> res_x -> compress_all_res -> res_x ->
compress_all_res -> res_x, decoder res_x -> compress_all (residual, x2) three times with res_x between,
timestep-conditioned, pixel norm, patch size 4, latent_log_var "uniform", no quant conv; widths and
layer counts shrunk. vae_a is the 13B layout as configured (non-causal decoder, zero spatial padding);
vae_b has a causal decoder, replicate spatial padding and its keys under the single-file checkpoint's
`vae.` prefix.

The decoder input follows LTXVideoPipeline.__call__ and vae_decode: with the normalised latent x, the
noise n, decode_noise_scale s and decode_timestep t,
    z = un_normalize(x * (1 - s) + n * s) = (x * (1 - s) + n * s) * std_of_means + mean_of_means
    decoded = vae.decode(z, timestep=t)
The encoder output is the Encoder's moments (mean channels, then the uniform log-variance repeated);
`latent` is normalize_latents(mode) = (mean - mean_of_means) / std_of_means (vae_encode draws a sample
with the posterior's noise; its mode is compared).
Weights are rounded to bf16 and stored as BF16 (the model runs in float32 on those values).
"""
import os
import sys

import ltxref

# The 13B VAE's config as its checkpoint carries it (see README.md), with widths and layers shrunk.
CASES = {
    "vae_a": dict(
        seed=11,
        prefix="",
        config={
            "_class_name": "CausalVideoAutoencoder",
            "dims": 3,
            "in_channels": 3,
            "out_channels": 3,
            "latent_channels": 8,
            "encoder_blocks": [
                ["res_x", {"num_layers": 2}],
                ["compress_space_res", {"multiplier": 2}],
                ["res_x", {"num_layers": 1}],
                ["compress_time_res", {"multiplier": 2}],
                ["res_x", {"num_layers": 1}],
                ["compress_all_res", {"multiplier": 1}],
                ["res_x", {"num_layers": 1}],
                ["compress_all_res", {"multiplier": 1}],
                ["res_x", {"num_layers": 1}],
            ],
            "decoder_blocks": [
                ["res_x", {"num_layers": 2, "inject_noise": False}],
                ["compress_all", {"residual": True, "multiplier": 2}],
                ["res_x", {"num_layers": 1, "inject_noise": False}],
                ["compress_all", {"residual": True, "multiplier": 1}],
                ["res_x", {"num_layers": 1, "inject_noise": False}],
                ["compress_all", {"residual": True, "multiplier": 1}],
                ["res_x", {"num_layers": 1, "inject_noise": False}],
            ],
            "encoder_base_channels": 2,
            "decoder_base_channels": 4,
            "scaling_factor": 1.0,
            "norm_layer": "pixel_norm",
            "patch_size": 4,
            "latent_log_var": "uniform",
            "use_quant_conv": False,
            "normalize_latent_channels": False,
            "causal_decoder": False,
            "timestep_conditioning": True,
            "spatial_padding_mode": "zeros",
        },
        latent=(2, 1, 1),        # latent frames, height, width
        video=(9, 32, 32),       # encoder input frames, height, width
        timestep=0.05,           # decode_timestep of the 13B configs
        noise_scale=0.025,       # decode_noise_scale of the 13B configs
    ),
    "vae_b": dict(
        seed=12,
        prefix="vae.",
        config=None,             # vae_a's with the changes below
        latent=(2, 1, 1),
        video=(1, 32, 64),
        timestep=0.3,
        noise_scale=0.1,
    ),
}


def _config_b():
    import copy

    c = copy.deepcopy(CASES["vae_a"]["config"])
    c["latent_channels"] = 4
    c["encoder_blocks"][0][1]["num_layers"] = 1
    c["decoder_blocks"][0][1]["num_layers"] = 1
    c["decoder_blocks"][6][1]["num_layers"] = 2
    c["causal_decoder"] = True
    c["spatial_padding_mode"] = "replicate"
    return c


def add_args(g):
    g.add_argument("--vae-float64", action="store_true",
                   help="also run in float64 and print each output's difference (nothing written for it)")
    g.add_argument("--vae-latent", type=ltxref.ints(3), metavar="F,H,W",
                   help="decoder input: latent frames, height, width (default: each case's own)")
    g.add_argument("--vae-video", type=ltxref.ints(3), metavar="F,H,W",
                   help="encoder input: frames (8k+1), height and width (multiples of 32)")


def _build(torch, case):
    from ltx_video.models.autoencoders.causal_video_autoencoder import CausalVideoAutoencoder

    cfg = case["config"]
    ltxref.seed_all(case["seed"])
    vae = CausalVideoAutoencoder.from_config(dict(cfg))
    vae.eval()
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if name.endswith("timestep_scale_multiplier"):
                continue
            if name.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.1)
            p.copy_(p.bfloat16().float())
    C = cfg["latent_channels"]
    std = (torch.rand(C) + 0.5).bfloat16().float()
    mean = (torch.randn(C) * 0.2).bfloat16().float()
    return vae, std, mean


def _run(torch, vae, std, mean, inputs, dtype):
    """The pipeline's decode and the encoder, in dtype. Returns (outputs, intermediates)."""
    vae = vae.to(dtype)
    std, mean = std.to(dtype), mean.to(dtype)
    x = {k: v.to(dtype) for k, v in inputs.items()}
    inter = {}
    hooks = []

    def hook(name):
        def f(_m, _i, o):
            inter[name] = o.detach().float().clone()
        return f

    hooks.append(vae.decoder.conv_in.register_forward_hook(hook("inter.decoder.conv_in")))
    for i, b in enumerate(vae.decoder.up_blocks):
        hooks.append(b.register_forward_hook(hook(f"inter.decoder.up_blocks.{i}")))
    hooks.append(vae.encoder.conv_in.register_forward_hook(hook("inter.encoder.conv_in")))
    for i, b in enumerate(vae.encoder.down_blocks):
        hooks.append(b.register_forward_hook(hook(f"inter.encoder.down_blocks.{i}")))
    out = {}
    with torch.no_grad():
        s = x["decode_noise_scale"][:, None, None, None, None]
        lat = x["latent"] * (1 - s) + x["noise"] * s
        z = lat * std.view(1, -1, 1, 1, 1) + mean.view(1, -1, 1, 1, 1)   # un_normalize_latents
        out["decoder_input"] = z
        f, h, w = z.shape[2:]
        target = (1, 3, 1 + 8 * (f - 1), 32 * h, 32 * w)
        out["decoded"] = vae.decode(z, return_dict=False, target_shape=target, timestep=x["decode_timestep"])[0]
        moments = vae.encoder(x["video"])
        out["encoded"] = moments
        post = vae.encode(x["video"]).latent_dist
        mode = post.mode()
        out["latent_mean"] = mode
        out["latent_encoded"] = (mode - mean.view(1, -1, 1, 1, 1)) / std.view(1, -1, 1, 1, 1)   # normalize_latents
    for hk in hooks:
        hk.remove()
    return {k: v.float() for k, v in out.items()}, inter


def make(args, torch):
    CASES["vae_b"]["config"] = _config_b()
    v = args.vae_video
    if v and (v[0] % 8 != 1 or v[1] % 32 or v[2] % 32):
        sys.exit("--vae-video F,H,W: F must be 8k+1 and H, W multiples of 32 (the VAE's compression)")
    for name, case in CASES.items():
        case = ltxref.case_options(case, args, latent=args.vae_latent, video=v)
        vae, std, mean = _build(torch, case)
        cfg = case["config"]
        C = cfg["latent_channels"]
        g = torch.Generator().manual_seed(case["seed"] + 100)
        f, h, w = case["latent"]
        vf, vh, vw = case["video"]
        inputs = {
            "latent": torch.randn(1, C, f, h, w, generator=g),
            "noise": torch.randn(1, C, f, h, w, generator=g),
            "decode_timestep": torch.tensor([case["timestep"]], dtype=torch.float32),
            "decode_noise_scale": torch.tensor([case["noise_scale"]], dtype=torch.float32),
            "video": torch.rand(1, 3, vf, vh, vw, generator=g) * 2 - 1,
        }
        out, inter = _run(torch, vae, std, mean, inputs, torch.float32)
        pfx = case["prefix"]
        weights = {pfx + k: (v if k.endswith("timestep_scale_multiplier") else v.bfloat16())
                   for k, v in vae.state_dict().items()}
        weights[pfx + "per_channel_statistics.std-of-means"] = std
        weights[pfx + "per_channel_statistics.mean-of-means"] = mean
        ltxref.save(os.path.join(args.out, f"{name}.weights.safetensors"), weights,
                    {"config": {"vae": cfg}, "generator": "tests/ltx/gen_vae.py"})
        io = dict(inputs)
        io.update(out)
        io.update(inter)
        names = sorted(list(out) + list(inter))
        ltxref.save(os.path.join(args.out, f"{name}.io.safetensors"), io,
                    {"outputs": names, "config": {"vae": cfg}, "weights": f"{name}.weights.safetensors",
                     "generator": "tests/ltx/gen_vae.py"})
        if args.vae_float64:
            vae64, _, _ = _build(torch, case)
            o64, i64 = _run(torch, vae64, std, mean, inputs, torch.float64)
            o64.update(i64)
            for k in names:
                ref = io[k]
                d = (ref.double() - o64[k].double()).abs().max().item()
                m = ref.abs().max().item()
                print(f"{name} {k}: float32 vs float64 max|diff| {d:.3g} (max|ref| {m:.3g}, {d / max(m, 1e-30):.2g})")
