/* bench-ltx-transformer.c: kinora-bench ltx-transformer — one LTX-Video 13B transformer forward at the
 * real shapes with random bf16 weights (tests/ltx/bench-torch.py times the official module the same way).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "backends/backend.h"
#include "backends/profile.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "models/ltx/ltx-transformer.h"
#include "args.h"
#include "bench.h"

/* The 13B distilled checkpoint's transformer section (ltxv-13b-0.9.8-distilled). */
static const char config_13b[] =
  "{\"transformer\": {\"num_layers\": 48, \"num_attention_heads\": 32, \"attention_head_dim\": 128,"
  " \"in_channels\": 128, \"out_channels\": 128, \"caption_channels\": 4096, \"cross_attention_dim\": 4096,"
  " \"activation_fn\": \"gelu-approximate\", \"adaptive_norm\": \"single_scale_shift\","
  " \"standardization_norm\": \"rms_norm\", \"qk_norm\": \"rms_norm\", \"norm_elementwise_affine\": false,"
  " \"attention_bias\": true, \"norm_eps\": 1e-06, \"positional_embedding_type\": \"rope\","
  " \"positional_embedding_theta\": 10000.0, \"positional_embedding_max_pos\": [20, 2048, 2048],"
  " \"timestep_scale_multiplier\": 1000, \"causal_temporal_positioning\": true}}";

static double
cpu_seconds (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void
log_to_stderr (int level, const char *msg, void *user)
{
  (void) user;
  if (level <= 2)
    fprintf (stderr, "%s\n", msg);
}

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint32_t
rng_next (void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t) (rng_state >> 32);
}

static float
rnd (float amp)
{
  return (float) ((int32_t) rng_next ()) / 2147483648.0f * amp;
}

/* Random bf16 data for one tensor shape, shared by every block: the speed does not depend on the
 * values, and the host then holds one block (0.5 GiB) instead of 26 GiB (each block's Linear is still
 * prepared, i.e. converted or uploaded, on its own). */
struct shared_data
{
  int64_t n;
  float amp;
  uint16_t *d;
};

static uint16_t *
data_for (struct shared_data *pool, int *n_pool, int64_t n, float amp, struct ke_tensor_set *s)
{
  for (int i = 0; i < *n_pool; i++)
    if (pool[i].n == n && pool[i].amp == amp)
      return pool[i].d;
  if (*n_pool >= 32)
    return NULL;   /* more distinct (size, amplitude) pairs than the pool holds (the model has 12) */
  uint16_t *d = malloc ((size_t) n * sizeof (uint16_t));
  if (!d || ke_tset_own_malloc (s, d) != 0)
    {
      free (d);
      return NULL;
    }
  for (int64_t i = 0; i < n; i++)
    d[i] = ke_f32_to_bf16 (rnd (amp));
  pool[*n_pool].n = n;
  pool[*n_pool].amp = amp;
  pool[(*n_pool)++].d = d;
  return d;
}

static struct ke_tensor_set *
random_weights (const struct ke_ltx_dit_config *c, int layers)
{
  struct ke_tensor_set *s = ke_tset_new ("random-ltx-13b");
  struct shared_data pool[32];
  int n_pool = 0;
  struct ke_error err = { 0 };
  const int64_t D = c->inner_dim, FF = c->ffn_dim;
  struct
  {
    const char *name;
    int64_t o, i;   /* i == 0: a vector of o */
  } top[] = {
    { "patchify_proj", D, c->in_channels },
    { "adaln_single.emb.timestep_embedder.linear_1", D, c->freq_dim },
    { "adaln_single.emb.timestep_embedder.linear_2", D, D },
    { "adaln_single.linear", 6 * D, D },
    { "caption_projection.linear_1", D, c->caption_channels },
    { "caption_projection.linear_2", D, D },
    { "proj_out", c->out_channels, D },
  }, blk[] = {
    { "attn1.to_q", D, D }, { "attn1.to_k", D, D }, { "attn1.to_v", D, D }, { "attn1.to_out.0", D, D },
    { "attn2.to_q", D, D }, { "attn2.to_k", D, D }, { "attn2.to_v", D, D }, { "attn2.to_out.0", D, D },
    { "ff.net.0.proj", FF, D }, { "ff.net.2", D, FF },
  };
  char name[160];
#define ADD(nm, nd, shape, amp)                                                                          \
  do                                                                                                     \
    {                                                                                                    \
      int64_t n_ = 1;                                                                                    \
      for (int k_ = 0; k_ < (nd); k_++)                                                                  \
        n_ *= (shape)[k_];                                                                               \
      uint16_t *d_ = data_for (pool, &n_pool, n_, (amp), s);                                             \
      if (!d_ || !ke_tset_add (s, (nm), KE_DTYPE_BF16, (nd), (shape), d_, &err))                         \
        {                                                                                                \
          fprintf (stderr, "kinora-bench ltx-transformer: cannot build the random weights %s\n", err.msg); \
          ke_tset_free (s);                                                                              \
          return NULL;                                                                                   \
        }                                                                                                \
    }                                                                                                    \
  while (0)
  for (int l = -1; l < layers; l++)
    {
      const size_t n_lin = l < 0 ? sizeof top / sizeof top[0] : sizeof blk / sizeof blk[0];
      for (size_t k = 0; k < n_lin; k++)
        {
          const char *base = l < 0 ? top[k].name : blk[k].name;
          const int64_t o = l < 0 ? top[k].o : blk[k].o, in = l < 0 ? top[k].i : blk[k].i;
          const int64_t ws[2] = { o, in }, bs[1] = { o };
          char pre[48] = "";
          if (l >= 0)
            snprintf (pre, sizeof pre, "transformer_blocks.%d.", l);
          snprintf (name, sizeof name, "%s%s.weight", pre, base);
          ADD (name, 2, ws, 1.0f / 64.0f);
          snprintf (name, sizeof name, "%s%s.bias", pre, base);
          ADD (name, 1, bs, 0.01f);
        }
      if (l >= 0)
        {
          const int64_t s6[2] = { 6, D }, s1[1] = { D };
          snprintf (name, sizeof name, "transformer_blocks.%d.scale_shift_table", l);
          ADD (name, 2, s6, 0.1f);
          const char *norms[] = { "attn1.q_norm", "attn1.k_norm", "attn2.q_norm", "attn2.k_norm" };
          for (int k = 0; k < 4; k++)
            {
              snprintf (name, sizeof name, "transformer_blocks.%d.%s.weight", l, norms[k]);
              ADD (name, 1, s1, 1.0f);
            }
        }
    }
  const int64_t s2[2] = { 2, D };
  ADD ("scale_shift_table", 2, s2, 0.1f);
#undef ADD
  return s;
}

int
kinora_bench_ltx_transformer (int argc, char **argv)
{
  const char *backend = "cpu";
  int w = 1216, h = 704, frames = 121, threads = 0, repeat = 1, layers = 48, random = 0, exact = 0, profile = 0;
  int text_tokens = 256, text_kept = 64;
  static const char cmd[] = "kinora-bench ltx-transformer";
  static const struct option options[] = {
    { "random", no_argument, NULL, 'R' },
    { "exact", no_argument, NULL, 'e' },
    { "size", required_argument, NULL, 's' },
    { "frames", required_argument, NULL, 'f' },
    { "threads", required_argument, NULL, 't' },
    { "repeat", required_argument, NULL, 'r' },
    { "layers", required_argument, NULL, 'l' },
    { "backend", required_argument, NULL, 'b' },
    { "profile", no_argument, NULL, 'p' },
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
        case 'p': profile = 1; break;
        case 'e': exact = 1; break;
        case 's': ok = kinora_arg_size (cmd, "--size", optarg, 1, KE_MAX_SIDE, &w, &h); break;
        case 'f': ok = kinora_arg_int (cmd, "--frames", optarg, 1, KE_MAX_FRAMES, &frames); break;
        case 't': ok = kinora_arg_int (cmd, "--threads", optarg, 0, 4096, &threads); break;
        case 'r': ok = kinora_arg_int (cmd, "--repeat", optarg, 1, 1000, &repeat); break;
        case 'l': ok = kinora_arg_int (cmd, "--layers", optarg, 1, 48, &layers); break;
        case 'b': backend = optarg; break;
        default: return kinora_arg_usage_error (cmd, c, argc, argv, options);
        }
      if (!ok)
        return 2;
    }
  if (optind < argc)
    return kinora_arg_usage_error (cmd, 0, argc, argv, options);
  if (!random)
    {
      fprintf (stderr, "%s: only --random weights are supported (random bf16 at the 13B shapes)\n", cmd);
      return 2;
    }
  if ((frames - 1) % 8 != 0 || w % 32 != 0 || h % 32 != 0)
    {
      fprintf (stderr, "%s: frames must be 8n+1 and the size a multiple of 32\n", cmd);
      return 2;
    }
  if (threads > 0)
    ke_set_threads (threads);
  struct ke_error err = { 0 };
  struct ke_ltx_dit_config cfg;
  if (ke_ltx_dit_config_parse (&cfg, config_13b, "13B config", &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "%s: %s\n", cmd, err.msg);
      return 1;
    }
  struct ke_backend *be = ke_backend_by_name (backend, &err);
  if (!be)
    {
      fprintf (stderr, "%s: %s\n", cmd, err.msg);
      return 1;
    }
  if (!exact && be == ke_backend_cpu ())
    be = ke_backend_cpu_fast ();
  /* --profile: a backend with its own (event-based, unsynchronised) profiler uses it, its per-op times
   * coming through the engine log; others get the synchronising wrapper */
  const int wrapped = profile && !be->ops->profile;
  if (wrapped && !(be = ke_backend_profile_wrap (be)))
    return 1;
  if (profile && !wrapped)
    ke_log_set (log_to_stderr, NULL);

  /* latent grid of the causal VAE (8x32x32) and the pipeline's fractional coords (frame rate 30) */
  const int F = (frames - 1) / 8 + 1, H = h / 32, W = w / 32;
  const int64_t N = (int64_t) F * H * W;
  printf ("model: LTX-Video 13B transformer (%d of %d layers), random bf16 weights\n", layers, cfg.num_layers);
  printf ("video: %dx%d, %d frames -> latent [128, %d, %d, %d], %lld tokens; text %d tokens (%d kept)\n", w, h,
          frames, F, H, W, (long long) N, text_tokens, text_kept);
  printf ("backend: %s, precision %s\n", be->ops->name, be->precision == KE_PRECISION_BF16 ? "bf16" : "fp32");
  fflush (stdout);

  cfg.num_layers = layers;
  double t0 = bench_now ();
  struct ke_tensor_set *ws = random_weights (&cfg, layers);
  if (!ws)
    return 1;
  char cfg_text[sizeof config_13b + 16];
  snprintf (cfg_text, sizeof cfg_text, "%s", config_13b);
  char *nl = strstr (cfg_text, "\"num_layers\": 48");
  if (nl)
    {
      char num[4];
      snprintf (num, sizeof num, "%2d", layers);
      memcpy (nl + strlen ("\"num_layers\": "), num, 2);
    }
  struct ke_ltx_dit *d = NULL;
  if (ke_ltx_dit_init (&d, ws, cfg_text, be, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "%s: %s\n", cmd, err.msg);
      return 1;
    }
  const double t_load = bench_now () - t0;

  float *x = malloc ((size_t) (N * 128) * sizeof (float));
  float *grid = malloc ((size_t) (3 * N) * sizeof (float));
  float *out = malloc ((size_t) (N * 128) * sizeof (float));
  float *text = malloc ((size_t) text_tokens * 4096 * sizeof (float));
  uint8_t keep[256];
  if (!x || !grid || !out || !text)
    return 1;
  for (int64_t i = 0; i < N * 128; i++)
    x[i] = rnd (1.0f);
  for (size_t i = 0; i < (size_t) text_tokens * 4096; i++)
    text[i] = rnd (0.2f);
  for (int i = 0; i < text_tokens; i++)
    keep[i] = i < text_kept;
  int64_t t = 0;
  for (int f = 0; f < F; f++)
    for (int y = 0; y < H; y++)
      for (int xx = 0; xx < W; xx++, t++)
        {
          const int pf = 8 * f + 1 - 8;
          grid[t] = (float) (pf > 0 ? pf : 0) * (1.0f / 30.0f);
          grid[N + t] = (float) (32 * y);
          grid[2 * N + t] = (float) (32 * xx);
        }

  struct ke_ltx_dit_context *ctx = NULL;
  t0 = bench_now ();
  if (ke_ltx_dit_context_new (d, text, keep, text_tokens, &ctx, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "%s: %s\n", cmd, err.msg);
      return 1;
    }
  const double t_ctx = bench_now () - t0;
  const float tval = 1.0f;   /* the first distilled step */
  double *times = calloc ((size_t) repeat, sizeof (double));
  if (!times)
    return 1;
  if (wrapped)
    ke_backend_profile_reset (be);
  if (be->ops->stats)
    {
      struct ke_backend_stats st0;
      be->ops->stats (be, &st0);   /* the profile counts the forwards alone */
    }
  for (int r = 0; r < repeat; r++)
    {
      if (profile && !wrapped && r == (repeat > 1 ? 1 : 0))
        be->ops->profile (be, 1);   /* the first forward (plans, allocations, RoPE table) stays out when repeated */
      t0 = bench_now ();
      const double c0 = cpu_seconds ();
      if (ke_ltx_dit_forward (d, ctx, x, N, grid, &tval, 1, out, NULL, NULL, &err) != KE_STATUS_OK)
        {
          fprintf (stderr, "%s: %s\n", cmd, err.msg);
          return 1;
        }
      times[r] = bench_now () - t0;
      printf ("forward %d: %.3f s (process CPU time %.3f s)\n", r + 1, times[r], cpu_seconds () - c0);
      fflush (stdout);
    }
  qsort (times, (size_t) repeat, sizeof (double), bench_cmp_double);
  const double med = times[repeat / 2];
  /* FLOP: the block GEMMs (4 self + 2 cross q/o + FFN) and both attentions, plus proj in/out */
  const double Dd = cfg.inner_dim, Nn = (double) N;
  const double per_block = 2.0 * Nn * Dd * Dd * 6 + 2.0 * Nn * Dd * cfg.ffn_dim * 2 + 4.0 * Nn * Nn * Dd +
                           4.0 * Nn * text_kept * Dd;
  const double flops = per_block * layers + 2.0 * Nn * Dd * 128 * 2;
  printf ("weights build + prepare: %.2f s\n", t_load);
  printf ("text context (once per prompt): %.3f s\n", t_ctx);
  printf ("tokens: %lld\n", (long long) N);
  printf ("seconds per forward (median of %d): %.3f\n", repeat, med);
  if (layers != 48)
    printf ("seconds per forward, extrapolated to 48 layers: %.3f\n", med * 48 / layers);
  printf ("FLOP per forward (%d layers): %.3g, achieved %.1f GFLOP/s\n", layers, flops, flops / med * 1e-9);
  if (be->ops->stats)
    {
      struct ke_backend_stats st = { 0 };
      be->ops->stats (be, &st);
      printf ("device memory: weights %.2f GiB, peak %.2f GiB\n", st.bytes_weights / 1073741824.0,
              st.bytes_peak / 1073741824.0);
      const double tot = st.ms_gemm + st.ms_attention + st.ms_other;
      if (profile && !wrapped && tot > 0)
        {
          const int n_prof = repeat > 1 ? repeat - 1 : 1;
          printf ("time share: GEMM %.1f %%, attention %.1f %%, rest %.1f %% (%.3f s of device time per forward: "
                  "GEMM %.3f, attention %.3f, rest %.3f)\n",
                  100 * st.ms_gemm / tot, 100 * st.ms_attention / tot, 100 * st.ms_other / tot,
                  tot * 1e-3 / n_prof, st.ms_gemm * 1e-3 / n_prof, st.ms_attention * 1e-3 / n_prof,
                  st.ms_other * 1e-3 / n_prof);
        }
    }
  if (wrapped)
    {
      /* each op synchronised: the shares are of the profiled (slightly slower) runs */
      double pt[KE_PROF_COUNT], tot = 0;
      ke_backend_profile_get (be, pt);
      for (int i = 0; i < KE_PROF_COUNT; i++)
        tot += pt[i];
      if (tot > 0)
        printf ("time share: GEMM %.1f %%, attention %.1f %%, rest %.1f %% (%.3f s per forward profiled)\n",
                100 * pt[KE_PROF_GEMM] / tot, 100 * pt[KE_PROF_ATTENTION] / tot, 100 * pt[KE_PROF_OTHER] / tot,
                tot / repeat);
    }
  printf ("peak RSS: %.2f GiB\n", bench_peak_rss_gib ());
  ke_ltx_dit_context_free (ctx);
  ke_ltx_dit_free (d);
  ke_tset_free (ws);
  if (wrapped)
    ke_backend_profile_free (be);
  free (times);
  free (x);
  free (grid);
  free (out);
  free (text);
  return 0;
}
