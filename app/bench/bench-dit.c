/* bench-dit.c: kinora-bench dit — one Wan DiT forward at the real shapes with random weights.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <math.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backends/backend.h"
#include "backends/profile.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "models/common/lora.h"
#include "models/dit/wan.h"
#include "pipeline/tiny-impl.h"
#include "args.h"
#include "bench.h"

struct model_shape
{
  const char *name;
  const char *type;
  int dim, ffn, heads, layers, in_dim, out_dim, z, stride;
};

static const struct model_shape shapes[] = {
  { "ti2v-5B", "ti2v", 3072, 14336, 24, 30, 48, 48, 48, 16 },
  { "t2v-A14B", "t2v", 5120, 13824, 40, 40, 16, 16, 16, 8 },
  { "i2v-A14B", "i2v", 5120, 13824, 40, 40, 36, 16, 16, 8 },
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static inline uint32_t
rng_next (void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t) (rng_state >> 32);
}

/* Random bf16 weights with the official tensor names and shapes, every block its own. */
static struct ke_tensor_set *
random_dit (const struct model_shape *m, int layers)
{
  struct ke_dit_config c;
  memset (&c, 0, sizeof c);
  snprintf (c.model_type, sizeof c.model_type, "%s", m->type);
  c.patch_t = 1;
  c.patch_h = c.patch_w = 2;
  c.in_dim = m->in_dim;
  c.out_dim = m->out_dim;
  c.dim = m->dim;
  c.ffn_dim = m->ffn;
  c.freq_dim = 256;
  c.text_dim = 4096;
  c.text_len = 512;
  c.num_heads = m->heads;
  c.num_layers = layers;
  c.eps = 1e-6f;
  c.qk_norm = c.cross_attn_norm = true;
  struct ke_random_opts o = { .type = KE_DTYPE_BF16 };
  struct ke_tensor_set *s = NULL;
  struct ke_error err = { 0 };
  if (ke_random_dit_weights (&s, &c, &o, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-bench dit: %s\n", err.msg);
      return NULL;
    }
  return s;
}

/* A random LoRA of rank r on every Linear of the blocks (what the Lightning LoRAs cover), bf16, in memory:
 * ComfyUI keys with alpha = r (scale 1). NULL on failure. */
static struct ke_lora_file *
random_lora (const struct ke_tensor_set *ws, int r)
{
  struct ke_tensor_set *s = ke_tset_new ("random-lora");
  struct ke_error err = { 0 };
  if (!s)
    return NULL;
  for (int i = 0; i < ke_tset_count (ws); i++)
    {
      const struct ke_tensor *t = ke_tset_at (ws, i);
      size_t l = strlen (t->name);
      if (t->n_dims != 2 || strncmp (t->name, "blocks.", 7) != 0 || l < 8 || strcmp (t->name + l - 7, ".weight") != 0)
        continue;
      const int64_t out = t->ne[1], in = t->ne[0];
      const int64_t shapes[2][2] = { { r, in }, { out, r } };
      const char *parts[2] = { "lora_down.weight", "lora_up.weight" };
      for (int k = 0; k < 2; k++)
        {
          const size_t n = (size_t) (shapes[k][0] * shapes[k][1]);
          uint16_t *d = malloc (n * sizeof *d);
          char key[256];
          if (!d || ke_tset_own_malloc (s, d) < 0)
            {
              free (d);
              ke_tset_free (s);
              return NULL;
            }
          const float amp = k == 0 ? 1.0f / sqrtf ((float) in) : 0.01f;
          for (size_t j = 0; j < n; j++)
            d[j] = ke_f32_to_bf16 ((float) ((int32_t) rng_next ()) / 2147483648.0f * amp);
          snprintf (key, sizeof key, "diffusion_model.%.*s.%s", (int) (l - 7), t->name, parts[k]);
          if (!ke_tset_add (s, key, KE_DTYPE_BF16, 2, shapes[k], d, &err))
            {
              ke_tset_free (s);
              return NULL;
            }
        }
    }
  struct ke_lora_file *f = NULL;
  if (ke_lora_from_set (&f, s, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-bench dit: %s\n", err.msg);
      return NULL;
    }
  return f;
}

int
kinora_bench_dit (int argc, char **argv)
{
  const char *model = "ti2v-5B", *backend = "cpu";
  int w = 256, h = 256, frames = 17, threads = 0, repeat = 3, layers = -1, exact = 0, profile = 0;
  int lora_rank = 0, lora_merge = 0;
  static const char cmd[] = "kinora-bench dit";
  static const struct option options[] = {
    { "exact", no_argument, NULL, 'e' },
    { "profile", no_argument, NULL, 'p' },
    { "model", required_argument, NULL, 'm' },
    { "size", required_argument, NULL, 's' },
    { "frames", required_argument, NULL, 'f' },
    { "threads", required_argument, NULL, 't' },
    { "repeat", required_argument, NULL, 'r' },
    { "layers", required_argument, NULL, 'l' },
    { "backend", required_argument, NULL, 'b' },
    { "lora-rank", required_argument, NULL, 'R' },
    { "lora-merge", no_argument, NULL, 'M' },
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
        case 'e': exact = 1; break;
        case 'p': profile = 1; break;
        case 'm': model = optarg; break;
        case 's': ok = kinora_arg_size (cmd, "--size", optarg, 1, KE_MAX_SIDE, &w, &h); break;
        case 'f': ok = kinora_arg_int (cmd, "--frames", optarg, 1, KE_MAX_FRAMES, &frames); break;
        case 't': ok = kinora_arg_int (cmd, "--threads", optarg, 0, 4096, &threads); break;
        case 'r': ok = kinora_arg_int (cmd, "--repeat", optarg, 1, 1000, &repeat); break;
        case 'l': ok = kinora_arg_int (cmd, "--layers", optarg, 1, 100, &layers); break;
        case 'b': backend = optarg; break;
        case 'R': ok = kinora_arg_int (cmd, "--lora-rank", optarg, 1, 4096, &lora_rank); break;
        case 'M': lora_merge = 1; break;
        default: return kinora_arg_usage_error (cmd, c, argc, argv, options);
        }
      if (!ok)
        return 2;
    }
  if (optind < argc)
    return kinora_arg_usage_error (cmd, 0, argc, argv, options);
  const struct model_shape *m = NULL;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    if (strcasecmp (model, shapes[i].name) == 0)
      m = &shapes[i];
  if (!m)
    {
      fprintf (stderr, "kinora-bench dit: unknown model '%s' (ti2v-5B, t2v-A14B, i2v-A14B)\n", model);
      return 2;
    }
  if (frames < 1 || (frames - 1) % 4 != 0 || w % (m->stride * 2) || h % (m->stride * 2) || repeat < 1)
    {
      fprintf (stderr, "kinora-bench dit: frames must be 4n+1 and the size a multiple of %d\n", m->stride * 2);
      return 2;
    }
  if (layers < 0)
    layers = m->layers;
  if (threads > 0)
    ke_set_threads (threads);

  struct ke_error err = { 0 };
  struct ke_backend *be = ke_backend_by_name (backend, &err);
  if (!be)
    {
      fprintf (stderr, "kinora-bench dit: %s\n", err.msg);
      return 1;
    }
  if (!exact && be == ke_backend_cpu ())
    be = ke_backend_cpu_fast ();
  /* a backend with its own (event-based, unsynchronised) profiler uses it; others get the wrapper */
  int wrapped = profile && !be->ops->profile;
  if (wrapped)
    be = ke_backend_profile_wrap (be);

  /* this machine's sgemm rate, measured in this process before the model takes the memory */
  double sgemm = bench_sgemm_gflops (2048);

  const int F = (frames - 1) / 4 + 1, H = h / m->stride, W = w / m->stride;
  const long tokens = (long) F * (H / 2) * (W / 2);
  printf ("model: %s (%d of %d layers), random bf16 weights\n", m->name, layers, m->layers);
  printf ("video: %dx%d, %d frames -> latent [%d, %d, %d, %d], %ld tokens\n", w, h, frames, m->out_dim == 48 ? 48 : m->in_dim, F, H, W, tokens);
  printf ("backend: %s, precision %s, threads %d\n", be->ops->name, be->precision == KE_PRECISION_BF16 ? "bf16" : "fp32",
          ke_get_threads ());
  fflush (stdout);

  double t0 = bench_now ();
  struct ke_tensor_set *ws = random_dit (m, layers);
  if (!ws)
    return 1;
  struct ke_dit *dit = NULL;
  /* --lora-rank: a random LoRA on every block Linear, as run-time terms or (--lora-merge) merged */
  struct ke_lora_file *lora = lora_rank > 0 ? random_lora (ws, lora_rank) : NULL;
  struct ke_lora_use use = { lora, 1.0f };
  if (lora_rank > 0 && !lora)
    return 1;
  if (lora)
    printf ("LoRA: rank %d on every block Linear, %s\n", lora_rank, lora_merge ? "merged into the weights" : "run-time terms");
  if (ke_dit_init_lora (&dit, ws, NULL, be, &use, lora ? 1 : 0, lora_merge, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-bench dit: %s\n", err.msg);
      ke_tset_free (ws);
      return 1;
    }
  double t_load = bench_now () - t0;
  ke_lora_free (lora);   /* the model keeps its own copies */

  const struct ke_dit_config *cfg = ke_dit_get_config (dit);
  size_t nx = (size_t) m->in_dim * F * H * W;
  float *x = malloc (nx * sizeof (float));
  float *out = malloc ((size_t) m->out_dim * F * H * W * sizeof (float));
  float *text = malloc ((size_t) 512 * 4096 * sizeof (float));
  if (!x || !out || !text)
    return 1;
  for (size_t i = 0; i < nx; i++)
    x[i] = (float) ((int32_t) rng_next ()) / 2147483648.0f;
  for (size_t i = 0; i < (size_t) 512 * 4096; i++)
    text[i] = (float) ((int32_t) rng_next ()) / 2147483648.0f * 0.2f;

  struct ke_dit_context *ctx = NULL;
  t0 = bench_now ();
  if (ke_dit_context_new (dit, text, 100, &ctx, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-bench dit: %s\n", err.msg);
      return 1;
    }
  double t_ctx = bench_now () - t0;

  float tval = 900.0f;
  double *times = calloc ((size_t) repeat, sizeof (double));
  if (wrapped)
    ke_backend_profile_reset (be);
  struct ke_backend_stats bst = { 0 };
  if (be->ops->stats)
    be->ops->stats (be, &bst);   /* resets the peak to what is resident now */
  for (int r = 0; r < repeat; r++)
    {
      if (profile && !wrapped && r == (repeat > 1 ? 1 : 0))
        be->ops->profile (be, 1);   /* the first forward (plans, allocations) stays out when repeated */
      t0 = bench_now ();
      if (ke_dit_forward (dit, ctx, x, cfg->in_dim, NULL, 0, F, H, W, &tval, 1, out, NULL, NULL, &err) != KE_STATUS_OK)
        {
          fprintf (stderr, "kinora-bench dit: %s\n", err.msg);
          return 1;
        }
      times[r] = bench_now () - t0;
      printf ("forward %d: %.3f s\n", r + 1, times[r]);
      fflush (stdout);
    }
  qsort (times, (size_t) repeat, sizeof (double), bench_cmp_double);
  double med = times[repeat / 2];
  double flops = ke_dit_forward_flops (cfg, F, H, W, false);
  double gflops = flops / med * 1e-9;
  printf ("weights build + prepare: %.2f s\n", t_load);
  printf ("text context (once per prompt): %.3f s\n", t_ctx);
  printf ("tokens: %ld\n", tokens);
  printf ("seconds per forward (median of %d): %.3f\n", repeat, med);
  if (layers != m->layers)
    printf ("seconds per forward, extrapolated to %d layers: %.3f\n", m->layers, med * m->layers / layers);
  printf ("FLOP per forward: %.3g\n", flops);
  printf ("achieved: %.1f GFLOP/s\n", gflops);
  printf ("OpenBLAS sgemm 2048^3 in this process: %.1f GFLOP/s (core: %s)\n", sgemm, bench_blas_corename ());
  if (be->ops->stats)
    {
      be->ops->stats (be, &bst);
      printf ("device memory: weights %.2f GiB, peak %.2f GiB\n", bst.bytes_weights / 1073741824.0,
              bst.bytes_peak / 1073741824.0);
      if (profile && !wrapped)
        {
          double tot = bst.ms_gemm + bst.ms_attention + bst.ms_other;
          int n_prof = repeat > 1 ? repeat - 1 : 1;
          printf ("time share: GEMM %.1f %%, attention %.1f %%, rest %.1f %% (%.3f s of device time per forward: "
                  "GEMM %.3f, attention %.3f, rest %.3f)\n",
                  100 * bst.ms_gemm / tot, 100 * bst.ms_attention / tot, 100 * bst.ms_other / tot,
                  tot * 1e-3 / n_prof, bst.ms_gemm * 1e-3 / n_prof, bst.ms_attention * 1e-3 / n_prof,
                  bst.ms_other * 1e-3 / n_prof);
        }
    }
  if (wrapped)
    {
      /* each op synchronised: the shares are of the profiled (slightly slower) runs */
      double pt[KE_PROF_COUNT], tot = 0;
      ke_backend_profile_get (be, pt);
      for (int i = 0; i < KE_PROF_COUNT; i++)
        tot += pt[i];
      printf ("time share: GEMM %.1f %%, attention %.1f %%, rest %.1f %% (%.3f s per forward profiled)\n",
              100 * pt[KE_PROF_GEMM] / tot, 100 * pt[KE_PROF_ATTENTION] / tot, 100 * pt[KE_PROF_OTHER] / tot,
              tot / repeat);
    }
  printf ("peak RSS: %.2f GiB\n", bench_peak_rss_gib ());
  printf ("ratio to sgemm peak: %.2f\n", sgemm > 0 ? gflops / sgemm : 0.0);
  free (times);
  free (x);
  free (out);
  free (text);
  ke_dit_context_free (ctx);
  ke_dit_free (dit);
  ke_tset_free (ws);
  if (wrapped)
    ke_backend_profile_free (be);
  return 0;
}
