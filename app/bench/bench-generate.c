/* bench-generate.c: kinora-bench generate: the whole pipeline (T5, sampling with CFG, VAE decode) at the
 * real model shapes with random weights; seconds per step, T5, VAE, total and peak RSS.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "ke.h"
#include "backends/backend.h"
#include "args.h"
#include "bench.h"
#include "core/tensor.h"
#include "models/dit/wan.h"
#include "pipeline/model-impl.h"

struct stamps
{
  double t0;
  double text_start, text_end;
  double sample_start, sample_end;
  double decode_start, decode_end;
  double step_t[1001];
  int last_step;
  int previews;
};

static void
progress_cb (const struct ke_progress *p, void *user_data)
{
  struct stamps *s = user_data;
  double now = bench_now ();
  switch (p->stage)
    {
    case KE_STAGE_TEXT:
      if (p->step == 0)
        s->text_start = now;
      else
        s->text_end = now;
      break;
    case KE_STAGE_SAMPLE:
      if (p->step == 0)
        s->sample_start = now;
      if (p->step >= 0 && p->step <= 1000)
        s->step_t[p->step] = now;
      s->last_step = p->step;
      s->sample_end = now;
      break;
    case KE_STAGE_DECODE:
      if (p->step == 0)
        s->decode_start = now;
      s->decode_end = now;
      break;
    default:
      break;
    }
}

/* counts the previews the pipeline hands over (their cost is inside the step times) */
static void
preview_cb (const struct ke_preview *pv, void *user_data)
{
  (void) pv;
  ((struct stamps *) user_data)->previews++;
}

/* Random TAEHV decoder weights written to a temporary file (the pipeline opens TAEHV from a path).
 * Returns the path (free it, unlink it) or NULL. */
static char *
write_random_taehv (int z, struct ke_error *err)
{
  char *path = strdup ("/tmp/kinora-bench-taehv-XXXXXX");
  int fd = path ? mkstemp (path) : -1;
  if (fd < 0)
    {
      snprintf (err->msg, sizeof err->msg, "cannot make a temporary file for the random TAEHV weights");
      free (path);
      return NULL;
    }
  close (fd);
  if (bench_write_random_taehv (z, path, err) != 0)
    {
      unlink (path);
      free (path);
      return NULL;
    }
  return path;
}

/* the TAEHV weights file: removed when it was a temporary one */
static void
drop_taehv (char *path, const char *given)
{
  if (path && !given)
    unlink (path);
  free (path);
}

/* Where this run's T5 encodes ran: the job's device, the CPU, both (a fallback for one prompt), or
 * neither (both prompts from the cache). */
static const char *
t5_where (const ke_model_t *m, const struct ke_text_cache_stats *before, const char *backend)
{
  struct ke_text_cache_stats now;

  if (m->te == NULL)
    return "cpu";
  ke_text_encoder_stats (m->te, &now);
  const int64_t dev = now.device_misses - before->device_misses;
  const int64_t cpu = now.misses - before->misses - dev;
  if (dev > 0)
    return cpu > 0 ? "cuda and cpu" : ke_backend_resolve (backend);
  return cpu > 0 ? "cpu" : "cached";
}

static void
usage (void)
{
  fprintf (stderr,
           "usage: kinora-bench generate --model ti2v-5B|t2v-A14B|i2v-A14B --random [--size WxH] [--frames N] [--steps N]\n"
           "                             [--threads N] [--precision bf16|fp8|fp32] [--layers N] [--backend cpu|cuda]\n"
           "                             [--vram GiB] [--text-encoder auto|cpu]\n"
           "                             [--preset lightning] [--cache easy|tea|mag[:THRESHOLD]]\n"
           "                             [--decode vae|taehv] [--preview latent|taehv] [--runs N]\n"
           "       kinora-bench generate --files MODEL [--cold[=PATHS]] [--taehv FILE] [--prompt TEXT] [the options above]\n"
           "--cache-compare: after the run(s), the same clip with each step cache at its default threshold:\n"
           "forwards skipped, time, and the video's PSNR against the last run (run it with --cache off)\n"
           "--precision-compare: after the run(s), the same clip at bf16: its time, and the PSNR and SSIM of the\n"
           "run's video (e.g. --precision fp8) against it\n"
           "Random bf16 weights at the real shapes. Blocks share block 0's weights (same compute, less memory);\n"
           "the T5 embedding is left untouched (zero pages), so peak RSS is below a real model's.\n"
           "--decode taehv / --preview taehv use random TAEHV weights (taew2_2 or taew2_1 widths) unless --taehv\n"
           "names a file. --files opens a model as kinora-cli generate --model does (e.g. a folder from\n"
           "kinora-bench write-weights); its opening time is printed and not counted in the total. --cold drops\n"
           "the model's files (or the comma-separated files and folders PATHS) from the page cache first, so the\n"
           "first step reads them from the disk.\n"
           "--runs N generates N times in one process: from the second run on the prompt's embedding comes\n"
           "from the text encoder's cache (what a user gets when only the seed or the settings change).\n");
}

/* Random bf16 weights at the real shapes of config c: blocks share block 0's weights (same compute, less
 * memory), the T5 token embedding stays untouched (zero pages). */
static enum ke_status
make_random (ke_model_t **m, const struct ke_dit_config *c, const char *model, int z, int vae_dim, int vae_dec,
             struct ke_error *err)
{
  struct ke_random_opts ro = { KE_DTYPE_BF16, true, true, false };
  struct ke_tensor_set *dit = NULL, *dit_high = NULL, *t5 = NULL, *vae = NULL;
  const int two_experts = z == 16;
  enum ke_status st;
  if ((st = ke_random_dit_weights (&dit, c, &ro, err)) != KE_STATUS_OK ||
      (two_experts && (st = ke_random_dit_weights (&dit_high, c, &ro, err)) != KE_STATUS_OK) ||
      (st = ke_random_t5_weights (&t5, 256384, 4096, 10240, 64, 24, &ro, err)) != KE_STATUS_OK ||
      (st = z == 48 ? ke_random_vae22_weights (&vae, vae_dim, vae_dec, z, &ro, err)
                    : ke_random_vae21_weights (&vae, vae_dim, z, &ro, err)) != KE_STATUS_OK)
    {
      ke_tset_free (dit);
      ke_tset_free (dit_high);
      ke_tset_free (t5);
      ke_tset_free (vae);
      return st;
    }
  char name[96];
  snprintf (name, sizeof name, "Wan2.2 %s shapes (random weights)", model);
  return ke_model_from_sets (m, dit, dit_high, t5, vae, name, err);
}

/* One more run of m with q for the comparisons: its stamps in *s, its video in *out; the seconds it took,
 * or -1 with err filled. */
static double
run_again (ke_model_t *m, struct ke_gen_params *q, struct stamps *s, struct ke_video **out, struct ke_error *err)
{
  memset (s, 0, sizeof *s);
  q->user_data = s;
  s->t0 = bench_now ();
  if (ke_generate (m, q, out, err) != KE_STATUS_OK)
    return -1;
  return bench_now () - s->t0;
}

int
kinora_bench_generate (int argc, char **argv)
{
  /* KINORA_BENCH_LOG=N: the engine's log messages of level N and below on stderr (2: the DiT set-up's parts) */
  static int log_level;
  if (getenv ("KINORA_BENCH_LOG"))
    {
      log_level = atoi (getenv ("KINORA_BENCH_LOG"));
      ke_log_set (bench_log_stderr, &log_level);
    }
  const char *model = "ti2v-5B", *backend = NULL, *files = NULL;
  const char *prompt = "a red fox running through fresh snow at sunrise, cinematic", *taehv_file = NULL;
  int w = 256, h = 256, frames = 17, steps = 2, threads = 0, layers = 0, random = 0;
  int prec = KE_PRECISION_BF16;
  double vram = 0;   /* device memory budget in GiB (0: the default) */
  int text_device = KE_TEXT_DEVICE_AUTO;
  static const char cmd[] = "kinora-bench generate";
  /* few-step presets and step caching */
  static const char *const cache_names[] = { "easy", "tea", "mag", "off" };
  const char *preset = NULL;
  int cache_i = 3, have_steps = 0, runs = 1;
  int use_taehv_decode = 0, use_taehv_preview = 0, want_preview = 0, cache_compare = 0, cold = 0;
  int prec_compare = 0;
  const char *cold_paths = NULL;   /* --cold=PATHS: what to drop from the page cache (default: --files) */
  double cache_thr = -1;
  static const struct option options[] = {
    { "help", no_argument, NULL, 'h' },
    { "random", no_argument, NULL, 'R' },
    { "model", required_argument, NULL, 'm' },
    { "size", required_argument, NULL, 's' },
    { "frames", required_argument, NULL, 'f' },
    { "steps", required_argument, NULL, 'n' },
    { "threads", required_argument, NULL, 't' },
    { "layers", required_argument, NULL, 'l' },
    { "backend", required_argument, NULL, 'b' },
    { "vram", required_argument, NULL, 'V' },
    { "text-encoder", required_argument, NULL, 'E' },
    { "precision", required_argument, NULL, 'p' },
    /* few-step presets and step caching */
    { "preset", required_argument, NULL, 'P' },
    { "cache", required_argument, NULL, 'C' },
    { "decode", required_argument, NULL, 'D' },
    { "preview", required_argument, NULL, 'W' },
    { "runs", required_argument, NULL, 'N' },
    { "files", required_argument, NULL, 'F' },
    { "prompt", required_argument, NULL, 'T' },
    { "taehv", required_argument, NULL, 'A' },
    { "cache-compare", no_argument, NULL, 'K' },
    { "precision-compare", no_argument, NULL, 'Q' },
    { "cold", optional_argument, NULL, 'c' },
    { NULL, 0, NULL, 0 },
  };
  int opt;
  optind = 0;
  opterr = 0;
  while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1)
    {
      bool ok = true;
      switch (opt)
        {
        case 'h': usage (); return 0;
        case 'R': random = 1; break;
        case 'm': model = optarg; break;
        case 's': ok = kinora_arg_size (cmd, "--size", optarg, 1, KE_MAX_SIDE, &w, &h); break;
        case 'f': ok = kinora_arg_int (cmd, "--frames", optarg, 1, KE_MAX_FRAMES, &frames); break;
        case 'n':
          ok = kinora_arg_int (cmd, "--steps", optarg, 1, KE_MAX_STEPS, &steps);
          have_steps = 1;
          break;
        /* few-step presets and step caching */
        case 'P':
          preset = optarg;
          if (strcmp (preset, "lightning") != 0)
            {
              fprintf (stderr, "%s: --preset %s: the presets are: lightning\n", cmd, preset);
              ok = false;
            }
          break;
        case 'C':
          ok = kinora_arg_name_number (cmd, "--cache", optarg, cache_names, 4, &cache_i, 0, KE_MAX_CACHE_THRESHOLD,
                                       &cache_thr);
          break;
        case 'D':
          if (strcmp (optarg, "taehv") == 0 || strcmp (optarg, "vae") == 0)
            use_taehv_decode = optarg[0] == 't';
          else
            {
              fprintf (stderr, "%s: --decode %s: use vae or taehv\n", cmd, optarg);
              ok = false;
            }
          break;
        case 'W':
          if (strcmp (optarg, "taehv") == 0 || strcmp (optarg, "latent") == 0)
            {
              use_taehv_preview = optarg[0] == 't';
              want_preview = 1;
            }
          else
            {
              fprintf (stderr, "%s: --preview %s: use latent or taehv\n", cmd, optarg);
              ok = false;
            }
          break;
        case 'N': ok = kinora_arg_int (cmd, "--runs", optarg, 1, 100, &runs); break;
        case 'F': files = optarg; break;
        case 'T': prompt = optarg; break;
        case 'A': taehv_file = optarg; break;
        case 'K': cache_compare = 1; break;
        case 'Q': prec_compare = 1; break;
        case 'c':
          cold = 1;
          cold_paths = optarg;
          break;
        case 't': ok = kinora_arg_int (cmd, "--threads", optarg, 0, 4096, &threads); break;
        case 'l': ok = kinora_arg_int (cmd, "--layers", optarg, 1, 100, &layers); break;
        case 'b': backend = optarg; break;
        case 'V': ok = kinora_arg_vram (cmd, "--vram", optarg, &vram); break;
        case 'E': ok = kinora_arg_text_device (cmd, "--text-encoder", optarg, &text_device); break;
        case 'p': ok = kinora_arg_precision (cmd, "--precision", optarg, true, &prec); break;
        default: return kinora_arg_usage_error (cmd, opt, argc, argv, options);
        }
      if (!ok)
        return 2;
    }
  if (optind < argc)
    return kinora_arg_usage_error (cmd, 0, argc, argv, options);
  if (!random == !files)
    {
      fprintf (stderr, "kinora-bench generate: give --random (random weights at the real shapes, no download) or "
               "--files MODEL (what kinora-cli generate --model takes)\n");
      return 2;
    }
  if (threads > 0)
    ke_set_threads (threads);

  /* the official shapes (wan22-spec 1.1) */
  struct ke_dit_config c;
  memset (&c, 0, sizeof c);
  c.patch_t = 1;
  c.patch_h = c.patch_w = 2;
  c.freq_dim = 256;
  c.text_dim = 4096;
  c.text_len = 512;
  c.eps = 1e-6f;
  c.qk_norm = c.cross_attn_norm = true;
  int vae_dim = 160, vae_dec = 256, z = 48;
  if (strcmp (model, "ti2v-5B") == 0)
    {
      snprintf (c.model_type, sizeof c.model_type, "ti2v");
      c.dim = 3072; c.ffn_dim = 14336; c.num_heads = 24; c.num_layers = 30; c.in_dim = 48; c.out_dim = 48;
    }
  else if (strcmp (model, "t2v-A14B") == 0 || strcmp (model, "i2v-A14B") == 0)
    {
      const int i2v = model[0] == 'i';
      snprintf (c.model_type, sizeof c.model_type, i2v ? "i2v" : "t2v");
      c.dim = 5120; c.ffn_dim = 13824; c.num_heads = 40; c.num_layers = 40; c.in_dim = i2v ? 36 : 16;
      c.out_dim = 16;
      vae_dim = 96;
      z = 16;
    }
  else
    {
      fprintf (stderr, "kinora-bench generate: unknown model %s (ti2v-5B, t2v-A14B, i2v-A14B)\n", model);
      return 2;
    }
  if (layers > 0)
    c.num_layers = layers;

  ke_model_t *m = NULL;
  double t_build = bench_now ();
  struct ke_error err = { 0 };
  if (files && cold)
    printf ("page cache: %.2f GiB of the model's files dropped before opening (cold start)\n",
            bench_evict_paths (cold_paths ? cold_paths : files));
  else if (cold)
    {
      fprintf (stderr, "%s: --cold needs --files\n", cmd);
      return 2;
    }
  if (files)
    {
      /* weights from files: the model's own shapes */
      if (ke_model_open (&m, files, &err) != KE_STATUS_OK)
        {
          fprintf (stderr, "kinora-bench generate: %s\n", err.msg);
          return 1;
        }
      t_build = bench_now () - t_build;
      z = ke_model_task (m) == KE_TASK_TI2V_5B ? 48 : 16;
    }
  else if (make_random (&m, &c, model, z, vae_dim, vae_dec, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-bench generate: %s\n", err.msg);
      return 1;
    }
  else
    t_build = bench_now () - t_build;
  if (w % (z == 48 ? 32 : 16) || h % (z == 48 ? 32 : 16) || (frames - 1) % 4)
    {
      fprintf (stderr, "%s: --size must be a multiple of %d and --frames 4n+1\n", cmd, z == 48 ? 32 : 16);
      ke_model_free (m);
      return 2;
    }
  struct ke_gen_params p = ke_gen_params_default (ke_model_task (m));
  p.prompt = prompt;
  p.width = w;
  p.height = h;
  p.n_frames = frames;
  p.steps = steps;
  p.seed = 42;
  p.precision = (enum ke_precision) prec;
  p.backend = backend;
  p.vram_gib = (float) vram;
  p.text_device = (enum ke_text_device) text_device;
  /* few-step presets and step caching (an explicit --steps wins over the preset) */
  if (preset != NULL && ke_gen_params_preset (&p, preset, &err) == KE_STATUS_OK && have_steps)
    p.steps = steps;
  steps = p.steps;
  if (ke_cache_mode_from_name (cache_names[cache_i], &p.cache) != 0)
    p.cache = KE_CACHE_OFF;
  p.cache_threshold = (float) cache_thr;
  /* I2V: a synthetic gradient picture as the conditioning image */
  uint8_t *pix = NULL;
  struct ke_image im = { w, h, NULL };
  if (ke_model_task (m) == KE_TASK_I2V_A14B)
    {
      pix = malloc ((size_t) w * h * 3);
      for (size_t i = 0; pix && i < (size_t) w * h * 3; i++)
        pix[i] = (uint8_t) (i * 7 / 3);
      im.rgb = pix;
      p.image = &im;
    }
  /* TAEHV draft decode / full-resolution previews from random TAEHV weights */
  char *taehv_path = NULL;
  if (use_taehv_decode || use_taehv_preview)
    {
      if (taehv_file)
        taehv_path = strdup (taehv_file);
      else if (!(taehv_path = write_random_taehv (z, &err)))
        {
          fprintf (stderr, "kinora-bench generate: %s\n", err.msg);
          free (pix);
          ke_model_free (m);
          return 1;
        }
      p.taehv_path = taehv_path;
      p.decoder = use_taehv_decode ? KE_DECODER_TAEHV : KE_DECODER_VAE;
      p.preview_source = use_taehv_preview ? KE_PREVIEW_TAEHV : KE_PREVIEW_LATENT;
    }
  struct stamps s;
  struct ke_video *v = NULL;
  enum ke_status st = KE_STATUS_OK;
  double total = 0;
  for (int run = 0; run < runs && st == KE_STATUS_OK; run++)
    {
      memset (&s, 0, sizeof s);
      p.progress = progress_cb;
      p.preview = want_preview ? preview_cb : NULL;
      p.user_data = &s;
      ke_video_free (v);
      v = NULL;
      struct ke_text_cache_stats t5_before = { 0 };
      if (m->te != NULL)
        ke_text_encoder_stats (m->te, &t5_before);
      s.t0 = bench_now ();
      st = ke_generate (m, &p, &v, &err);
      total = bench_now () - s.t0;
      if (st != KE_STATUS_OK)
        break;
      double first = s.last_step >= 1 ? s.step_t[1] - s.step_t[0] : 0;
      double rest = s.last_step >= 2 ? (s.step_t[s.last_step] - s.step_t[1]) / (s.last_step - 1) : first;
      if (run == 0)
        {
          /* the precision asked, and the DiT's in effect (fp8 falls back to bf16 without fp8 units) */
          const enum ke_precision used = v->made_with ? v->made_with->precision_used : (enum ke_precision) prec;
          printf ("kinora-bench generate: %s, %dx%d, %d frames (latent %d x %d x %d), %d steps, DiT on %s, "
                  "precision %s (the DiT ran %s), %d threads, BLAS %s\n", ke_model_name (m), v->width, v->height,
                  v->n_frames, (frames - 1) / 4 + 1, h / (z == 48 ? 16 : 8), w / (z == 48 ? 16 : 8), steps,
                  backend ? backend : "cpu", ke_precision_name ((enum ke_precision) prec), ke_precision_name (used),
                  ke_get_threads (), bench_blas_corename ());
          printf ("  %-24s %8.2f s (not counted)\n", files ? "model opened in" : "random weights made in", t_build);
        }
      if (runs > 1)
        printf ("run %d of %d%s\n", run + 1, runs, run > 0 ? " (prompt embedding from the text encoder's cache)" : "");
      const char *guided = p.guide != 1.0f ? "with CFG" : "        ";
      printf ("  T5 (prompt + negative)   %8.2f s (%s)\n", s.text_end - s.text_start,
              t5_where (m, &t5_before, backend));
      printf ("  step %s, first     %8.2f s (DiT set-up included)\n", guided, first);
      printf ("  step %s, later     %8.2f s\n", guided, rest);
      if (s.last_step >= 2 && s.last_step <= 16)
        {
          /* each step on its own: an A14B run's switch to the low-noise expert shows as one longer step */
          printf ("  each step (s)           ");
          for (int i = 1; i <= s.last_step; i++)
            printf (" %.2f", s.step_t[i] - s.step_t[i - 1]);
          printf ("\n");
        }
      printf ("  sampling total           %8.2f s\n", s.sample_end - s.sample_start);
      printf ("  %-24s %8.2f s\n", use_taehv_decode ? "TAEHV decode (draft)" : "VAE decode",
              s.decode_end - s.decode_start);
      if (want_preview)
        printf ("  previews (%s)        %8d\n", use_taehv_preview ? "TAEHV " : "latent", s.previews);
      printf ("  total                    %8.2f s\n", total);
    }
  int rc = 0;
  if (st != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-bench generate: %s\n", err.msg);
      rc = 1;
      goto done;
    }
  printf ("  peak RSS                 %8.2f GiB\n", bench_peak_rss_gib ());
  struct ke_error berr = { 0 };
  struct ke_backend *be = backend && strcmp (backend, "cpu") != 0 ? ke_backend_by_name (backend, &berr) : NULL;
  if (be && be->ops->memory)
    {
      /* the allocator's peak over the whole run (T5 when it ran there, sampling, decode) */
      size_t budget = 0, in_use = 0, peak = 0;
      be->ops->memory (be, &budget, &in_use, &peak);
      printf ("  device allocator peak    %8.2f GiB (budget %.2f GiB)\n", peak / 1073741824.0, budget / 1073741824.0);
    }
  /* few-step presets and step caching */
  if (preset != NULL)
    printf ("  preset                   %s (%s, guidance %g)\n", preset, ke_solver_name (p.solver), (double) p.guide);
  if (p.cache != KE_CACHE_OFF)
    printf ("  step cache %-4s          %8d DiT forwards skipped (threshold %g)\n", ke_cache_mode_name (p.cache),
            v->made_with->cache_skipped, (double) v->made_with->cache_threshold);
  if (cache_compare)
    {
      /* the same seed and settings with each cache mode: PSNR of the 8-bit frames against v */
      static const enum ke_cache_mode modes[3] = { KE_CACHE_EASY, KE_CACHE_TEA, KE_CACHE_MAG };
      const size_t nb = (size_t) v->n_frames * v->height * v->width * 3;
      for (int k = 0; k < 3; k++)
        {
          struct ke_gen_params q = p;
          struct ke_video *vc = NULL;
          q.cache = modes[k];
          q.cache_threshold = -1;   /* the mode's default */
          const double dt = run_again (m, &q, &s, &vc, &err);
          if (dt < 0)
            {
              fprintf (stderr, "kinora-bench generate: %s\n", err.msg);
              rc = 1;
              goto done;
            }
          const double psnr = bench_video_psnr (vc->rgb, v->rgb, nb);
          const int fwd = steps * (p.guide != 1.0f ? 2 : 1);
          printf ("  cache %-4s (threshold %-6g): %3d of %3d DiT forwards skipped, sampling %7.2f s, total %7.2f s, "
                  "PSNR vs no cache %s%.2f dB\n", ke_cache_mode_name (q.cache), (double) vc->made_with->cache_threshold,
                  vc->made_with->cache_skipped, fwd, s.sample_end - s.sample_start, dt, isinf (psnr) ? "inf " : "",
                  isinf (psnr) ? 0.0 : psnr);
          ke_video_free (vc);
        }
    }
  if (prec_compare)
    {
      /* the same seed and settings at bf16: the cost in quality of the precision asked */
      struct ke_gen_params q = p;
      struct ke_video *vb = NULL;
      q.precision = KE_PRECISION_BF16;
      const double dt = run_again (m, &q, &s, &vb, &err);
      if (dt < 0)
        {
          fprintf (stderr, "kinora-bench generate: the bf16 comparison: %s\n", err.msg);
          rc = 1;
          goto done;
        }
      double psnr = 0, ssim = 0;
      bench_video_quality (v->rgb, vb->rgb, v->n_frames, v->height, v->width, &psnr, &ssim);
      printf ("  bf16 run: sampling %7.2f s, decode %6.2f s, total %7.2f s\n", s.sample_end - s.sample_start,
              s.decode_end - s.decode_start, dt);
      printf ("  precision %s against bf16: PSNR %.2f dB, SSIM %.4f (8-bit frames; SSIM on 8x8 windows, stride 4)\n",
              ke_precision_name ((enum ke_precision) prec), psnr, ssim);
      ke_video_free (vb);
    }
done:
  ke_video_free (v);
  ke_model_free (m);
  drop_taehv (taehv_path, taehv_file);
  free (pix);
  return rc;
}
