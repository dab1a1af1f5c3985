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

static double
cpu_seconds (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
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

int
kinora_bench_ltx_transformer (int argc, char **argv)
{
  const char *backend = "cpu";
  int w = 1216, h = 704, frames = 121, threads = 0, repeat = 1, layers = 48, random = 0, exact = 0, profile = 0;
  int text_tokens = 256, text_kept = 64;
  int prec = KE_PRECISION_BF16;   /* --precision bf16|fp8 (--exact: fp32 on the CPU) */
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
    { "precision", required_argument, NULL, 'P' },
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
        case 'P': ok = kinora_arg_precision (cmd, "--precision", optarg, false, &prec); break;
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
  char cfg_text[2048];
  bench_ltx_transformer_config (cfg_text, sizeof cfg_text, layers);
  if (ke_ltx_dit_config_parse (&cfg, cfg_text, "13B config", &err) != KE_STATUS_OK)
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
  if (exact && prec == KE_PRECISION_FP8)
    {
      fprintf (stderr, "%s: --exact and --precision fp8 exclude each other\n", cmd);
      return 2;
    }
  if (!exact && be == ke_backend_cpu ())
    be = ke_backend_cpu_fast ();
  /* before the transformer is prepared (its linears take their form then): fp8 where the device has the
   * units, bf16 elsewhere (the CPU keeps its precision) */
  ke_be_set_precision (be, prec == KE_PRECISION_FP8 ? KE_PRECISION_FP8 : KE_PRECISION_BF16);
  /* --profile: a backend with its own (event-based, unsynchronised) profiler uses it, its per-op times
   * coming through the engine log; others get the synchronising wrapper */
  const int wrapped = profile && !be->ops->profile;
  if (wrapped && !(be = ke_backend_profile_wrap (be)))
    return 1;
  if (profile && !wrapped)
    ke_log_set (bench_log_stderr, NULL);

  /* latent grid of the causal VAE (8x32x32) and the pipeline's fractional coords (frame rate 30) */
  const int F = (frames - 1) / 8 + 1, H = h / 32, W = w / 32;
  const int64_t N = (int64_t) F * H * W;
  printf ("model: LTX-Video 13B transformer (%d of 48 layers), random bf16 weights\n", layers);
  printf ("video: %dx%d, %d frames -> latent [128, %d, %d, %d], %lld tokens; text %d tokens (%d kept)\n", w, h,
          frames, F, H, W, (long long) N, text_tokens, text_kept);
  printf ("backend: %s, precision %s (asked %s)\n", be->ops->name, ke_precision_name (be->precision),
          exact ? "fp32" : ke_precision_name ((enum ke_precision) prec));
  fflush (stdout);

  double t0 = bench_now ();
  /* one block's random bf16 data shared by every block (each block's Linear is still prepared, i.e.
   * converted or uploaded, on its own): the host holds 0.5 GiB instead of 26 GiB */
  struct ke_tensor_set *ws = bench_ltx_random_transformer (layers, KE_DTYPE_BF16, 1);
  if (!ws)
    return 1;
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
