/* cli-generate.c: kinora-cli generate: text/image to video with a terminal progress bar, written as
 * MP4, WebM, GIF or PNG frames with the parameters in the file's tags and a sidecar JSON.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ke.h"
#include "args.h"
#include "cli.h"
#ifdef KINORA_HAVE_EXPORT
#include "kinora-export.h"
#include "kinora-metadata.h"
#endif
#ifdef KINORA_HAVE_MODELS
#include "kinora-catalog.h"
#endif

static volatile sig_atomic_t interrupted;

/* --- few-step presets and step caching ------------------------------------------------------------- */

/* Which of the settings a preset sets were given as options (they win over the preset). */
enum { EXPLICIT_STEPS = 1, EXPLICIT_SHIFT = 2, EXPLICIT_GUIDE = 4, EXPLICIT_GUIDE_HIGH = 8, EXPLICIT_SOLVER = 16 };

/* --cache MODE[:THRESHOLD]: off, easy, tea or mag, the threshold in [0, KE_MAX_CACHE_THRESHOLD] (-1: default). */
static bool
parse_cache (const char *cmd, const char *value, enum ke_cache_mode *mode, double *threshold)
{
  static const char *const names[] = { "easy", "tea", "mag", "off" };
  int i = 0;

  *threshold = -1;
  if (!kinora_arg_name_number (cmd, "--cache", value, names, 4, &i, 0, KE_MAX_CACHE_THRESHOLD, threshold))
    return false;
  return ke_cache_mode_from_name (names[i], mode) == 0;
}

static void
on_sigint (int sig)
{
  (void) sig;
  interrupted++;
}

static void
usage (FILE *f)
{
  fprintf (f,
           "usage: kinora-cli generate --model DIR|FILE[,FILE...]|tiny --prompt TEXT -o out.mp4|out.webm|out.gif|dir/\n"
           "  --model             a Wan2.2 folder or files, or LTX-Video: a folder holding the official\n"
           "                      ltxv-13b-0.9.7/0.9.8-distilled.safetensors, ltxv-spatial-upscaler-*.safetensors\n"
           "                      and text_encoder/ (T5 v1.1 XXL), or CHECKPOINT,UPSAMPLER files\n"
           "       kinora-cli generate --from KINORA-FILE [options] -o OUT\n"
           "  --from FILE         every setting that made a Kinora MP4/WebM/GIF/PNG or sidecar JSON;\n"
           "                      options after it override them\n"
           "  --negative TEXT     negative prompt (default: the official one)\n"
           "  --image IMG         conditioning image (PNG or JPEG): image-to-video\n"
           "  --size WxH          output size (Wan2.2 with an image: the area); sides in the model's multiple\n"
           "                      (LTX-Video 32)\n"
           "  --frames N          frame count in the model's steps: 4n+1 (Wan2.2), 8n+1 (LTX-Video)\n"
           "  --steps N           sampling steps\n"
           "  --guide G           guidance (A14B: low-noise expert)\n"
           "  --guide-high G      guidance of the A14B high-noise expert\n"
           "  --shift S           flow shift\n"
           "  --seed S            seed (default or -1: random); the same seed gives the same noise as torch.manual_seed\n"
           "  --solver NAME       unipc (default), dpm++, euler or euler-lightning\n"
           "  --fps F             frame rate of the output\n"
           "  --threads N         CPU threads\n"
           "  --backend NAME      cpu (default), cuda, or auto (the GPU when usable)\n"
           "  --precision P       bf16 (default), fp8 (the DiT's attention and linears in fp8 on GPUs of compute\n"
           "                      capability 9.0 and newer, its linears alone on 8.9; bf16 elsewhere, the CPU\n"
           "                      included) or fp32 (exact matmuls, the CPU only)\n"
           "  --save-latent PATH  also write the final latent (safetensors)\n"
           "  --vram GiB          device memory budget of a GPU run (default 0: the free memory minus 1 GiB);\n"
           "                      DiT blocks past it stream from host memory\n"
           "  --text-encoder auto|cpu  where T5 encodes the prompt: auto (default) on the run's backend (a GPU\n"
           "                      run: on the GPU within --vram, its memory freed before sampling), cpu always\n"
           "  --decode-latent PATH  skip sampling: decode a saved latent\n"
           "  --decode vae|taehv  decode with the model's VAE (default) or TAEHV, the tiny autoencoder (a draft in seconds)\n"
           "  --preview latent|taehv  per-step previews by latent projection (default) or TAEHV at full size (the\n"
           "                      app shows them; here the setting is recorded; kinora-bench taehv gives the cost)\n"
           "  --taehv FILE        TAEHV weights: taew2_2.safetensors (TI2V-5B), taew2_1.safetensors (A14B)\n"
           "  --quiet             no progress bar\n"
           "  --lora FILE[:S[:S_HIGH]]  a LoRA (safetensors: ComfyUI/kohya, Diffusers/PEFT or LightX2V keys) at\n"
           "                      strength S (default 1); on A14B S is the low-noise expert's strength and\n"
           "                      S_HIGH the high-noise one's (default S; 0 leaves that expert without it).\n"
           "                      Repeat for several; after --from the first --lora replaces the file's LoRAs\n"
           /* few-step presets and step caching */
           "  --preset lightning  the Wan2.2-Lightning 4-step recipe: 4 steps, shift 5, euler-lightning, guidance 1\n"
           "                      (for the Lightning/LightX2V 4-step LoRAs); --steps, --shift, --guide,\n"
           "                      --guide-high and --solver given anywhere still win, --from's values do not\n"
           "  --preset NAME       the model's official sizes (size, frames, fps; options given still win):\n"
           "                      LTX-Video official (1216x704, 121 frames, 30 fps), portrait, fast (768x512,\n"
           "                      97 frames); Wan2.2 official, portrait (and the 480p ones on A14B).\n"
           "                      `kinora-cli models inspect` lists a model's presets and rules.\n"
           "                      A distilled LTX-Video model fixes guidance (1) and steps (its config's\n"
           "                      timestep lists) and has no shift, solver or negative prompt\n"
           "  --cache MODE[:T]    step caching: easy (EasyCache), tea (TeaCache) or mag (MagCache), threshold T\n"
           "                      (default: the mode's, 0 measures but never skips), off; the run reports the\n"
           "                      DiT forwards skipped\n"
           "  --dry-run           print the pre-flight estimate (memory, time, whether it fits) and exit\n"
           "The tiny model (--model tiny) has random weights: its videos are noise, for tests and demos.\n");
}

struct bar
{
  int quiet;
};

static const char *
stage_name (enum ke_stage s)
{
  switch (s)
    {
    case KE_STAGE_LOAD: return "loading";
    case KE_STAGE_TEXT: return "text";
    case KE_STAGE_IMAGE: return "image";
    case KE_STAGE_SAMPLE: return "sampling";
    case KE_STAGE_DECODE: return "decoding";
    case KE_STAGE_DONE: return "done";
    default: return "";
    }
}

static void
progress_cb (const struct ke_progress *p, void *user_data)
{
  struct bar *b = user_data;
  const int width = 30;
  char line[width + 1];
  int fill = p->n_steps > 0 ? p->step * width / p->n_steps : 0;
  char eta[32] = "";

  if (b->quiet || p->stage == KE_STAGE_DONE)
    return;
  for (int i = 0; i < width; i++)
    line[i] = i < fill ? '#' : '.';
  line[width] = '\0';
  if (p->eta_s >= 0)
    snprintf (eta, sizeof eta, "  ETA %.1fs", p->eta_s);
  fprintf (stderr, "\r%-9s [%s] %d/%d  %.1fs%s   ", stage_name (p->stage), line, p->step, p->n_steps,
           p->elapsed_s, eta);
  /* a finished stage keeps its line */
  if (p->n_steps > 0 && p->step == p->n_steps)
    fputc ('\n', stderr);
  fflush (stderr);
}

/* Engine warnings (a LoRA key matching no layer, ...) and errors, on their own line. */
static void
log_to_stderr (int level, const char *msg, void *user_data)
{
  (void) user_data;
  if (level <= 1)
    fprintf (stderr, "%s: %s\n", level == 0 ? "error" : "warning", msg);
}

/* --preview taehv: the engine decodes each step's estimate; nothing is shown here */
static void
preview_cb (const struct ke_preview *p, void *user_data)
{
  (void) p;
  (void) user_data;
}

static int
abort_cb (void *user_data)
{
  (void) user_data;
  /* first Ctrl+C: stop sampling and keep the current estimate; second: cancel */
  return interrupted >= 2 ? 1 : interrupted == 1 ? 2 : 0;
}

/* The pre-flight estimate: the whole report (--dry-run) or one line before a run. */
static bool
print_estimate (ke_model_t                 *m,
                const struct ke_gen_params *p,
                bool                        full)
{
  /* the device budget of --vram (0: no limit given) */
  struct ke_mem_budget budget = { p->vram_gib, 0 };
  struct ke_estimate e;
  struct ke_error err = { 0 };
  int w = 0, h = 0, f = 0;

  if (ke_gen_estimate (m, p, &budget, &e, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-cli generate: estimate: %s\n", err.msg);
      return false;
    }
  if (!full)
    {
      fprintf (stderr, "pre-flight: %s%s%s\n", e.summary, e.suggestion[0] ? "; " : "", e.suggestion);
      return true;
    }
  ke_gen_output_size (p->task, p->width, p->height, p->n_frames, p->image ? p->image->width : 0,
                      p->image ? p->image->height : 0, &w, &h, &f);
  printf ("pre-flight estimate: %s, %dx%d, %d frames, %d steps (%d DiT forwards), %s backend, %s\n",
          ke_model_name (m), w, h, f, p->steps, e.n_forwards, e.backend,
          ke_precision_name (p->precision));
  printf ("  verdict        %s\n", ke_verdict_name (e.verdict));
  if (strcmp (e.backend, "cpu") != 0)
    {
      printf ("  device peak    %.2f GiB (DiT weights %.2f GiB)", e.device_gib, e.device_weights_gib);
      if (e.device_budget_gib > 0)
        printf (", budget %.2f GiB", e.device_budget_gib);
      printf ("\n");
    }
  printf ("  RAM peak       %.2f GiB, %.2f GiB available\n", e.host_gib, e.host_budget_gib);
  printf ("  time           %.0f s: text %.1f s, %d steps x %.2f s, decode %.1f s\n", e.total_s, e.text_s, p->steps,
          e.step_s, e.decode_s);
  printf ("  summary        %s\n", e.summary);
  if (e.suggestion[0])
    printf ("  suggestion     %s\n", e.suggestion);
  return true;
}

/* model capabilities: the settings against the model's own rules (ke_model_caps); false after printing
 * what is wrong */
static bool
check_model_caps (const char                 *cmd,
                       const struct ke_model_caps *caps,
                       int                          width,
                       int                          height,
                       int                          n_frames,
                       bool                         with_image,
                       unsigned                     explicit_set,
                       int                          steps,
                       double                       guide,
                       bool                         negative)
{
  struct ke_error err = { 0 };

  if (ke_model_caps_check (caps, width, height, n_frames, with_image, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "%s: %s\n", cmd, err.msg);
      return false;
    }
  if (caps->guidance_fixed && (explicit_set & (EXPLICIT_GUIDE | EXPLICIT_GUIDE_HIGH))
      && (guide != caps->guidance || (explicit_set & EXPLICIT_GUIDE_HIGH)))
    {
      fprintf (stderr, "%s: %s: the model's config fixes the guidance at %g (--guide cannot change it)\n", cmd,
               caps->version, (double) caps->guidance);
      return false;
    }
  if (caps->steps_fixed && (explicit_set & EXPLICIT_STEPS) && steps != caps->steps)
    {
      fprintf (stderr, "%s: %s: the model's config fixes the steps at %d (its timestep lists; --steps %d cannot "
               "change them)\n", cmd, caps->version, caps->steps, steps);
      return false;
    }
  if (!caps->has_shift && (explicit_set & EXPLICIT_SHIFT))
    {
      fprintf (stderr, "%s: %s has no flow shift setting (its timesteps are the config's)\n", cmd, caps->version);
      return false;
    }
  if (!caps->has_solver && (explicit_set & EXPLICIT_SOLVER))
    {
      fprintf (stderr, "%s: %s has no solver setting (it runs its rectified-flow scheduler)\n", cmd, caps->version);
      return false;
    }
  if (!caps->uses_negative_prompt && negative)
    {
      fprintf (stderr, "%s: %s runs guidance 1, without an unconditional pass: a negative prompt has no effect\n",
               cmd, caps->version);
      return false;
    }
  if (caps->needs_image && !with_image)
    {
      fprintf (stderr, "%s: %s needs a conditioning image (--image)\n", cmd, caps->version);
      return false;
    }
  return true;
}

/* The pre-flight estimate from model capabilities (LTX-Video): the whole report or one line. */
static bool
print_caps_estimate (const struct ke_model_caps *caps,
                     const struct ke_gen_params *p,
                     bool                        full)
{
  struct ke_mem_budget budget = { p->vram_gib, 0 };
  struct ke_estimate e;
  struct ke_error err = { 0 };

  if (ke_gen_estimate_caps (caps, p, &budget, &e, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-cli generate: estimate: %s\n", err.msg);
      return false;
    }
  if (!full)
    {
      fprintf (stderr, "pre-flight: %s%s%s\n", e.summary, e.suggestion[0] ? "; " : "", e.suggestion);
      return true;
    }
  printf ("pre-flight estimate: %s, %dx%d, %d frames, %d steps (%d forwards), %s backend, %s\n", caps->version,
          p->width, p->height, p->n_frames, caps->steps, e.n_forwards, e.backend,
          ke_precision_name (p->precision));
  printf ("  verdict        %s\n", ke_verdict_name (e.verdict));
  if (strcmp (e.backend, "cpu") != 0)
    printf ("  device peak    %.2f GiB (transformer weights %.2f GiB)\n", e.device_gib, e.device_weights_gib);
  printf ("  RAM peak       %.2f GiB, %.2f GiB available\n", e.host_gib, e.host_budget_gib);
  printf ("  time           %.0f s: text %.1f s, %d forwards, %.2f s a step on average, decode %.1f s\n", e.total_s,
          e.text_s, e.n_forwards, e.step_s, e.decode_s);
  if (!caps->est.text_counted)
    printf ("  text encoder   not found beside the model: T5 v1.1 XXL's size in bf16 counted\n");
  printf ("  summary        %s\n", e.summary);
  if (e.suggestion[0])
    printf ("  suggestion     %s\n", e.suggestion);
  return true;
}

enum
{
  OPT_MODEL = 256, OPT_PROMPT, OPT_NEGATIVE, OPT_IMAGE, OPT_SIZE, OPT_FRAMES, OPT_STEPS, OPT_GUIDE, OPT_GUIDE_HIGH,
  OPT_SHIFT, OPT_SEED, OPT_SOLVER, OPT_FPS, OPT_THREADS, OPT_BACKEND, OPT_PRECISION, OPT_SAVE_LATENT,
  OPT_DECODE_LATENT, OPT_QUIET, OPT_FROM,
  /* device memory budget */
  OPT_VRAM,
  OPT_TEXT_ENCODER,
  /* LoRAs (issue 14) */
  OPT_LORA,
  /* TAEHV draft decode and previews */
  OPT_DECODE, OPT_PREVIEW, OPT_TAEHV,
  /* few-step presets and step caching */
  OPT_PRESET, OPT_CACHE,
  /* pre-flight estimate */
  OPT_DRY_RUN,
};

static const struct option generate_options[] = {
  { "help", no_argument, NULL, 'h' },
  { "output", required_argument, NULL, 'o' },
  { "model", required_argument, NULL, OPT_MODEL },
  { "prompt", required_argument, NULL, OPT_PROMPT },
  { "negative", required_argument, NULL, OPT_NEGATIVE },
  { "image", required_argument, NULL, OPT_IMAGE },
  { "size", required_argument, NULL, OPT_SIZE },
  { "frames", required_argument, NULL, OPT_FRAMES },
  { "steps", required_argument, NULL, OPT_STEPS },
  { "guide", required_argument, NULL, OPT_GUIDE },
  { "guide-high", required_argument, NULL, OPT_GUIDE_HIGH },
  { "shift", required_argument, NULL, OPT_SHIFT },
  { "seed", required_argument, NULL, OPT_SEED },
  { "solver", required_argument, NULL, OPT_SOLVER },
  { "fps", required_argument, NULL, OPT_FPS },
  { "threads", required_argument, NULL, OPT_THREADS },
  { "backend", required_argument, NULL, OPT_BACKEND },
  { "precision", required_argument, NULL, OPT_PRECISION },
  { "save-latent", required_argument, NULL, OPT_SAVE_LATENT },
  { "decode-latent", required_argument, NULL, OPT_DECODE_LATENT },
  { "quiet", no_argument, NULL, OPT_QUIET },
  { "from", required_argument, NULL, OPT_FROM },
  /* device memory budget */
  { "vram", required_argument, NULL, OPT_VRAM },
  { "text-encoder", required_argument, NULL, OPT_TEXT_ENCODER },
  /* LoRAs (issue 14) */
  { "lora", required_argument, NULL, OPT_LORA },
  /* TAEHV draft decode and previews */
  { "decode", required_argument, NULL, OPT_DECODE },
  { "preview", required_argument, NULL, OPT_PREVIEW },
  { "taehv", required_argument, NULL, OPT_TAEHV },
  /* few-step presets and step caching */
  { "preset", required_argument, NULL, OPT_PRESET },
  { "cache", required_argument, NULL, OPT_CACHE },
  /* pre-flight estimate */
  { "dry-run", no_argument, NULL, OPT_DRY_RUN },
  { NULL, 0, NULL, 0 },
};

int
kinora_cli_generate (int argc, char **argv)
{
  static const char cmd[] = "kinora-cli generate";
  const char *model = NULL, *prompt = NULL, *negative = NULL, *image = NULL, *out = NULL;
  const char *solver = NULL, *backend = NULL, *precision = NULL, *save_latent = NULL;
  const char *decode_latent = NULL;
  int frames = 0, steps = 0, threads = 0, have_seed = 0, have_size = 0, width = 0, height = 0;
  double guide = -1, guide_high = -1, shift = -1, fps = -1;
  int64_t seed = -1;
  enum ke_solver solver_id = KE_SOLVER_UNIPC;
  int precision_id = KE_PRECISION_BF16;
  double vram = 0;   /* device memory budget */
  int text_device = KE_TEXT_DEVICE_AUTO;
  /* TAEHV draft decode and previews */
  enum ke_decoder decoder = KE_DECODER_VAE;
  enum ke_preview_source preview_source = KE_PREVIEW_LATENT;
  const char *taehv = NULL;
  int quiet = 0, dry_run = 0;
  int c;
  /* few-step presets and step caching */
  const char *preset = NULL;
  unsigned explicit_set = 0;
  int have_cache = 0;
  enum ke_cache_mode cache_mode = KE_CACHE_OFF;
  double cache_threshold = -1;
  struct ke_error err = { 0 };
  ke_model_t *m = NULL;
  struct ke_image *img = NULL;
  struct ke_video *video = NULL;
  int rc = 1;
#ifdef KINORA_HAVE_EXPORT
  g_autoptr (KinoraMetadata) from = NULL;
  g_autofree char *from_model = NULL;
#endif
  /* LoRAs (issue 14): from --lora, or restored by --from until the first --lora after it */
  struct ke_lora_spec loras[KE_MAX_LORAS];
  int n_loras = 0;
  bool loras_from_file = false;
  char *lora_abs[KE_MAX_LORAS] = { NULL };

  /* every number is checked whole here, against the engine's own ranges (ke.h) */
  optind = 0;
  opterr = 0;
  while ((c = getopt_long (argc, argv, ":ho:", generate_options, NULL)) != -1)
    {
      bool ok = true;
      switch (c)
        {
        case 'h':
          usage (stdout);
          return 0;
        case 'o': out = optarg; break;
        case OPT_MODEL: model = optarg; break;
        case OPT_PROMPT: prompt = optarg; break;
        case OPT_NEGATIVE: negative = optarg; break;
        case OPT_IMAGE: image = optarg; break;
        case OPT_SIZE:
          ok = kinora_arg_size (cmd, "--size", optarg, 1, KE_MAX_SIDE, &width, &height);
          have_size = 1;
          break;
        case OPT_FRAMES: ok = kinora_arg_int (cmd, "--frames", optarg, 1, KE_MAX_FRAMES, &frames); break;
        case OPT_STEPS:
          ok = kinora_arg_int (cmd, "--steps", optarg, 1, KE_MAX_STEPS, &steps);
          explicit_set |= EXPLICIT_STEPS;
          break;
        case OPT_GUIDE:
          ok = kinora_arg_double (cmd, "--guide", optarg, 0, false, KE_MAX_GUIDE, &guide);
          explicit_set |= EXPLICIT_GUIDE;
          break;
        case OPT_GUIDE_HIGH:
          ok = kinora_arg_double (cmd, "--guide-high", optarg, 0, false, KE_MAX_GUIDE, &guide_high);
          explicit_set |= EXPLICIT_GUIDE_HIGH;
          break;
        case OPT_SHIFT:
          ok = kinora_arg_double (cmd, "--shift", optarg, 0, true, KE_MAX_SHIFT, &shift);
          explicit_set |= EXPLICIT_SHIFT;
          break;
        case OPT_SEED:
          /* -1 asks for a random seed (README), as leaving the option out does */
          ok = kinora_arg_int64 (cmd, "--seed", optarg, -1, INT64_MAX, &seed);
          have_seed = seed >= 0;
          break;
        case OPT_SOLVER:
          solver = optarg;
          explicit_set |= EXPLICIT_SOLVER;
          if (ke_solver_from_name (solver, &solver_id) != 0)
            {
              fprintf (stderr, "%s: --solver %s: use unipc, dpm++, euler or euler-lightning\n", cmd, solver);
              ok = false;
            }
          break;
        /* few-step presets and step caching */
        case OPT_PRESET:
          /* lightning, or one of the model's own presets (checked once the model is known) */
          preset = optarg;
          break;
        case OPT_CACHE:
          ok = parse_cache (cmd, optarg, &cache_mode, &cache_threshold);
          have_cache = 1;
          break;
        case OPT_FPS: ok = kinora_arg_double (cmd, "--fps", optarg, 0, true, KE_MAX_FPS, &fps); break;
        case OPT_THREADS: ok = kinora_arg_int (cmd, "--threads", optarg, 0, 4096, &threads); break;
        case OPT_BACKEND: backend = optarg; break;
        case OPT_PRECISION:
          precision = optarg;
          ok = kinora_arg_precision (cmd, "--precision", precision, true, &precision_id);
          break;
        case OPT_SAVE_LATENT: save_latent = optarg; break;
        case OPT_DECODE_LATENT: decode_latent = optarg; break;
        case OPT_QUIET: quiet = 1; break;
        /* device memory budget */
        case OPT_VRAM: ok = kinora_arg_vram (cmd, "--vram", optarg, &vram); break;
        case OPT_TEXT_ENCODER: ok = kinora_arg_text_device (cmd, "--text-encoder", optarg, &text_device); break;
        case OPT_LORA:
          if (loras_from_file)
            n_loras = 0;
          loras_from_file = false;
          ok = kinora_arg_lora (cmd, "--lora", optarg, true, loras, &n_loras);
          break;
        /* TAEHV draft decode and previews */
        case OPT_DECODE:
          if (strcmp (optarg, "vae") == 0) decoder = KE_DECODER_VAE;
          else if (strcmp (optarg, "taehv") == 0) decoder = KE_DECODER_TAEHV;
          else
            {
              fprintf (stderr, "%s: --decode %s: use vae or taehv\n", cmd, optarg);
              ok = false;
            }
          break;
        case OPT_PREVIEW:
          if (strcmp (optarg, "latent") == 0) preview_source = KE_PREVIEW_LATENT;
          else if (strcmp (optarg, "taehv") == 0) preview_source = KE_PREVIEW_TAEHV;
          else
            {
              fprintf (stderr, "%s: --preview %s: use latent or taehv\n", cmd, optarg);
              ok = false;
            }
          break;
        case OPT_TAEHV: taehv = optarg; break;
        case OPT_DRY_RUN: dry_run = 1; break;
        case OPT_FROM:
#ifdef KINORA_HAVE_EXPORT
          {
            /* the file's settings replace what came before; later options override them */
            g_autoptr (GError) ferr = NULL;
            g_clear_pointer (&from, kinora_metadata_free);
            from = kinora_metadata_read (optarg, &ferr);
            if (from == NULL)
              {
                if (g_str_has_prefix (ferr->message, optarg))
                  fprintf (stderr, "%s: --from %s (no Kinora settings to restore)\n", cmd, ferr->message);
                else
                  fprintf (stderr, "%s: --from %s: %s (no Kinora settings to restore)\n", cmd, optarg, ferr->message);
                return 2;
              }
            const struct ke_gen_params *fp = &from->params;
            g_free (from_model);
#ifdef KINORA_HAVE_MODELS
            from_model = kinora_models_spec_from_recorded (from->model);
#else
            from_model = g_strdup (from->model);
#endif
            if (from_model)
              model = from_model;
            prompt = fp->prompt;
            negative = fp->negative_prompt && *fp->negative_prompt ? fp->negative_prompt : NULL;
            image = from->image;
            if (image && !g_file_test (image, G_FILE_TEST_IS_REGULAR))
              {
                fprintf (stderr, "%s: --from %s: it was made from the image %s, which is gone; give --image\n", cmd,
                         optarg, image);
                image = NULL;
                ok = false;
              }
            width = fp->width;
            height = fp->height;
            have_size = 1;
            frames = fp->n_frames;
            steps = fp->steps;
            guide = fp->guide;
            guide_high = fp->guide_high;
            shift = fp->shift;
            fps = fp->fps;
            seed = fp->seed;
            have_seed = seed >= 0;
            solver_id = fp->solver;
            solver = ke_solver_name (fp->solver);
            /* the LoRAs it was made with (the paths must still be there) */
            n_loras = 0;
            for (int i = 0; i < fp->n_loras && i < KE_MAX_LORAS; i++)
              {
                if (!g_file_test (fp->loras[i].path, G_FILE_TEST_IS_REGULAR))
                  {
                    fprintf (stderr, "%s: --from %s: it was made with the LoRA %s, which is gone; give --lora\n", cmd,
                             optarg, fp->loras[i].path);
                    ok = false;
                  }
                loras[n_loras++] = fp->loras[i];
              }
            loras_from_file = true;
            /* TAEHV draft decode and previews */
            decoder = fp->decoder;
            preview_source = fp->preview_source;
            taehv = fp->taehv_path;
            /* step caching as recorded (a later --cache overrides it) */
            cache_mode = fp->cache;
            cache_threshold = fp->cache_threshold;
            have_cache = 1;
          }
#else
          fprintf (stderr, "%s: --from needs a build with video export\n", cmd);
          ok = false;
#endif
          break;
        default:
          return kinora_arg_usage_error (cmd, c, argc, argv, generate_options);
        }
      if (!ok)
        return 2;
    }
  if (optind < argc)
    return kinora_arg_usage_error (cmd, 0, argc, argv, generate_options);
  if (model == NULL || (!dry_run && (out == NULL || (prompt == NULL && decode_latent == NULL))))
    {
      fprintf (stderr, "%s: --model, -o and --prompt (or --decode-latent) are required (see --help)\n", cmd);
      return 2;
    }
  /* model capabilities: the model's own rules, checked before it loads */
  struct ke_model_caps caps;
  const struct ke_model_preset *caps_preset = NULL;
  if (ke_model_caps (model, &caps, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-cli generate: %s\n", err.msg);
      return 1;
    }
  if (preset && strcmp (preset, "lightning") != 0)
    {
      caps_preset = ke_model_caps_preset (&caps, preset);
      if (caps_preset == NULL)
        {
          fprintf (stderr, "%s: --preset %s: the presets of %s are: ", cmd, preset, caps.version);
          for (int i = 0; i < caps.n_presets; i++)
            fprintf (stderr, "%s%s", i ? ", " : "", caps.presets[i].name);
          fprintf (stderr, "%s\n", caps.family == KE_MODEL_FAMILY_WAN22 ? ", lightning" : "");
          return 2;
        }
      if (!have_size)
        {
          width = caps_preset->width;
          height = caps_preset->height;
          have_size = 1;
        }
      if (!frames)
        frames = caps_preset->n_frames;
      if (fps <= 0)
        fps = caps_preset->fps;
      preset = NULL;
    }
  else if (preset && caps.family != KE_MODEL_FAMILY_WAN22)
    {
      fprintf (stderr, "%s: --preset lightning is a Wan2.2 recipe; %s has its own steps\n", cmd, caps.version);
      return 2;
    }
  if (!check_model_caps (cmd, &caps, have_size ? width : caps.width, have_size ? height : caps.height,
                              frames ? frames : caps.n_frames, image != NULL, explicit_set, steps, guide,
                              negative != NULL && decode_latent == NULL))
    return 2;
  /* LoRAs, step caching and TAEHV are Wan2.2's: refused when asked for, dropped when --from restored them */
  if (!caps.takes_loras && n_loras > 0)
    {
      if (!loras_from_file)
        {
          fprintf (stderr, "%s: %s does not take LoRAs (--lora)\n", cmd, caps.version);
          return 2;
        }
      n_loras = 0;
    }
  if (!caps.takes_step_cache && cache_mode != KE_CACHE_OFF)
    {
      fprintf (stderr, "%s: %s has no step caching (--cache)\n", cmd, caps.version);
      return 2;
    }
  if (!caps.takes_taehv && (decoder == KE_DECODER_TAEHV || preview_source == KE_PREVIEW_TAEHV))
    {
      fprintf (stderr, "%s: %s has no TAEHV decoder (--decode taehv, --preview taehv)\n", cmd, caps.version);
      return 2;
    }
  /* a model of another family than Wan2.2: the pre-flight estimate from its files, before it loads */
  if (caps.family != KE_MODEL_FAMILY_WAN22 && (dry_run || !quiet))
    {
      struct ke_gen_params cp = ke_gen_params_default (KE_TASK_TI2V_5B);
      cp.width = have_size ? width : caps.width;
      cp.height = have_size ? height : caps.height;
      cp.n_frames = frames ? frames : caps.n_frames;
      cp.backend = backend ? backend : "cpu";
      cp.precision = (enum ke_precision) precision_id;
      cp.n_threads = threads;
      cp.vram_gib = (float) vram;
      cp.text_device = (enum ke_text_device) text_device;
      if (!print_caps_estimate (&caps, &cp, dry_run))
        return 1;
      if (dry_run)
        return 0;
    }

#ifdef KINORA_HAVE_EXPORT
  KinoraExportFormat format;
  g_autoptr (GError) gerr = NULL;
  if (!dry_run && (!kinora_export_format_from_path (out, &format, &gerr) || !kinora_export_check_target (out, &gerr)))
    {
      fprintf (stderr, "kinora-cli generate: %s\n", gerr->message);
      return 2;
    }
#else
  if (!dry_run)
    {
      fprintf (stderr, "kinora-cli generate: this build has no video export (GStreamer/libpng missing)\n");
      return 1;
    }
#endif

  /* an LTX-Video folder of the official files opens as CHECKPOINT,UPSAMPLER,T5 */
  static char model_spec[8192];
  if (ke_model_resolve_path (model, model_spec, sizeof model_spec, &err) != KE_STATUS_OK
      || ke_model_open (&m, model_spec, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-cli generate: %s\n", err.msg);
      return 1;
    }
  struct ke_gen_params p = ke_model_params_default (m);
  if (ke_model_is_random (m))
    fprintf (stderr, "note: %s: the output is noise by design\n", ke_model_name (m));
  p.prompt = prompt ? prompt : "";
  p.negative_prompt = negative;
  if (have_size)
    {
      p.width = width;
      p.height = height;
    }
  if (frames) p.n_frames = frames;
  if (steps) p.steps = steps;
  p.vram_gib = (float) vram;   /* device memory budget */
  p.text_device = (enum ke_text_device) text_device;
  if (guide >= 0) p.guide = (float) guide;
  if (guide_high >= 0) p.guide_high = (float) guide_high;
  else if (guide >= 0 && p.task == KE_TASK_TI2V_5B) p.guide_high = (float) guide;
  if (shift >= 0) p.shift = (float) shift;
  if (fps > 0) p.fps = fps;
  if (threads > 0) p.n_threads = threads;
  if (backend) p.backend = backend;
  if (have_seed)
    p.seed = seed;
  else
    p.seed = ke_random_seed ();
  if (precision)
    p.precision = (enum ke_precision) precision_id;
  if (solver)
    p.solver = solver_id;
  /* few-step presets and step caching: the preset replaces the defaults and --from's values, and the
   * options given on the command line win over it wherever they stand */
  if (preset)
    {
      if (ke_gen_params_preset (&p, preset, &err) != KE_STATUS_OK)
        {
          fprintf (stderr, "kinora-cli generate: %s\n", err.msg);
          goto out;
        }
      if (explicit_set & EXPLICIT_STEPS) p.steps = steps;
      if (explicit_set & EXPLICIT_SHIFT) p.shift = (float) shift;
      if (explicit_set & EXPLICIT_GUIDE) p.guide = (float) guide;
      if (explicit_set & EXPLICIT_GUIDE_HIGH) p.guide_high = (float) guide_high;
      else if ((explicit_set & EXPLICIT_GUIDE) && p.task == KE_TASK_TI2V_5B) p.guide_high = (float) guide;
      if (explicit_set & EXPLICIT_SOLVER) p.solver = solver_id;
    }
  if (have_cache)
    {
      p.cache = cache_mode;
      p.cache_threshold = (float) cache_threshold;
    }
  if (image)
    {
      if (ke_image_read (&img, image, &err) != KE_STATUS_OK)
        {
          fprintf (stderr, "kinora-cli generate: %s\n", err.msg);
          goto out;
        }
      p.image = img;
    }
  p.save_latent_path = save_latent;
  /* absolute paths: the exported settings must find the LoRAs again from any folder */
  for (int i = 0; i < n_loras; i++)
    if ((lora_abs[i] = realpath (loras[i].path, NULL)) != NULL)
      loras[i].path = lora_abs[i];
  p.loras = loras;
  p.n_loras = n_loras;
  /* TAEHV draft decode and previews */
  p.decoder = decoder;
  p.preview_source = preview_source;
  p.taehv_path = taehv;
  if ((decoder == KE_DECODER_TAEHV || preview_source == KE_PREVIEW_TAEHV) && taehv == NULL)
    {
      fprintf (stderr, "%s: --decode taehv and --preview taehv need --taehv FILE (taew2_1 / taew2_2 safetensors)\n",
               cmd);
      rc = 2;
      goto out;
    }
  if (preview_source == KE_PREVIEW_TAEHV)
    p.preview = preview_cb;
  if (decode_latent && decoder == KE_DECODER_TAEHV)
    {
      fprintf (stderr, "%s: --decode-latent decodes with the model's VAE; --decode taehv applies to generations\n", cmd);
      rc = 2;
      goto out;
    }
  /* prompt embeddings are cached on disk: $XDG_CACHE_HOME/kinora/text, else ~/.cache/kinora/text */
  static char *text_cache_dir;
  if (text_cache_dir == NULL)
    text_cache_dir = ke_text_cache_default_dir ();
  p.text_cache_dir = text_cache_dir;
  struct bar bar = { quiet || !isatty (STDERR_FILENO) };
  p.progress = progress_cb;
  p.abort = abort_cb;
  p.user_data = &bar;
  signal (SIGINT, on_sigint);
  ke_log_set (log_to_stderr, NULL);

  if (dry_run)
    {
      rc = print_estimate (m, &p, true) ? 0 : 1;
      goto out;
    }
  if (!quiet && !decode_latent)
    print_estimate (m, &p, false);

  enum ke_status st;
  if (decode_latent)
    st = ke_model_decode_latent (m, decode_latent, fps, &video, &err);
  else
    st = ke_generate (m, &p, &video, &err);
  if (st != KE_STATUS_OK)
    {
      fprintf (stderr, "\nkinora-cli generate: %s\n", err.msg[0] ? err.msg : ke_status_str (st));
      goto out;
    }

#ifdef KINORA_HAVE_EXPORT
  {
    /* what made the video: the steps run, the seed used, or what a decoded latent was saved with */
    const struct ke_gen_params *made = video->made_with ? video->made_with : &p;
    g_autofree char *digest = image ? kinora_metadata_file_digest (image, NULL) : NULL;
    const char *digests[] = { "image", digest, NULL };
    g_autofree char *sidecar = kinora_export_sidecar_path (out, format);
    if (!kinora_export_save (out, format, video->rgb, video->width, video->height, video->n_frames, video->fps, made,
                             ke_model_name (m), image, digest ? digests : NULL, TRUE, &gerr))
      {
        fprintf (stderr, "kinora-cli generate: %s\n", gerr->message);
        goto out;
      }
    fprintf (stderr, "wrote %s (%dx%d, %d frames, %g fps, seed %lld) and %s\n", out, video->width, video->height,
             video->n_frames, video->fps, (long long) made->seed, sidecar);
    /* step caching */
    if (made->cache != KE_CACHE_OFF)
      fprintf (stderr, "step cache %s (threshold %g): skipped %d DiT forwards\n", ke_cache_mode_name (made->cache),
               (double) made->cache_threshold, made->cache_skipped);
    if (made->precision == KE_PRECISION_FP8 && made->precision_used != KE_PRECISION_FP8)
      fprintf (stderr, "precision fp8 asked: not available on the %s backend, the DiT ran %s\n",
               ke_backend_resolve (p.backend), ke_precision_name (made->precision_used));
    else if (made->precision == KE_PRECISION_FP8)
      fprintf (stderr, "precision fp8 (the DiT)\n");
  }
#endif
  rc = 0;
out:
  for (int i = 0; i < KE_MAX_LORAS; i++)
    free (lora_abs[i]);
  ke_video_free (video);
  ke_image_free (img);
  ke_model_free (m);
  return rc;
}
