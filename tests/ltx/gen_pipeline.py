"""LTX-Video distilled multi-scale pipeline (ltx_video/pipelines/pipeline_ltx_video.py), tiny models.

What ltx_video/inference.py infer() does with configs/ltxv-13b-0.9.8-distilled.yaml, on the CPU in
float32: the official LTXVideoPipeline inside LTXMultiScalePipeline (first pass at the downscale factor
with its explicit timesteps, latent upsampling, AdaIN against the first pass, second pass from the
upsampled latents with its own timesteps, decode noise, tone mapping, decode, bilinear resize to the
padded size), the padding of the requested size to multiples of 32 and 8n+1 frames and the crop back,
and for image-to-video inference.py's own conditioning loader (centre crop, gaussian blur, CRF
compression through PyAV, [-1, 1], padding). Each pass's timestep list is shortened to three of its
values. The text encoder is not run: random prompt_embeds / prompt_attention_mask are given.

The models (latent channels 8 throughout) are gen_transformer.config() with in/out_channels 8, vae_a's
VAE config (the 13B layout: x32 space, x8 time) and a LatentUpsampler(8, 32, 1 block, dims 3), random,
rounded to bf16; they are written as the single-file checkpoint (pipeline.weights.safetensors: transformer
under `model.diffusion_model.`, VAE under `vae.`, metadata config with transformer / vae / scheduler /
allowed_inference_steps) and the upsampler file (pipeline_upsampler.weights.safetensors), and the
pipeline is built from those files.

Recorders (README.md, Shims) wrap torch.randn / torch.randn_like and a few official methods to keep
their inputs and outputs; each calls the original and returns its result unchanged. Every random draw
is stored; replaying the recorded shapes on fresh generators must reach the run's final generator
states, so nothing else drew. _check_formulas then redoes the README's description of each recorded
step (coordinates, pass starts, conditioning, scheduler steps, AdaIN, decode noise, tone map, image
stages, resizes and crop) with the same float32 operations and asserts equality.

Files: pipeline.weights.safetensors, pipeline_upsampler.weights.safetensors, pipeline_t2v.io.safetensors,
pipeline_i2v.io.safetensors (tensor list: README.md, "### Pipeline").
--pipeline-float64: the cases again in float64 with the float32 run's draws; prints each output's
difference (nothing written).
"""
import contextlib
import copy
import json
import os
import sys
import tempfile
import types

import ltxref

CASES = {
    # seed of the pipeline's generator and of the global generator; raw image (H, W) for i2v; tensors
    # not stored (size: the decode after the latents is t2v's code path)
    "pipeline_t2v": dict(seed=10, image=None, drop=()),
    "pipeline_i2v": dict(seed=11, image=(26, 47), drop=("decoded",)),
}
WEIGHTS_SEED = 31
VIDEO = (7, 40, 90)          # requested frames, height, width (infer()'s num_frames, height, width)
TEXT = (8, 5)                # text tokens, kept by the mask
CHANNELS = 8                 # latent channels: transformer in/out = VAE latent = upsampler
FRAME_RATE = 24
IMAGE_COND_NOISE_SCALE = 0.15   # InferenceConfig.image_cond_noise_scale's default
YAML = "ltxv-13b-0.9.8-distilled.yaml"
FIRST_TIMESTEPS = [1.0, 0.9094, 0.725]       # from first_pass.timesteps
SECOND_TIMESTEPS = [0.9094, 0.725, 0.4219]   # from second_pass.timesteps
# the union of the 0.9.8 distilled YAML's lists (the real checkpoint's list is not at hand)
ALLOWED_STEPS = [1.0, 0.9937, 0.9875, 0.9812, 0.975, 0.9094, 0.725, 0.4219]
WEIGHTS = "pipeline.weights.safetensors"
UPSAMPLER = "pipeline_upsampler.weights.safetensors"
INPUTS = ("prompt_embeds", "prompt_attention_mask", "image_u8")
HALF = ("decoded", "video")  # stored F16 (size); every other float tensor F32


def add_args(g):
    g.add_argument("--pipeline-float64", action="store_true",
                   help="also run in float64 (the float32 run's draws) and print each output's difference")
    g.add_argument("--pipeline-video", type=ltxref.ints(3), metavar="F,H,W",
                   help="requested frames, height and width (padded as infer() does; H, W above 32)")
    g.add_argument("--pipeline-image", type=ltxref.ints(2), metavar="H,W", help="the raw i2v image")
    g.add_argument("--pipeline-text", type=ltxref.ints(2), metavar="T,KEPT",
                   help="text tokens and how many the mask keeps (KEPT <= T)")


# --- the official modules ----------------------------------------------------------------------------

def _import_official(stub_image_io=False):
    """pipeline_ltx_video and inference, with `transformers` (and `imageio` where missing) stubbed for
    the import: they import T5, the prompt enhancer's classes and the video reader/writer by name, none
    of which runs here (prompt_embeds given, no enhancer, an image file). stub_image_io: `av` and
    `torchvision` too where missing (inference.py's image conditioning loader; text-to-video only)."""
    try:   # Transformers 5 dropped FLAX_WEIGHTS_NAME, which diffusers 0.31's loading utilities import
        import transformers.utils

        if not hasattr(transformers.utils, "FLAX_WEIGHTS_NAME"):
            transformers.utils.FLAX_WEIGHTS_NAME = "flax_model.msgpack"   # its value in Transformers 4
    except ImportError:
        pass
    import diffusers.image_processor  # noqa: F401  (diffusers probes transformers before a stub exists)
    import diffusers.pipelines.pipeline_utils  # noqa: F401

    stubs = {"transformers": ("T5EncoderModel", "T5Tokenizer", "AutoModelForCausalLM", "AutoProcessor",
                              "AutoTokenizer"),
             "imageio": ()}
    if stub_image_io:
        stubs.update({"av": (), "torchvision": (), "torchvision.transforms": (),
                      "torchvision.transforms.functional": ()})
    stubbed = []
    for name, attrs in stubs.items():
        try:
            __import__(name)
        except ImportError:
            m = types.ModuleType(name)
            for a in attrs:
                setattr(m, a, None)
            sys.modules[name] = m
            parent, _, child = name.rpartition(".")
            if parent:
                setattr(sys.modules[parent], child, m)
            stubbed.append(name)
    try:
        import ltx_video.inference as inf
        import ltx_video.pipelines.pipeline_ltx_video as plv
    finally:
        for name in stubbed:
            del sys.modules[name]
    return plv, inf


# --- models and files --------------------------------------------------------------------------------

def _transformer_config():
    import gen_transformer

    cfg = gen_transformer.config()
    cfg["in_channels"] = cfg["out_channels"] = CHANNELS
    return cfg


def _write_weights(torch, args):
    import gen_transformer
    import gen_upsampler
    import gen_vae
    from ltx_video.models.transformers.transformer3d import Transformer3DModel
    from ltx_video.utils.diffusers_config_mapping import OURS_SCHEDULER_CONFIG

    seed = WEIGHTS_SEED + args.seed
    tcfg = _transformer_config()
    ltxref.seed_all(seed)
    tr = Transformer3DModel.from_config(dict(tcfg))
    gen_transformer.randomize(torch, tr)
    vcfg = copy.deepcopy(gen_vae.CASES["vae_a"]["config"])
    vae, std, mean = gen_vae._build(torch, dict(seed=seed + 1, config=copy.deepcopy(vcfg)))
    up, ucfg = gen_upsampler._build(torch, dict(seed=seed + 2, dims=3), in_channels=CHANNELS)

    w = {"model.diffusion_model." + k: v.bfloat16() for k, v in tr.state_dict().items()}
    for k, v in vae.state_dict().items():
        w["vae." + k] = v if k.endswith("timestep_scale_multiplier") else v.bfloat16()
    w["vae.per_channel_statistics.std-of-means"] = std
    w["vae.per_channel_statistics.mean-of-means"] = mean
    config = {"transformer": tcfg, "vae": vcfg, "scheduler": dict(OURS_SCHEDULER_CONFIG),
              "allowed_inference_steps": ALLOWED_STEPS}
    ltxref.save(os.path.join(args.out, WEIGHTS), w, {"config": config, "generator": "tests/ltx/gen_pipeline.py"})
    ltxref.save(os.path.join(args.out, UPSAMPLER), {k: v.bfloat16() for k, v in up.state_dict().items()},
                {"config": ucfg, "generator": "tests/ltx/gen_pipeline.py"})


def _load(torch, plv, out_dir, dtype):
    """The pipeline from the written files, as create_ltx_video_pipeline / create_latent_upsampler
    build it (from_config + load_state_dict where the official from_pretrained needs PyTorch 2's meta
    device; no bf16 cast). Returns LTXMultiScalePipeline."""
    from safetensors import safe_open

    from ltx_video.models.autoencoders.causal_video_autoencoder import CausalVideoAutoencoder
    from ltx_video.models.autoencoders.latent_upsampler import LatentUpsampler
    from ltx_video.models.transformers.symmetric_patchifier import SymmetricPatchifier
    from ltx_video.models.transformers.transformer3d import Transformer3DModel
    from ltx_video.schedulers.rf import RectifiedFlowScheduler

    wpath = os.path.join(out_dir, WEIGHTS)
    with safe_open(wpath, framework="pt", device="cpu") as f:
        configs = json.loads(f.metadata()["config"])
        sd = {k: f.get_tensor(k) for k in f.keys()}
    vae = CausalVideoAutoencoder.from_pretrained(wpath)
    tr = Transformer3DModel.from_config(configs["transformer"])
    tr.load_state_dict(sd)
    scheduler = RectifiedFlowScheduler.from_pretrained(wpath)
    upath = os.path.join(out_dir, UPSAMPLER)
    with safe_open(upath, framework="pt", device="cpu") as f:
        up = LatentUpsampler.from_config(json.loads(f.metadata()["config"]))
        up.load_state_dict({k: f.get_tensor(k) for k in f.keys()})
    for m in (vae, tr, up):
        m.to(dtype).eval()
    pipeline = plv.LTXVideoPipeline(
        tokenizer=None, text_encoder=None, vae=vae, transformer=tr, scheduler=scheduler,
        patchifier=SymmetricPatchifier(patch_size=1), prompt_enhancer_image_caption_model=None,
        prompt_enhancer_image_caption_processor=None, prompt_enhancer_llm_model=None,
        prompt_enhancer_llm_tokenizer=None, allowed_inference_steps=configs.get("allowed_inference_steps"),
    ).to("cpu")
    return plv.LTXMultiScalePipeline(pipeline, latent_upsampler=up)


# --- recorders ---------------------------------------------------------------------------------------

# the function that asks for the draw (randn_tensor's caller, or the caller of randn_like) -> its name
DRAW_SITES = {"prepare_latents": "noise", "add_noise_to_image_conditioning_latents": "cond_noise",
              "sample": "cond_encode_noise", "__call__": "decode_noise"}


class Recorder:
    """Keeps what the official code computes. `replay`: a list of draws (name, stream, tensor) to hand
    out instead of drawing (the float64 run)."""

    def __init__(self, torch, replay=None):
        self.torch = torch
        self.t = {}
        self.steps = {}
        self.draws = []
        self.replay = list(replay) if replay is not None else None
        self.pass_name = None
        self.grids = []
        self.codec = None

    def put(self, name, value):
        assert name not in self.t, f"{name} recorded twice"
        self.t[name] = value.detach().clone()

    def here(self, name):
        return f"{self.pass_name}.{name}" if self.pass_name else name

    def step(self, name, value):
        self.steps.setdefault(self.here(name), []).append(value.detach().clone())

    def draw(self, out, stream, shape, dtype):
        f = sys._getframe(2)
        while f is not None and f.f_code.co_name not in DRAW_SITES:
            f = f.f_back
        if f is None:
            raise AssertionError("a random draw from an unexpected place")
        site = DRAW_SITES[f.f_code.co_name]
        name = site if site == "decode_noise" else self.here(site)
        if self.replay is not None:
            rname, rstream, value = self.replay.pop(0)
            assert (rname, rstream, tuple(value.shape)) == (name, stream, tuple(shape)), (rname, name)
            out = value.to(dtype)
        self.draws.append((name, stream, out.detach().clone()))
        if site == "cond_noise":
            self.step(site, out)
        else:
            self.put(name, out)
        return out

    def finish(self):
        for k, v in self.steps.items():
            self.t[k] = self.torch.stack(v)
        return self.t


@contextlib.contextmanager
def _patched(pairs):
    """Set (object, attribute, value) for the block, then put the originals back."""
    saved = [(o, a, vars(o).get(a, _MISSING)) for o, a, _ in pairs]   # _MISSING: a class attribute
    try:
        for o, a, v in pairs:
            setattr(o, a, v)
        yield
    finally:
        for o, a, v in reversed(saved):
            if v is _MISSING:
                delattr(o, a)
            else:
                setattr(o, a, v)


_MISSING = object()


def _recorders(torch, plv, ms, rec):
    """The (object, attribute, wrapper) list: each wrapper calls the original and returns its result."""
    p = ms.video_pipeline
    o_randn, o_randn_like = torch.randn, torch.randn_like

    def randn(*a, **k):
        shape = tuple(a[0]) if len(a) == 1 and not isinstance(a[0], int) else tuple(a)
        stream = "global" if k.get("generator") is None else "generator"
        out = o_randn(*a, **k) if rec.replay is None else None
        return rec.draw(out, stream, shape, k.get("dtype") or torch.float32)

    def randn_like(x, **k):
        out = o_randn_like(x, **k) if rec.replay is None else None
        return rec.draw(out, "global", tuple(x.shape), k.get("dtype") or x.dtype)

    tr = p.transformer
    o_forward = tr.forward

    def forward(*a, **k):
        out = o_forward(*a, **k)
        rec.step("latent_in", a[0] if a else k["hidden_states"])
        rec.step("timestep", k["timestep"])
        rec.step("noise_pred", out[0])
        rec.grids.append((rec.pass_name, k["indices_grid"].detach().clone()))
        return out

    o_prepare_latents = p.prepare_latents

    def prepare_latents(*a, **k):
        rec.pass_name = "first" if rec.pass_name is None else "second"
        out = o_prepare_latents(*a, **k)
        rec.put(rec.here("latents_init"), out)
        rec.put(rec.here("timesteps"), p.scheduler.timesteps)
        return out

    o_prepare_conditioning = p.prepare_conditioning

    def prepare_conditioning(*a, **k):
        out = o_prepare_conditioning(*a, **k)
        latents, coords, mask, n_extra = out
        assert n_extra == 0
        rec.put(rec.here("latents_start"), latents)
        rec.put(rec.here("pixel_coords"), coords)
        if mask is not None:
            rec.put(rec.here("conditioning_mask"), mask)
        return out

    o_vae_encode = plv.vae_encode

    def vae_encode(media, *a, **k):
        out = o_vae_encode(media, *a, **k)
        rec.put(rec.here("cond_media"), media)
        rec.put(rec.here("cond_latent"), out)
        return out

    o_denoising_step = p.denoising_step

    def denoising_step(*a, **k):
        out = o_denoising_step(*a, **k)
        rec.step("latent_out", out)
        return out

    o_unpatchify = p.patchifier.unpatchify

    def unpatchify(*a, **k):
        out = o_unpatchify(*a, **k)
        rec.put(rec.here("latents"), out)
        return out

    o_upsample = ms._upsample_latents

    def upsample(*a, **k):
        out = o_upsample(*a, **k)
        rec.put("upsampled", out)
        return out

    o_adain = plv.adain_filter_latent

    def adain(*a, **k):
        out = o_adain(*a, **k)
        rec.put("upsampled.adain", out)
        return out

    o_tone_map = p.tone_map_latents

    def tone_map(latents, ratio):
        out = o_tone_map(latents, ratio)
        rec.put("decode.latents_noised", latents)
        rec.put("decode.tone_mapped", out)
        return out

    o_decode = p.vae.decode

    def decode(z, *a, **k):
        rec.put("decode.vae_input", z)
        rec.put("decode.timestep", k["timestep"])
        return o_decode(z, *a, **k)

    o_postprocess = p.image_processor.postprocess

    def postprocess(*a, **k):
        out = o_postprocess(*a, **k)
        rec.put("decoded", out)
        return out

    return [
        (torch, "randn", randn), (torch, "randn_like", randn_like), (tr, "forward", forward),
        (p, "prepare_latents", prepare_latents), (p, "prepare_conditioning", prepare_conditioning),
        (plv, "vae_encode", vae_encode), (p, "denoising_step", denoising_step),
        (p.patchifier, "unpatchify", unpatchify), (ms, "_upsample_latents", upsample),
        (plv, "adain_filter_latent", adain), (p, "tone_map_latents", tone_map), (p.vae, "decode", decode),
        (p.image_processor, "postprocess", postprocess),
    ]


def _image_recorders(inf, rec):
    """inference.py's image loading: the stages of load_image_to_tensor_with_resize_and_crop."""
    tvf = inf.TVF
    crf = inf.crf_compressor
    o_blur, o_compress, o_encode, o_load = tvf.gaussian_blur, crf.compress, crf._encode_single_frame, inf.load_media_file

    def blur(x, *a, **k):
        out = o_blur(x, *a, **k)
        rec.put("image.cropped", x)
        rec.put("image.blurred", out)
        return out

    def compress(x, *a, **k):
        out = o_compress(x, *a, **k)
        rec.put("image.compressed", out)
        return out

    def encode(f, array, crf_value, *a, **k):
        import re

        import av
        import torch

        rec.put("image.encoder_u8", torch.from_numpy(array.copy()))
        out = o_encode(f, array, crf_value, *a, **k)
        # the encoder that made image.compressed: x264 writes its version into the stream
        x264 = re.search(rb"x264 - core [0-9]+ r[0-9]+ [0-9a-f]+", f.getvalue())
        rec.codec = {"crf": crf_value, "preset": "veryfast", "pixel_format": "yuv420p", "container": "mp4",
                     "pyav": av.__version__, "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
                     "x264": x264.group(0).decode() if x264 else None}
        return out

    def load(*a, **k):
        out = o_load(*a, **k)
        rec.put("image.media", out)
        return out

    return [(tvf, "gaussian_blur", blur), (crf, "compress", compress), (crf, "_encode_single_frame", encode),
            (inf, "load_media_file", load)]


# --- one case ------------------------------------------------------------------------------------------

def _inputs(torch, c):
    g = torch.Generator().manual_seed(c["seed"] + 100)
    T, kept = c["text"]
    io = {"prompt_embeds": torch.randn(1, T, _transformer_config()["caption_channels"], generator=g),
          "prompt_attention_mask": torch.zeros(1, T, dtype=torch.int64)}
    io["prompt_attention_mask"][:, :kept] = 1
    if c["image"]:
        h, w = c["image"]
        # a smooth picture with some texture, so blur and compression have something to do
        y = torch.linspace(0, 1, h)[:, None, None]
        x = torch.linspace(0, 1, w)[None, :, None]
        ch = torch.tensor([0.0, 2.1, 4.2])[None, None, :]
        base = 0.5 + 0.35 * torch.sin(6.0 * x + 4.0 * y + ch) + 0.1 * torch.rand(h, w, 3, generator=g)
        io["image_u8"] = (base.clamp(0, 1) * 255).round().to(torch.uint8)
    return io


def _settings(inf, c):
    F, H, W = c["video"]
    # infer(): height and width up to multiples of 32, frames up to 8n+1
    Hp = ((H - 1) // 32 + 1) * 32
    Wp = ((W - 1) // 32 + 1) * 32
    Fp = ((F - 2) // 8 + 1) * 8 + 1
    return dict(height=H, width=W, num_frames=F, height_padded=Hp, width_padded=Wp, num_frames_padded=Fp,
                padding=list(inf.calculate_padding(H, W, Hp, Wp)), frame_rate=FRAME_RATE, seed=c["seed"])


def _run(torch, plv, inf, args, c, io, dtype, replay=None):
    """One generation as infer() runs it. Returns (recorded tensors, draws, settings)."""
    from PIL import Image

    from ltx_video.utils.skip_layer_strategy import SkipLayerStrategy

    ms = _load(torch, plv, args.out, dtype)
    s = _settings(inf, c)
    pipeline_config = inf.load_pipeline_config(os.path.join(os.path.abspath(args.deps), "configs", YAML))
    for p, short in (("first_pass", FIRST_TIMESTEPS), ("second_pass", SECOND_TIMESTEPS)):
        assert set(short) <= set(pipeline_config[p]["timesteps"]), f"{p}: {short} not from the config's list"
        pipeline_config[p]["timesteps"] = list(short)
    stg_mode = pipeline_config.pop("stg_mode")
    assert stg_mode == "attention_values"
    rec = Recorder(torch, replay)
    conditioning_items = None
    with tempfile.TemporaryDirectory() as tmp:
        if c["image"]:
            path = os.path.join(tmp, "image.png")
            Image.fromarray(io["image_u8"].numpy()).save(path)
            with _patched(_image_recorders(inf, rec)):
                conditioning_items = inf.prepare_conditioning(
                    conditioning_media_paths=[path], conditioning_strengths=[1.0], conditioning_start_frames=[0],
                    height=s["height"], width=s["width"], num_frames=s["num_frames"],
                    padding=tuple(s["padding"]), pipeline=ms)
            for it in conditioning_items:
                it.media_item = it.media_item.to(dtype)
    inf.seed_everething(c["seed"])
    generator = torch.Generator(device="cpu").manual_seed(c["seed"])
    emb = io["prompt_embeds"].to(dtype)
    mask = io["prompt_attention_mask"]
    with _patched(_recorders(torch, plv, ms, rec)):
        images = ms(
            **pipeline_config, skip_layer_strategy=SkipLayerStrategy.AttentionValues, generator=generator,
            output_type="pt", callback_on_step_end=None, height=s["height_padded"], width=s["width_padded"],
            num_frames=s["num_frames_padded"], frame_rate=s["frame_rate"], prompt=None, prompt_embeds=emb,
            prompt_attention_mask=mask, negative_prompt=None, negative_prompt_embeds=torch.zeros_like(emb),
            negative_prompt_attention_mask=torch.zeros_like(mask), media_items=None,
            conditioning_items=conditioning_items, is_video=True, vae_per_channel_normalize=True,
            image_cond_noise_scale=IMAGE_COND_NOISE_SCALE, mixed_precision=False, offload_to_cpu=False,
            device="cpu", enhance_prompt=False,
        ).images
    # infer(): the crop back to the requested size and frames
    (pad_left, pad_right, pad_top, pad_bottom) = s["padding"]
    pad_bottom, pad_right = -pad_bottom, -pad_right
    if pad_bottom == 0:
        pad_bottom = images.shape[3]
    if pad_right == 0:
        pad_right = images.shape[4]
    rec.put("video", images[:, :, : s["num_frames"], pad_top:pad_bottom, pad_left:pad_right])
    t = rec.finish()
    # the transformer's coordinates: one grid per pass, the same at every step
    for name in ("first", "second"):
        grids = [g for n, g in rec.grids if n == name]
        assert grids and all(torch.equal(g, grids[0]) for g in grids)
        t[f"{name}.indices_grid"] = grids[0]
    if replay is None:
        _check_draws(torch, c["seed"], rec.draws, generator)
    first_lat = t["first.latents"].shape
    s.update(first_pass=dict(height=first_lat[3] * 32, width=first_lat[4] * 32, latent=list(first_lat[2:]),
                             timesteps=FIRST_TIMESTEPS),
             second_pass=dict(height=t["second.latents"].shape[3] * 32, width=t["second.latents"].shape[4] * 32,
                              latent=list(t["second.latents"].shape[2:]), timesteps=SECOND_TIMESTEPS),
             downscale_factor=pipeline_config["downscale_factor"],
             decode_timestep=pipeline_config["decode_timestep"],
             decode_noise_scale=pipeline_config["decode_noise_scale"],
             tone_map_compression_ratio=pipeline_config["second_pass"]["tone_map_compression_ratio"],
             guidance_scale=1, stg_scale=0, rescaling_scale=1,
             stochastic_sampling=pipeline_config["stochastic_sampling"], config=YAML,
             image_cond_noise_scale=IMAGE_COND_NOISE_SCALE if c["image"] else None,
             conditioning=[dict(start_frame=0, strength=1.0)] if c["image"] else [],
             compressor=rec.codec,
             text=list(c["text"]))
    for k in ("guidance_scale", "stg_scale", "rescaling_scale"):
        for p in ("first_pass", "second_pass"):
            assert pipeline_config[p][k] == s[k], (p, k)
    if replay is None:
        _check_formulas(torch, t, s, c)
    return t, rec.draws, s


def _check_formulas(torch, t, s, c):
    """The README's description of the recorded tensors, asserted on them (the same float32 operations in
    the same order, so equal bit for bit unless stated)."""
    import torch.nn.functional as F

    def same(a, b, what, tol=0.0):
        d = (a.double() - b.double()).abs().max().item()
        assert a.shape == b.shape and d <= tol, f"{what}: max|diff| {d} (shapes {list(a.shape)} {list(b.shape)})"

    def unpatch(x, f, h, w):   # b (f h w) c -> b c f h w
        return x.reshape(x.shape[0], f, h, w, x.shape[-1]).permute(0, 4, 1, 2, 3)

    def patch(x):              # b c f h w -> b (f h w) c
        return x.permute(0, 2, 3, 4, 1).reshape(x.shape[0], -1, x.shape[1])

    fr = s["frame_rate"]
    for p in ("first", "second"):
        f, h, w = t[f"{p}.latents"].shape[2:]
        ts = t[f"{p}.timesteps"]
        S = ts.shape[0]
        # coordinates
        lf, lh, lw = torch.meshgrid(torch.arange(f), torch.arange(h), torch.arange(w), indexing="ij")
        px = torch.stack([(8 * lf.reshape(-1) - 7).clamp(min=0), 32 * lh.reshape(-1), 32 * lw.reshape(-1)])[None]
        assert torch.equal(t[f"{p}.pixel_coords"], px), f"{p}.pixel_coords"
        grid = px.float()
        grid[:, 0] = grid[:, 0] * (1.0 / fr)
        same(t[f"{p}.indices_grid"], grid, f"{p}.indices_grid")
        # the start
        noise = unpatch(t[f"{p}.noise"], f, h, w)
        if p == "first":
            same(t[f"{p}.latents_init"], noise, "first.latents_init")
        else:
            t0 = ts[0]
            same(t[f"{p}.latents_init"], t0 * noise + (1 - t0) * t["upsampled.adain"], "second.latents_init")
        start = patch(t[f"{p}.latents_init"]).clone()
        mask = t.get(f"{p}.conditioning_mask")
        if mask is not None:
            assert torch.equal(mask[0, : h * w], torch.ones(h * w)) and not mask[0, h * w:].any()
            start[:, : h * w] = patch(t[f"{p}.cond_latent"])
            same(t[f"{p}.cond_media"], F.interpolate(t["image.media"][:, :, 0], size=(32 * h, 32 * w),
                                                      mode="bilinear", align_corners=False)[:, :, None],
                 f"{p}.cond_media")
        same(t[f"{p}.latents_start"], start, f"{p}.latents_start")
        # the steps
        lat = start
        for i in range(S):
            ti = ts[i]
            if mask is not None:
                noised = start + IMAGE_COND_NOISE_SCALE * t[f"{p}.cond_noise"][i] * ti ** 2
                lat = torch.where((mask > 1 - 1e-6)[..., None], noised, lat)
                tt = torch.min(ti.expand(1, 1), 1.0 - mask)
            else:
                tt = ti.expand(1, 1)
            same(t[f"{p}.latent_in"][i], lat, f"{p}.latent_in[{i}]")
            same(t[f"{p}.timestep"][i], tt, f"{p}.timestep[{i}]")
            dt = ti - (ts[i + 1] if i + 1 < S else torch.zeros(()))
            stepped = lat - dt * t[f"{p}.noise_pred"][i]
            if mask is not None:
                stepped = torch.where((ti - 1e-6 < 1.0 - mask)[..., None], stepped, lat)
            same(t[f"{p}.latent_out"][i], stepped, f"{p}.latent_out[{i}]")
            lat = t[f"{p}.latent_out"][i]
        same(t[f"{p}.latents"], unpatch(lat, f, h, w), f"{p}.latents")
    # AdaIN of the upsampled latents against the first pass
    up, ref = t["upsampled"], t["first.latents"]
    ada = up.clone()
    for ch in range(up.shape[1]):
        rs, rm = torch.std_mean(ref[0, ch], dim=None)
        xs, xm = torch.std_mean(up[0, ch], dim=None)
        ada[0, ch] = (up[0, ch] - xm) / xs * rs + rm
    same(t["upsampled.adain"], ada, "upsampled.adain")
    # the decode
    sc = torch.tensor([s["decode_noise_scale"]])[:, None, None, None, None]
    same(t["decode.latents_noised"], t["second.latents"] * (1 - sc) + t["decode_noise"] * sc, "decode.latents_noised")
    x = t["decode.latents_noised"]
    k = s["tone_map_compression_ratio"] * 0.75
    same(t["decode.tone_mapped"], x * (1.0 - 0.8 * k * torch.sigmoid(4.0 * k * (x.abs() - 1.0))), "decode.tone_mapped")
    # the resize and crop of the decoded video
    if "decoded" in t:
        d = t["decoded"]
        v = F.interpolate(d[0].permute(1, 0, 2, 3), size=(s["height_padded"], s["width_padded"]), mode="bilinear",
                          align_corners=False).permute(1, 0, 2, 3)[None]
        left, _, top, _ = s["padding"]
        same(t["video"], v[:, :, : s["num_frames"], top: top + s["height"], left: left + s["width"]], "video")
    if c["image"]:
        # torchvision's gaussian_blur (kernel 3, sigma 1): the normalised 1-D gaussian's outer product,
        # reflected borders, float32
        x = torch.linspace(-1.0, 1.0, steps=3)
        k1 = torch.exp(-0.5 * (x / 1.0).pow(2))
        k1 = k1 / k1.sum()
        k2 = torch.mm(k1[:, None], k1[None, :]).expand(3, 1, 3, 3)
        img = t["image.cropped"]
        same(t["image.blurred"], F.conv2d(F.pad(img[None], (1, 1, 1, 1), mode="reflect"), k2, groups=3)[0],
             "image.blurred")
        h2, w2 = img.shape[1] // 2 * 2, img.shape[2] // 2 * 2
        assert torch.equal(t["image.encoder_u8"], (t["image.blurred"].permute(1, 2, 0)[:h2, :w2] * 255.0).byte())
        m = t["image.compressed"].permute(2, 0, 1) * 255.0 / 127.5 - 1.0
        left, right, top, bottom = s["padding"]
        same(t["image.media"], F.pad(m, (left, right, top, bottom))[None, :, None], "image.media")


def _check_draws(torch, seed, draws, generator):
    """Replaying the recorded draws on fresh generators reaches the run's final states: nothing else drew."""
    g = torch.Generator().manual_seed(seed)
    gl = torch.Generator().manual_seed(seed)
    for name, stream, value in draws:
        # randn_like keeps its template's strides and fills memory in order (the decode noise: the
        # unpatchified latents' (b, f, h, w, c) order)
        again = torch.empty_strided(value.shape, value.stride(), dtype=value.dtype)
        again.normal_(generator=g if stream == "generator" else gl)
        assert torch.equal(again, value), f"draw {name} does not replay"
    assert torch.equal(g.get_state(), generator.get_state()), "the generator drew more than recorded"
    assert torch.equal(gl.get_state(), torch.get_rng_state()), "the global generator drew more than recorded"


def make(args, torch):
    if args.pipeline_text and args.pipeline_text[1] > args.pipeline_text[0]:
        sys.exit("--pipeline-text T,KEPT: KEPT must not exceed T")
    if args.pipeline_video and min(args.pipeline_video[1:]) <= 32:
        sys.exit("--pipeline-video F,H,W: H and W must exceed 32 (else the first pass is empty)")
    plv, inf = _import_official()
    _write_weights(torch, args)
    for name, case in CASES.items():
        c = ltxref.case_options(case, args, video=args.pipeline_video or VIDEO, text=args.pipeline_text or TEXT)
        if case["image"] and args.pipeline_image:
            c["image"] = args.pipeline_image
        io = _inputs(torch, c)
        t, draws, settings = _run(torch, plv, inf, args, c, io, torch.float32)
        drawn = {n for n, _, _ in draws}
        for k in c["drop"]:
            del t[k]
        out = dict(io)
        out.update(t)
        outputs = sorted(k for k in t if k not in drawn and k not in INPUTS)
        for k, v in out.items():
            if v.is_floating_point():
                out[k] = v.half() if k in HALF else v.float()
        meta = {"generator": "tests/ltx/gen_pipeline.py", "outputs": outputs, "settings": settings,
                "draws": [[n, s, list(v.shape), list(v.stride())] for n, s, v in draws], "weights": WEIGHTS, "upsampler": UPSAMPLER}
        ltxref.save(os.path.join(args.out, f"{name}.io.safetensors"), out, meta)
        if args.pipeline_float64:
            t64, _, _ = _run(torch, plv, inf, args, c, io, torch.float64, replay=draws)
            for k in outputs:
                a, b = t[k], t64[k]
                if not a.is_floating_point():
                    assert torch.equal(a, b), k
                    continue
                d = (a.double() - b.double()).abs().max().item()
                m = b.abs().max().item()
                print(f"{name} {k}: float32 vs float64 max|diff| {d:.3g} (max|ref| {m:.3g}, {d / max(m, 1e-30):.2g})")
