/* bench-ltx-generate.c: kinora-bench ltx-generate — a whole LTX-Video 13B distilled clip (T5 v1.1 XXL, the
 * first pass, the spatial upsampler, the second pass, the VAE decode) through ke_generate with random
 * weights at the real shapes: seconds per stage, the device allocator's peak and peak RSS.
 *
 * Memory: T5 XXL in bf16 (9.5 GB) and the 13B transformer (26 GB bf16, 14 GB q8_0) are not held together.
 * The model is made without a transformer; it encodes the prompt, frees T5 (drop_text_encoder), then asks
 * the bench for the transformer's weights, made at that moment (their making is timed and left out of the
 * stage times). A second --runs run gets a new random T5 and new transformer weights (the first ones are
 * dropped), so every run is a whole clip, T5 included. With --keep (a machine with room for both in host
 * memory) later runs reuse the model as an app does between jobs: the transformer stays made (and on the
 * device when the budget allows) and the prompt's embedding comes from the encoder's cache.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke.h"
#include "backends/backend.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "pipeline/ltx-impl.h"
#include "pipeline/model-impl.h"
#include "args.h"
#include "bench.h"

#define MAX_STEPS 64

struct stamps
{
  double text_start, text_end;
  double step_t[MAX_STEPS + 1];   /* step_t[k]: the report of k steps done */
  double decode_start, decode_end;
  int last_step;
};

struct maker
{
  enum ke_dtype type;
  int layers;
  double seconds;                 /* spent making transformer weights in this run */
};

static void
progress_cb (const struct ke_progress *p, void *user_data)
{
  struct stamps *s = user_data;
  const double now = bench_now ();
  if (p->stage == KE_STAGE_TEXT)
    *(p->step == 0 ? &s->text_start : &s->text_end) = now;
  else if (p->stage == KE_STAGE_SAMPLE && p->step >= 0 && p->step <= MAX_STEPS)
    {
      s->step_t[p->step] = now;
      s->last_step = p->step;
    }
  else if (p->stage == KE_STAGE_DECODE)
    *(p->step == 0 ? &s->decode_start : &s->decode_end) = now;
}

static struct ke_tensor_set *
make_transformer (void *user, struct ke_error *err)
{
  struct maker *mk = user;
  const double t0 = bench_now ();
  struct ke_tensor_set *s = bench_ltx_random_transformer (mk->layers, mk->type, 0);
  mk->seconds += bench_now () - t0;
  if (!s)
    snprintf (err->msg, sizeof err->msg, "cannot make the random transformer weights (out of memory?)");
  err->code = s ? KE_STATUS_OK : KE_STATUS_NOMEM;
  return s;
}

static const struct
{
  const char *name;
  enum ke_dtype type;
} wtypes[] = {
  { "bf16", KE_DTYPE_BF16 }, { "f8_e4m3", KE_DTYPE_F8_E4M3 }, { "q8_0", KE_DTYPE_Q8_0 },
};

static void
usage (FILE *f)
{
  fprintf (f, "usage: kinora-bench ltx-generate --random [--weights-type bf16|f8_e4m3|q8_0] [--backend cpu|cuda]\n"
              "       [--precision bf16|fp8]   (fp8: the transformer's fp8 path on a GPU with fp8 units)\n"
              "       [--vram GiB] [--size WxH] [--frames N] [--release 0.9.7|0.9.8] [--runs N] [--threads N]\n"
              "       [--layers N]   (fewer transformer blocks than 48: a quick check, not a figure)\n"
              "       [--keep]       (runs after the first reuse the model as an app does between jobs: T5 and\n"
              "                       the transformer stay, the prompt comes from the encoder's cache)\n"
              "  a whole LTX-Video 13B distilled clip with random weights at the real shapes (default 1216x704,\n"
              "  121 frames; --weights-type: the transformer's block linears, the rest bf16)\n");
}

/* The stage figures of one run. n1, n2: the passes' steps. */
static void
report (const struct stamps *s, int n1, int n2, double total, double made)
{
  const double *t = s->step_t;
  const double p1 = t[n1] - t[0], p2_later = n2 >= 2 ? (t[n1 + n2] - t[n1 + 1]) / (n2 - 1) : 0;
  /* between the first pass's last step and the second pass's first one: the upsampler, AdaIN and the
   * second pass's noise, then one forward (and its RoPE table) */
  const double gap = t[n1 + 1] - t[n1];
  printf ("  T5 (prompt)                  %8.2f s\n", s->text_end - s->text_start);
  printf ("  transformer set-up           %8.2f s (prepare/upload; weight making left out)\n",
          t[0] - s->text_end - made);
  printf ("  first pass, per step         %8.2f s (%d steps, %.2f s; the first %.2f s)\n", p1 / n1, n1, p1,
          t[1] - t[0]);
  printf ("  upsampler (derived)          %8.2f s (gap between the passes less one later second-pass step)\n",
          gap - p2_later);
  printf ("  second pass, per step        %8.2f s (%d steps, %.2f s; later steps %.2f s)\n",
          (t[n1 + n2] - t[n1] - (gap - p2_later)) / n2, n2, t[n1 + n2] - t[n1] - (gap - p2_later), p2_later);
  printf ("  VAE decode                   %8.2f s\n", s->decode_end - s->decode_start);
  printf ("  total                        %8.2f s (weight making left out)\n", total - made);
}

int
kinora_bench_ltx_generate (int argc, char **argv)
{
  static const char cmd[] = "kinora-bench ltx-generate";
  const char *backend = "cpu", *release = "0.9.8";
  /* the distilled config's defaults (model-caps.c): 1216x704, 121 frames */
  int w = 1216, h = 704, frames = 121, threads = 0, runs = 1, random = 0, layers = 48, keep = 0;
  double vram = 0;
  int prec = KE_PRECISION_BF16;
  enum ke_dtype wtype = KE_DTYPE_BF16;
  const char *wname = "bf16";
  static const struct option options[] = {
    { "random", no_argument, NULL, 'R' },
    { "weights-type", required_argument, NULL, 'w' },
    { "backend", required_argument, NULL, 'b' },
    { "vram", required_argument, NULL, 'v' },
    { "size", required_argument, NULL, 's' },
    { "frames", required_argument, NULL, 'f' },
    { "release", required_argument, NULL, 'l' },
    { "runs", required_argument, NULL, 'r' },
    { "threads", required_argument, NULL, 't' },
    { "layers", required_argument, NULL, 'L' },
    { "keep", no_argument, NULL, 'k' },
    { "precision", required_argument, NULL, 'P' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long (argc, argv, ":", options, NULL)) != -1)
    {
      bool ok = true;
      switch (c)
        {
        case 'R': random = 1; break;
        case 'k': keep = 1; break;
        case 'h': usage (stdout); return 0;
        case 'b': backend = optarg; break;
        case 'P': ok = kinora_arg_precision (cmd, "--precision", optarg, false, &prec); break;
        case 'v': ok = kinora_arg_vram (cmd, "--vram", optarg, &vram); break;
        case 's': ok = kinora_arg_size (cmd, "--size", optarg, 1, KE_MAX_SIDE, &w, &h); break;
        case 'f': ok = kinora_arg_int (cmd, "--frames", optarg, 1, KE_MAX_FRAMES, &frames); break;
        case 'r': ok = kinora_arg_int (cmd, "--runs", optarg, 1, 100, &runs); break;
        case 't': ok = kinora_arg_int (cmd, "--threads", optarg, 0, 4096, &threads); break;
        case 'L': ok = kinora_arg_int (cmd, "--layers", optarg, 1, 48, &layers); break;
        case 'l':
          if (strcmp (optarg, "0.9.7") != 0 && strcmp (optarg, "0.9.8") != 0)
            {
              fprintf (stderr, "%s: --release %s: use 0.9.7 or 0.9.8\n", cmd, optarg);
              return 2;
            }
          release = optarg;
          break;
        case 'w':
          ok = false;
          for (size_t i = 0; i < sizeof wtypes / sizeof wtypes[0]; i++)
            if (strcmp (optarg, wtypes[i].name) == 0)
              {
                wtype = wtypes[i].type;
                wname = wtypes[i].name;
                ok = true;
              }
          if (!ok)
            fprintf (stderr, "%s: --weights-type %s: use bf16, f8_e4m3 or q8_0\n", cmd, optarg);
          break;
        default: return kinora_arg_usage_error (cmd, c, argc, argv, options);
        }
      if (!ok)
        return 2;
    }
  if (optind < argc)
    return kinora_arg_usage_error (cmd, 0, argc, argv, options);
  if (!random)
    {
      fprintf (stderr, "%s: give --random (random weights at the real shapes; no files are read)\n", cmd);
      return 2;
    }
  if (threads > 0)
    ke_set_threads (threads);

  /* T5, the VAE decoder and the upsampler now; the transformer when the model asks (after T5) */
  struct ke_error err = { 0 };
  double t0 = bench_now ();
  struct ke_tensor_set *t5 = bench_ltx_random_t5xxl ();
  struct ke_tensor_set *vae = bench_ltx_random_vae_decoder ();
  struct ke_tensor_set *ups = bench_ltx_random_upsampler ();
  double t_made = bench_now () - t0;
  ke_model_t *m = NULL;
  if (!t5 || !vae || !ups || ke_ltx_model_from_sets (&m, NULL, vae, ups, t5, release, !keep, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "%s: %s\n", cmd, err.msg[0] ? err.msg : "out of memory for the random weights");
      return 1;
    }
  struct maker mk = { wtype, layers, 0 };
  ke_ltx_model_set_transformer_maker (m, make_transformer, &mk);

  struct ke_gen_params p = ke_gen_params_default (KE_TASK_LTXV);
  /* 63 characters: with the fixed tokenizer of in-memory models, 64 T5 tokens (ltx-sets.c) */
  p.prompt = "A red fox trots through fresh snow in a pine forest at sunrise..";
  p.width = w;
  p.height = h;
  p.n_frames = frames;
  p.seed = 42;
  p.precision = (enum ke_precision) prec;
  p.backend = backend;
  p.vram_gib = (float) vram;
  p.text_cache_dir = NULL;
  const int n1 = m->ltx->cfg.first.n_steps, n2 = m->ltx->cfg.second.n_steps;
  struct stamps s;
  struct ke_video *v = NULL;
  enum ke_status st = KE_STATUS_OK;
  for (int run = 0; run < runs && st == KE_STATUS_OK; run++)
    {
      if (run > 0 && !keep)
        {
          /* the previous run freed T5 and holds the transformer: drop it, then a new T5 */
          ke_ltx_model_drop_transformer (m);
          t0 = bench_now ();
          struct ke_tensor_set *t5n = bench_ltx_random_t5xxl ();
          t_made = bench_now () - t0;
          if (!t5n || ke_ltx_model_set_text_encoder (m, t5n, &err) != KE_STATUS_OK)
            {
              st = KE_STATUS_NOMEM;
              break;
            }
        }
      if (run > 0 && keep)
        t_made = 0;
      memset (&s, 0, sizeof s);
      mk.seconds = 0;
      p.progress = progress_cb;
      p.user_data = &s;
      ke_video_free (v);
      v = NULL;
      t0 = bench_now ();
      st = ke_generate (m, &p, &v, &err);
      const double total = bench_now () - t0;
      if (st != KE_STATUS_OK)
        break;
      if (run == 0)
        printf ("kinora-bench ltx-generate: LTX-Video 13B %s distilled (%d of 48 blocks), %dx%d, %d frames, block "
                "linears %s, %s backend, precision %s (the transformer ran %s), %d + %d steps, %d threads, BLAS %s\n",
                release, layers, v->width, v->height, v->n_frames, wname, backend,
                ke_precision_name ((enum ke_precision) prec), ke_precision_name (v->made_with->precision_used), n1,
                n2, ke_get_threads (), bench_blas_corename ());
      if (runs > 1)
        printf ("run %d of %d\n", run + 1, runs);
      printf ("  random weights made in       %8.2f s (not counted: T5, VAE, upsampler %.2f s; transformer %.2f s)\n",
              t_made + mk.seconds, t_made, mk.seconds);
      if (s.last_step != n1 + n2)
        printf ("  (the run stopped after %d of %d steps)\n", s.last_step, n1 + n2);
      else
        report (&s, n1, n2, total, mk.seconds);
    }
  if (st != KE_STATUS_OK)
    {
      fprintf (stderr, "%s: %s\n", cmd, err.msg);
      ke_video_free (v);
      ke_model_free (m);
      return 1;
    }
  printf ("  peak RSS                     %8.2f GiB\n", bench_peak_rss_gib ());
  struct ke_error berr = { 0 };
  struct ke_backend *be = strcmp (backend, "cpu") != 0 ? ke_backend_by_name (backend, &berr) : NULL;
  if (be && be->ops->memory)
    {
      size_t budget = 0, in_use = 0, peak = 0;
      be->ops->memory (be, &budget, &in_use, &peak);
      printf ("  device allocator peak        %8.2f GiB (budget %.2f GiB)\n", peak / 1073741824.0,
              budget / 1073741824.0);
    }
  if (be && be->ops->stats)
    {
      struct ke_backend_stats bs = { 0 };
      be->ops->stats (be, &bs);
      printf ("  device weights               %8.2f GiB (resident at the end)\n", bs.bytes_weights / 1073741824.0);
    }
  ke_video_free (v);
  ke_model_free (m);
  return 0;
}
