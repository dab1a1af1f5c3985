#!/usr/bin/env python3
"""Seconds per stage of the official LTX-Video 13B distilled clip (the counterpart of
`kinora-bench ltx-generate --random --backend cuda`): text encoding, first pass, latent upsampling,
second pass and decode, run end to end through the official LTXMultiScalePipeline.__call__
(ltx_video/pipelines/pipeline_ltx_video.py) as ltx_video/inference.py infer() calls it with
configs/ltxv-13b-0.9.8-distilled.yaml, random seeded weights at the real shapes, one GPU.

    python3 tests/ltx/bench-torch-pipeline.py --deps DEPS [--release 0.9.8|0.9.7] [--size 1216x704]
        [--frames 121] [--layers N] [--runs N] [--prompt-tokens N]
    python3 tests/ltx/bench-torch-pipeline.py --deps DEPS --tiny   (small config, CPU, float32: checks it runs)

What runs, as infer() does it: the requested size padded to multiples of 32 and 8n+1 frames
(calculate_padding), seed_everething and a generator on the device, the config's two passes (first
at int(side x 0.6666666) rounded down to 32 with its 7 timesteps, then the latent upsampler, AdaIN,
the second pass at twice the first pass's size with its 3 timesteps; guidance 1, stg_scale 0, so
one transformer forward per step), decode_timestep 0.05 / decode_noise_scale 0.025, tone mapping
0.6 (0.9.8; 0.9.7 has none, i.e. 0), the VAE decode, the bilinear resize to the padded size and
infer()'s crop. Frame rate 30 (InferenceConfig's default). Not run: the prompt enhancer (the 0.9.8
config turns it on for prompts under 120 words; it needs two more models: enhance_prompt=False, as
for a long prompt or 0.9.7's threshold 0) and the video file writing. The official pipeline encodes
the prompt and the negative prompt in each pass (encode_prompt is called with guidance on): 4 T5
forwards at 256 tokens per clip, all counted as text encoding. --release 0.9.7: that release's
distilled YAML is not in the pinned commit; it is the 0.9.8 file without tone_map_compression_ratio
(README.md, Pipeline), and the 0.9.7 upscaler has the 0.9.8 one's config.

Models (random, torch.manual_seed(--seed), PyTorch's default initialisation, built on the GPU in
their compute dtype): Transformer3DModel with ltxref.TRANSFORMER_13B (48 layers), CausalVideoAutoencoder
with ltxref.VAE_13B (encoder kept, as the official pipeline holds it), LatentUpsampler with
ltxref.UPSAMPLER_13B, and Hugging Face transformers' T5EncoderModel with the T5 v1.1 XXL config.
dtypes, as inference.py sets them for `precision: bfloat16`: transformer bf16
(create_transformer), VAE and text encoder bf16 (create_ltx_video_pipeline casts both whatever the
precision), upsampler float32 (create_latent_upsampler keeps the file's dtype, and the latents it gets
are float32: the first denoising step's `sample - dt * model_output` promotes the bf16 latents with
the float32 timesteps, so a bf16 upsampler would fail); mixed_precision off. Latents between the
transformer forwards are therefore float32; each forward casts its input to bf16, vae_decode casts
to the VAE's bf16.

Shims (listed in README.md): the tokenizer is a stand-in (no tokenizer files here): every text becomes
the same --prompt-tokens ids (fixed ids, the last EOS = 1), padded with 0 to the pipeline's
max_length 256, with its attention mask; av / torchvision / imageio / transformers are stubbed for
the import of ltx_video.inference where missing (used there only for image conditioning, video
files and the enhancer). --tiny without transformers (Debian 12): the T5 is Wan2.2's T5Encoder
(gen_t5xxl.py) behind T5EncoderModel's call (ids, attention_mask=) -> (hidden,).

Timing: wrappers that call the original and return its result unchanged (gen_pipeline._patched) put
a time stamp, after torch.cuda.synchronize(), around LTXVideoPipeline.__call__ (each pass),
encode_prompt, transformer.forward, denoising_step, _upsample_latents and vae_decode. Stages (they add
up to the total): text_encoding (encode_prompt, both passes); first_pass (the first pass's call less
its text encoding); upsampler (from the first pass's end to the second's start: un-normalise,
upsampler, normalise, AdaIN); second_pass (its start to its last denoising step, less its text
encoding); decode (the rest: unpatchify, decode noise, tone map, VAE decode, postprocess, resize,
crop); per step: transformer forward start to denoising_step end. --layers N builds N of the 48
blocks; the 48-layer numbers add each forward's time x (48/N - 1) (the forwards are timed alone), as
bench-torch.py extrapolates. Run 0 is a warm-up; the summary is the median of the later runs.
"""
import argparse
import copy
import os
import statistics
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gen_pipeline  # noqa: E402
import ltxref  # noqa: E402

# T5 v1.1 XXL (google/t5-v1_1-xxl; PixArt-alpha/PixArt-XL-2-1024-MS text_encoder/config.json)
T5_XXL = dict(vocab_size=32128, d_model=4096, d_ff=10240, d_kv=64, num_heads=64, num_layers=24,
              feed_forward_proj="gated-gelu", relative_attention_num_buckets=32,
              relative_attention_max_distance=128, layer_norm_epsilon=1e-6, dropout_rate=0.1,
              tie_word_embeddings=False, is_encoder_decoder=False, use_cache=False)
T5_TINY = dict(vocab_size=160, d_model=32, d_ff=64, d_kv=8, num_heads=4, num_layers=2)   # gen_t5xxl case a
MAX_TOKENS = 256             # LTXVideoPipeline.__call__'s text_encoder_max_tokens
FRAME_RATE = 30              # InferenceConfig.frame_rate
IMAGE_COND_NOISE_SCALE = 0.15
PROMPT = "A clip generated from random weights: the text only sets the token count (tokenizer shim)."
NEGATIVE_PROMPT = "worst quality, inconsistent motion, blurry, jittery, distorted"   # InferenceConfig's
FULL = dict(size=(1216, 704), frames=121, layers=48)
TINY = dict(size=(96, 64), frames=9, layers=2)


class TokenizerShim:
    """Stand-in for T5Tokenizer: every text becomes the same n ids (fixed, the last EOS = 1), padded
    with 0 to max_length (padding="max_length") or not at all (padding="longest"), with the mask."""

    def __init__(self, torch, n, vocab):
        self.torch = torch
        self.ids = [3 + (7919 * i) % (vocab - 3) for i in range(n - 1)] + [1]

    def __call__(self, text, padding="longest", max_length=None, truncation=False, return_tensors="pt", **_):
        assert return_tensors == "pt"
        texts = [text] if isinstance(text, str) else list(text)
        ids = self.ids[:max_length] if truncation and max_length else self.ids
        L = max_length if padding == "max_length" else len(ids)
        out = types.SimpleNamespace(input_ids=self.torch.zeros(len(texts), L, dtype=self.torch.int64),
                                    attention_mask=self.torch.zeros(len(texts), L, dtype=self.torch.int64))
        out.input_ids[:, : len(ids)] = self.torch.tensor(ids)
        out.attention_mask[:, : len(ids)] = 1
        return out

    def batch_decode(self, ids, **_):
        return ["" for _ in ids]


def _text_encoder(torch, cfg, args):
    """HF T5EncoderModel where transformers is installed; for --tiny without it, Wan's T5Encoder
    behind the same call. Returns (module, description)."""
    try:
        from transformers import T5Config, T5EncoderModel
    except ImportError:
        if not args.tiny:
            sys.exit("transformers is not installed: the 13B run needs transformers.T5EncoderModel")
        import gen_t5xxl

        wan_t5 = gen_t5xxl.import_wan_t5(args.deps)

        class WanT5(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.t5 = wan_t5.T5Encoder(
                    vocab=cfg["vocab_size"], dim=cfg["d_model"], dim_attn=cfg["d_kv"] * cfg["num_heads"],
                    dim_ffn=cfg["d_ff"], num_heads=cfg["num_heads"], num_layers=cfg["num_layers"],
                    num_buckets=gen_t5xxl.NUM_BUCKETS, shared_pos=True)

            @property
            def dtype(self):
                return next(self.parameters()).dtype

            @property
            def device(self):
                return next(self.parameters()).device

            def forward(self, input_ids, attention_mask=None):
                return (self.t5(input_ids, attention_mask),)

        return WanT5(), "Wan2.2 T5Encoder (shared_pos) behind T5EncoderModel's call (shim: no transformers)"
    return T5EncoderModel(T5Config(**cfg)), "transformers.T5EncoderModel"


def build(torch, plv, args, device, dtype):
    """The official pipeline objects as create_ltx_video_pipeline / create_latent_upsampler make them,
    from configs instead of files. Returns (LTXMultiScalePipeline, text encoder description)."""
    from ltx_video.models.autoencoders.causal_video_autoencoder import CausalVideoAutoencoder
    from ltx_video.models.autoencoders.latent_upsampler import LatentUpsampler
    from ltx_video.models.transformers.symmetric_patchifier import SymmetricPatchifier
    from ltx_video.models.transformers.transformer3d import Transformer3DModel
    from ltx_video.schedulers.rf import RectifiedFlowScheduler
    from ltx_video.utils.diffusers_config_mapping import OURS_SCHEDULER_CONFIG

    tcfg = dict(ltxref.TRANSFORMER_13B, num_layers=args.layers)
    vcfg = copy.deepcopy(ltxref.VAE_13B)
    ucfg = dict(ltxref.UPSAMPLER_13B)
    t5cfg = dict(T5_XXL)
    if args.tiny:   # latent channels 8 throughout, as gen_pipeline's models
        import gen_vae

        t5cfg.update(T5_TINY)
        tcfg.update(num_attention_heads=2, attention_head_dim=16, cross_attention_dim=32,
                    caption_channels=t5cfg["d_model"], in_channels=8, out_channels=8)
        vcfg = copy.deepcopy(gen_vae.CASES["vae_a"]["config"])
        ucfg.update(in_channels=8, mid_channels=32, num_blocks_per_stage=1)
    torch.manual_seed(args.seed)
    with ltxref.default_device(torch, device, dtype):
        transformer = Transformer3DModel.from_config(tcfg)
        vae = CausalVideoAutoencoder.from_config(vcfg)
        C = vcfg["latent_channels"]
        # the checkpoint's per_channel_statistics (what from_pretrained registers)
        vae.register_buffer("std_of_means", torch.rand(C) + 0.5)
        vae.register_buffer("mean_of_means", 0.2 * torch.randn(C))
        upsampler = LatentUpsampler.from_config(ucfg)
        text_encoder, te_name = _text_encoder(torch, t5cfg, args)
    for m in (transformer, vae, text_encoder):
        m.to(device=device, dtype=dtype).eval()
    # float32 whatever the precision: from_pretrained keeps the file's dtype, and the latents it gets are
    # float32 (the scheduler step promotes the bf16 latents with its float32 timesteps)
    upsampler.to(device=device, dtype=torch.float32).eval()
    pipeline = plv.LTXVideoPipeline(
        tokenizer=TokenizerShim(torch, args.prompt_tokens, t5cfg["vocab_size"]), text_encoder=text_encoder,
        vae=vae, transformer=transformer, scheduler=RectifiedFlowScheduler.from_config(dict(OURS_SCHEDULER_CONFIG)),
        patchifier=SymmetricPatchifier(patch_size=1), prompt_enhancer_image_caption_model=None,
        prompt_enhancer_image_caption_processor=None, prompt_enhancer_llm_model=None,
        prompt_enhancer_llm_tokenizer=None, allowed_inference_steps=gen_pipeline.ALLOWED_STEPS,
    ).to(device)
    pipeline.set_progress_bar_config(disable=True)
    return plv.LTXMultiScalePipeline(pipeline, latent_upsampler=upsampler), te_name


def pipeline_config(inf, args):
    """The distilled YAML as infer() passes it (stg_mode taken out; it picks skip_layer_strategy)."""
    cfg = inf.load_pipeline_config(os.path.join(os.path.abspath(args.deps), "configs", gen_pipeline.YAML))
    if args.release == "0.9.7":
        del cfg["second_pass"]["tone_map_compression_ratio"]
        cfg.update(checkpoint_path="ltxv-13b-0.9.7-distilled.safetensors", prompt_enhancement_words_threshold=0,
                   spatial_upscaler_model_path="ltxv-spatial-upscaler-0.9.7.safetensors")
    assert cfg.pop("stg_mode") == "attention_values"
    assert cfg["pipeline_type"] == "multi-scale" and cfg["precision"] == "bfloat16"
    return cfg


class Timer:
    """Time stamps (name, seconds) taken after the device has finished what was queued."""

    def __init__(self, torch, device):
        self.torch, self.cuda = torch, device.type == "cuda"
        self.events = []
        self.tokens = []

    def mark(self, name):
        if self.cuda:
            self.torch.cuda.synchronize()
        self.events.append((name, time.perf_counter()))


def _wrappers(plv, ms, timer):
    """(object, attribute, wrapper): each wrapper stamps, calls the original and returns its result."""
    p = ms.video_pipeline

    def stamped(name, original, on_args=None):
        def f(*a, **k):
            timer.mark(name + "_start")
            if on_args is not None:
                on_args(a, k)
            out = original(*a, **k)
            timer.mark(name + "_end")
            return out
        return f

    def tokens(a, k):
        timer.tokens.append((a[0] if a else k["hidden_states"]).shape[1])

    def step_end(*a, **k):
        out = o_step(*a, **k)
        timer.mark("step_end")
        return out

    o_step = p.denoising_step
    return [(plv.LTXVideoPipeline, "__call__", stamped("pass", plv.LTXVideoPipeline.__call__)),
            (p, "encode_prompt", stamped("text", p.encode_prompt)),
            (p.transformer, "forward", stamped("forward", p.transformer.forward, tokens)),
            (p, "denoising_step", step_end),
            (ms, "_upsample_latents", stamped("upsample", ms._upsample_latents)),
            (plv, "vae_decode", stamped("vae", plv.vae_decode))]


STAGES = ("text_encoding", "first_pass", "upsampler", "second_pass", "decode")


def stages(events, extra_factor):
    """Stage seconds from one run's time stamps. extra_factor = 48 / layers - 1 (0: as measured)."""
    t = {}
    passes, cur = [], None
    for name, s in events:
        if name == "pass_start":
            cur = {"start": s, "text": 0.0, "fwd": [], "steps": []}
        elif name == "pass_end":
            cur["end"] = s
            passes.append(cur)
        elif name in ("text_start", "forward_start"):
            open_at = s
        elif name == "text_end":
            cur["text"] += s - open_at
        elif name == "forward_end":
            cur["fwd"].append(s - open_at)
            step_at = open_at
        elif name == "step_end":
            cur["steps"].append(s - step_at)
            cur["last_step"] = s
        elif name in ("upsample_start", "vae_start"):
            sub_at = s
        elif name == "upsample_end":
            t["upsampler_model"] = s - sub_at
        elif name == "vae_end":
            t["decode_vae"] = s - sub_at
    ev = dict(events)
    assert len(passes) == 2, f"{len(passes)} pipeline passes"
    first, second = passes
    extra = [extra_factor * sum(p["fwd"]) for p in passes]
    t["text_encoding"] = first["text"] + second["text"]
    t["first_pass"] = first["end"] - first["start"] - first["text"] + extra[0]
    t["upsampler"] = second["start"] - first["end"]
    t["second_pass"] = second["last_step"] - second["start"] - second["text"] + extra[1]
    t["decode"] = ev["end"] - second["last_step"]
    t["total"] = ev["end"] - ev["start"] + sum(extra)
    t["other"] = t["total"] - sum(t[k] for k in STAGES)   # before the first pass: argument handling
    for name, p in (("first_pass", first), ("second_pass", second)):
        t[name + "_steps"] = [s + extra_factor * f for s, f in zip(p["steps"], p["fwd"])]
        t[name + "_per_step"] = statistics.median(t[name + "_steps"])
    return t


def report(t, layers, indent=""):
    print(f"{indent}text_encoding: {t['text_encoding']:.3f} s")
    for name in ("first_pass", "second_pass"):
        if name == "second_pass":
            print(f"{indent}upsampler: {t['upsampler']:.3f} s (model {t['upsampler_model']:.3f} s)")
        steps = t[name + "_steps"]
        print(f"{indent}{name}: {t[name]:.3f} s ({len(steps)} steps, {t[name + '_per_step']:.3f} s per step: "
              + " ".join(f"{s:.3f}" for s in steps) + ")")
    print(f"{indent}decode: {t['decode']:.3f} s (VAE decode {t['decode_vae']:.3f} s)")
    print(f"{indent}other: {t['other']:.3f} s")
    if "peak_memory_gib" in t:
        print(f"{indent}peak_memory: {t['peak_memory_gib']:.2f} GiB" + (f" ({layers} layers built)" if layers != 48 else ""))
    print(f"{indent}total: {t['total']:.3f} s")


def run(torch, inf, ms, cfg, args, s, device, timer):
    """One clip as infer() makes it. Returns the cropped video."""
    from ltx_video.utils.skip_layer_strategy import SkipLayerStrategy

    inf.seed_everething(args.seed)
    generator = torch.Generator(device=device.type).manual_seed(args.seed)
    timer.events = []
    timer.mark("start")
    images = ms(**copy.deepcopy(cfg), skip_layer_strategy=SkipLayerStrategy.AttentionValues, generator=generator,
                output_type="pt", callback_on_step_end=None, height=s["height_padded"], width=s["width_padded"],
                num_frames=s["num_frames_padded"], frame_rate=s["frame_rate"], prompt=PROMPT,
                prompt_attention_mask=None, negative_prompt=NEGATIVE_PROMPT, negative_prompt_attention_mask=None,
                media_items=None, conditioning_items=None, is_video=True, vae_per_channel_normalize=True,
                image_cond_noise_scale=IMAGE_COND_NOISE_SCALE, mixed_precision=False, offload_to_cpu=False,
                device=device.type, enhance_prompt=False).images
    # infer(): the crop back to the requested size and frames
    (pad_left, pad_right, pad_top, pad_bottom) = s["padding"]
    pad_bottom, pad_right = -pad_bottom, -pad_right
    if pad_bottom == 0:
        pad_bottom = images.shape[3]
    if pad_right == 0:
        pad_right = images.shape[4]
    images = images[:, :, : s["num_frames"], pad_top:pad_bottom, pad_left:pad_right]
    timer.mark("end")
    return images


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deps", required=True, help="folder with ltx_video, configs, diffusers, huggingface_hub, einops")
    ap.add_argument("--release", default="0.9.8", choices=["0.9.8", "0.9.7"])
    ap.add_argument("--size", help="WxH requested (default 1216x704; --tiny 96x64)")
    ap.add_argument("--frames", type=int, help="frames requested (default 121; --tiny 9)")
    ap.add_argument("--layers", type=int, help="transformer blocks built (default 48; --tiny 2)")
    ap.add_argument("--runs", type=int, default=2, help="clips made; the first is a warm-up (default 2)")
    ap.add_argument("--prompt-tokens", type=int, default=64, help="ids the tokenizer shim gives each text")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tiny", action="store_true", help="a small config on the CPU in float32")
    args = ap.parse_args()
    d = TINY if args.tiny else FULL
    try:
        w, h = (int(v) for v in (args.size or "x".join(map(str, d["size"]))).lower().split("x"))
    except ValueError:
        sys.exit(f"--size {args.size}: want WxH, e.g. 1216x704")
    frames = args.frames or d["frames"]
    args.layers = args.layers or d["layers"]
    if min(w, h) <= 48 or frames < 1 or args.runs < 1 or not 1 <= args.layers <= 48 \
            or not 2 <= args.prompt_tokens <= MAX_TOKENS:
        sys.exit("want sides above 48 (else the first pass is empty), frames >= 1, runs >= 1, "
                 f"layers 1..48, prompt tokens 2..{MAX_TOKENS}")
    torch = ltxref.setup(args.deps, threads=os.cpu_count() or 1)
    torch.use_deterministic_algorithms(False)
    plv, inf = gen_pipeline._import_official(stub_image_io=True)
    if args.tiny:
        device, dtype = torch.device("cpu"), torch.float32
    else:
        if not torch.cuda.is_available():
            sys.exit("no CUDA device (--tiny runs on the CPU)")
        device, dtype = torch.device("cuda"), torch.bfloat16
    cfg = pipeline_config(inf, args)
    s = gen_pipeline._settings(inf, dict(video=(frames, h, w), seed=args.seed))
    s["frame_rate"] = FRAME_RATE

    t0 = time.perf_counter()
    ms, te_name = build(torch, plv, args, device, dtype)
    t_build = time.perf_counter() - t0
    extra_factor = 0.0 if args.tiny else 48 / args.layers - 1
    print(f"official LTX-Video {args.release} distilled multi-scale pipeline ({gen_pipeline.YAML}"
          + (", 0.9.7 settings" if args.release == "0.9.7" else "") + f"), random weights, {dtype}, {device}"
          + (" (tiny config: not the 13B's times)" if args.tiny else ""))
    print(f"transformer: {args.layers} of 48 layers" + (
        f" (the 48-layer times below add each forward x {extra_factor:.3g}; measured ones follow as *_measured)"
        if extra_factor else ""))
    print(f"text encoder: {te_name}; tokenizer: shim ({args.prompt_tokens} fixed ids per text, padded to "
          f"{MAX_TOKENS})")
    print(f"video: {w}x{h}, {frames} frames requested (padded {s['width_padded']}x{s['height_padded']}, "
          f"{s['num_frames_padded']} frames), {FRAME_RATE} fps; timesteps {cfg['first_pass']['timesteps']} then "
          f"{cfg['second_pass']['timesteps']}; tone map {cfg['second_pass'].get('tone_map_compression_ratio', 0.0)}")
    print(f"torch {torch.__version__}; models built in {t_build:.1f} s")

    timer = Timer(torch, device)
    results = []
    with gen_pipeline._patched(_wrappers(plv, ms, timer)):
        for r in range(args.runs):
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            timer.tokens = []
            video = run(torch, inf, ms, cfg, args, s, device, timer)
            t = stages(timer.events, extra_factor)
            if device.type == "cuda":
                t["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
            if r == 0:
                n1, n2 = timer.tokens[0], timer.tokens[-1]
                print(f"transformer tokens: first pass {n1}, second pass {n2}; video {tuple(video.shape)}, "
                      f"finite: {bool(torch.isfinite(video.float()).all())}")
            print(f"run {r}{' (warm-up)' if r == 0 else ''}:")
            report(t, args.layers, "  ")
            if extra_factor:
                m = stages(timer.events, 0.0)
                print("  " + "; ".join(f"{k}_measured: {m[k]:.3f} s" for k in ("first_pass", "second_pass", "total")))
            results.append(t)
    if args.tiny:   # the wrappers change nothing: a run without them gives the same video bit for bit
        again = run(torch, inf, ms, cfg, args, s, device, Timer(torch, device))
        assert torch.equal(again, video), "the timed run and an untimed one differ"
        print("check: an untimed run gives the same video bit for bit")
    kept = results[1:] or results
    summary = {k: statistics.median(r[k] for r in kept) for k, v in results[0].items() if not isinstance(v, list)}
    for name in ("first_pass", "second_pass"):
        summary[name + "_steps"] = [statistics.median(x) for x in zip(*(r[name + "_steps"] for r in kept))]
    print(f"summary ({'median of runs 1..%d' % (len(results) - 1) if len(results) > 1 else 'run 0 only (warm-up)'}"
          + (", 48 layers extrapolated" if extra_factor else "") + "):")
    report(summary, args.layers)


if __name__ == "__main__":
    main()
