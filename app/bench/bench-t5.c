/* bench-t5.c: kinora-bench t5 — the UMT5-XXL encoder at its real shapes with random bf16 weights:
 * seconds for a short and a long prompt, achieved GFLOP/s against this machine's sgemm rate, peak RSS.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <math.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/profile.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "models/te/umt5.h"
#include "args.h"
#include "bench.h"

/* UMT5-XXL */
#define T5_VOCAB 256384
#define T5_DIM 4096
#define T5_HEADS 64
#define T5_FFN 10240
#define T5_LAYERS 24
#define T5_BUCKETS 32

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static inline uint32_t
rng_next (void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t) (rng_state >> 32);
}

/* uniform values with a given mean and standard deviation, each range from its own seed */
struct fill_ctx
{
  uint16_t *p;
  float mean, a;
  uint64_t seed;
};

static void
fill_range (void *ctx, int64_t i0, int64_t i1, int tid)
{
  (void) tid;
  const struct fill_ctx *c = ctx;
  uint64_t s = c->seed ^ ((uint64_t) i0 * 0x9e3779b97f4a7c15ull) ^ 1;
  for (int64_t i = i0; i < i1; i++)
    {
      s ^= s << 13;
      s ^= s >> 7;
      s ^= s << 17;
      c->p[i] = ke_f32_to_bf16 (c->mean + (float) ((int32_t) (s >> 32)) * c->a);
    }
}

static int
add_random (struct ke_tensor_set *s, const char *name, int nd, const int64_t *shape, float mean, float std)
{
  size_t n = 1;
  for (int i = 0; i < nd; i++)
    n *= (size_t) shape[i];
  uint16_t *p = malloc (n * sizeof (uint16_t));
  struct ke_error err = { 0 };
  if (!p || ke_tset_own_malloc (s, p) < 0 || !ke_tset_add (s, name, KE_DTYPE_BF16, nd, shape, p, &err))
    {
      free (p);
      fprintf (stderr, "kinora-bench t5: out of memory building random weights (%s)\n", name);
      return -1;
    }
  struct fill_ctx c = { p, mean, std * 1.7320508f / 2147483648.0f, rng_next () };
  ke_parallel_for ((int64_t) n, 1 << 16, fill_range, &c);
  return 0;
}

static struct ke_tensor_set *
random_t5 (int layers)
{
  struct ke_tensor_set *s = ke_tset_new ("random weights");
  const int64_t D = T5_DIM, F = T5_FFN;
  char n[128];
  int rc = add_random (s, "token_embedding.weight", 2, (int64_t[]) { T5_VOCAB, D }, 0, 1.0f)
           | add_random (s, "norm.weight", 1, (int64_t[]) { D }, 1.0f, 0.05f);
  for (int i = 0; i < layers && rc == 0; i++)
    {
      const char *attn[4] = { "q", "k", "v", "o" };
      for (int j = 0; j < 4; j++)
        {
          snprintf (n, sizeof n, "blocks.%d.attn.%s.weight", i, attn[j]);
          rc |= add_random (s, n, 2, (int64_t[]) { D, D }, 0, 1.0f / sqrtf ((float) D));
        }
      snprintf (n, sizeof n, "blocks.%d.ffn.gate.0.weight", i);
      rc |= add_random (s, n, 2, (int64_t[]) { F, D }, 0, 1.0f / sqrtf ((float) D));
      snprintf (n, sizeof n, "blocks.%d.ffn.fc1.weight", i);
      rc |= add_random (s, n, 2, (int64_t[]) { F, D }, 0, 1.0f / sqrtf ((float) D));
      snprintf (n, sizeof n, "blocks.%d.ffn.fc2.weight", i);
      rc |= add_random (s, n, 2, (int64_t[]) { D, F }, 0, 1.0f / sqrtf ((float) F));
      snprintf (n, sizeof n, "blocks.%d.pos_embedding.embedding.weight", i);
      rc |= add_random (s, n, 2, (int64_t[]) { T5_BUCKETS, T5_HEADS }, 0, 0.5f);
      snprintf (n, sizeof n, "blocks.%d.norm1.weight", i);
      rc |= add_random (s, n, 1, (int64_t[]) { D }, 1.0f, 0.05f);
      snprintf (n, sizeof n, "blocks.%d.norm2.weight", i);
      rc |= add_random (s, n, 1, (int64_t[]) { D }, 1.0f, 0.05f);
    }
  if (rc)
    {
      ke_tset_free (s);
      return NULL;
    }
  return s;
}

static int
time_prompt (struct ke_umt5 *m, int L, int repeat, double *best, double *gflops)
{
  int64_t *ids = malloc ((size_t) L * sizeof (int64_t));
  float *h = malloc ((size_t) L * T5_DIM * sizeof (float));
  struct ke_error err = { 0 };
  if (!ids || !h)
    return -1;
  for (int i = 0; i < L; i++)
    ids[i] = i == L - 1 ? 1 : 2 + (int64_t) (rng_next () % 256000);
  *best = 1e30;
  for (int r = 0; r < repeat; r++)
    {
      double t0 = bench_now ();
      if (ke_umt5_encode (m, h, ids, NULL, L, NULL, &err) != KE_STATUS_OK)
        {
          fprintf (stderr, "kinora-bench t5: %s\n", err.msg);
          return -1;
        }
      double dt = bench_now () - t0;
      printf ("  %d tokens, run %d: %.3f s\n", L, r + 1, dt);
      fflush (stdout);
      if (dt < *best)
        *best = dt;
    }
  *gflops = ke_umt5_flops (&m->cfg, L) / *best * 1e-9;
  free (ids);
  free (h);
  return 0;
}

int
kinora_bench_t5 (int argc, char **argv)
{
  const char *backend = "cpu";
  int threads = 0, layers = T5_LAYERS, tokens = 0, repeat = 2, exact = 0, random = 0, profile = 0;
  static const char cmd[] = "kinora-bench t5";
  static const struct option options[] = {
    { "random", no_argument, NULL, 'R' },
    { "exact", no_argument, NULL, 'e' },
    { "profile", no_argument, NULL, 'p' },
    { "threads", required_argument, NULL, 't' },
    { "layers", required_argument, NULL, 'l' },
    { "tokens", required_argument, NULL, 'k' },
    { "repeat", required_argument, NULL, 'r' },
    { "backend", required_argument, NULL, 'b' },
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
        case 'e': exact = 1; break;
        case 'p': profile = 1; break;
        case 't': ok = kinora_arg_int (cmd, "--threads", optarg, 0, 4096, &threads); break;
        case 'l': ok = kinora_arg_int (cmd, "--layers", optarg, 1, T5_LAYERS, &layers); break;
        case 'k': ok = kinora_arg_int (cmd, "--tokens", optarg, 1, 4096, &tokens); break;
        case 'r': ok = kinora_arg_int (cmd, "--repeat", optarg, 1, 1000, &repeat); break;
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
      fprintf (stderr, "usage: kinora-bench t5 --random [--threads N] [--tokens N] [--layers N] [--repeat N] "
                       "[--exact] [--profile] [--backend cpu|cuda]\n"
                       "  random bf16 weights at the UMT5-XXL shapes (all 24 layers: 11.4 GB, plus the\n"
                       "  backend's prepared copies); --layers N builds fewer and extrapolates\n");
      return 2;
    }
  if (layers < 1 || layers > T5_LAYERS || repeat < 1 || tokens < 0 || tokens > 4096)
    {
      fprintf (stderr, "kinora-bench t5: --layers 1..24, --repeat >= 1, --tokens 1..4096\n");
      return 2;
    }
  if (threads > 0)
    ke_set_threads (threads);
  struct ke_error err = { 0 };
  struct ke_backend *be = ke_backend_by_name (backend, &err);
  if (!be)
    {
      fprintf (stderr, "kinora-bench t5: %s\n", err.msg);
      return 1;
    }
  if (!exact && be == ke_backend_cpu ())
    be = ke_backend_cpu_fast ();
  /* every op synchronised and timed by class: the shares below are of those (slightly slower) runs */
  if (profile)
    be = ke_backend_profile_wrap (be);

  /* this machine's sgemm rate, measured in this process before the model takes the memory */
  double sgemm = bench_sgemm_gflops (2048);
  printf ("model: UMT5-XXL encoder (%d of %d layers), random bf16 weights\n", layers, T5_LAYERS);
  printf ("backend: %s, precision %s, threads %d\n", be->ops->name,
          be->precision == KE_PRECISION_BF16 ? "bf16" : "fp32", ke_get_threads ());
  fflush (stdout);

  double t0 = bench_now ();
  struct ke_tensor_set *ws = random_t5 (layers);
  if (!ws)
    return 1;
  struct ke_umt5 *m = NULL;
  if (ke_umt5_init (&m, ws, be, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-bench t5: %s\n", err.msg);
      ke_tset_free (ws);
      return 1;
    }
  printf ("weights build + prepare: %.2f s\n", bench_now () - t0);
  /* bf16 bytes: embedding + norm, and per layer 4 D^2 + 3 D F + norms + position table */
  const double per_layer = 2.0 * (4.0 * T5_DIM * T5_DIM + 3.0 * T5_DIM * T5_FFN + 2.0 * T5_DIM + T5_BUCKETS * T5_HEADS);
  const double outside = 2.0 * ((double) T5_VOCAB * T5_DIM + T5_DIM);
  printf ("weights: %.2f GiB here, %.2f GiB with all %d layers\n", (outside + layers * per_layer) / 1073741824.0,
          (outside + T5_LAYERS * per_layer) / 1073741824.0, T5_LAYERS);

  int lens[3] = { 40, 512, tokens };
  int n_lens = tokens > 0 ? 3 : 2;
  /* one untimed short run: first-use weight reordering and page faults */
  double warm, warm_g;
  if (time_prompt (m, 8, 1, &warm, &warm_g) < 0)
    return 1;
  const double scale = (double) T5_LAYERS / layers;
  for (int i = 0; i < n_lens; i++)
    {
      double best, gflops;
      if (profile)
        ke_backend_profile_reset (be);
      if (time_prompt (m, lens[i], repeat, &best, &gflops) < 0)
        return 1;
      if (profile)
        {
          double pt[KE_PROF_COUNT], tot = 0;
          ke_backend_profile_get (be, pt);
          for (int k = 0; k < KE_PROF_COUNT; k++)
            tot += pt[k];
          printf ("  time share: GEMM %.1f %%, attention %.1f %%, rest %.1f %%\n", 100 * pt[KE_PROF_GEMM] / tot,
                  100 * pt[KE_PROF_ATTENTION] / tot, 100 * pt[KE_PROF_OTHER] / tot);
        }
      printf ("%d-token prompt: %.3f s (best of %d)", lens[i], best, repeat);
      if (layers != T5_LAYERS)
        printf (", extrapolated to %d layers: %.3f s", T5_LAYERS, best * scale);
      printf (", %.1f GFLOP/s (%.2f of sgemm)\n", gflops, sgemm > 0 ? gflops / sgemm : 0.0);
    }
  printf ("OpenBLAS sgemm 2048^3 in this process: %.1f GFLOP/s (core: %s)\n", sgemm, bench_blas_corename ());
  const double rss = bench_peak_rss_gib ();
  printf ("peak RSS: %.2f GiB", rss);
  if (layers != T5_LAYERS)
    printf (" (with all %d layers about %.2f GiB: the missing layers' weights added)", T5_LAYERS,
            rss + (T5_LAYERS - layers) * per_layer / 1073741824.0);
  printf ("\n");
  ke_umt5_free (m);
  ke_tset_free (ws);
  if (profile)
    ke_backend_profile_free (be);
  return 0;
}
