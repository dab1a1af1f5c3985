/* bench-ltx-vae.c: kinora-bench ltx-vae — the LTX-Video 13B VAE decode (0.9.7 / 0.9.8 decoder shapes,
 * random bf16 weights) of one clip's latent, as the pipeline runs it (decode_timestep 0.05,
 * decode_noise_scale 0.025), the whole clip in one pass (or, with --tile, in spatial tiles, then compared
 * with the decode in one pass): seconds, peak RSS and the backend's peak memory.
 * tests/ltx/bench-torch-vae.py times the official decoder on the same shapes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "backends/backend.h"
#include "backends/profile.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "models/ltx/ltx-vae.h"
#include "args.h"
#include "bench.h"

static double
cpu_seconds (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static inline float
rng_uniform (void) /* [-1, 1) */
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (float) ((int32_t) (rng_state >> 32)) / 2147483648.0f;
}

/* The tiled video against the decode in one pass (when that fits the device). */
static void
compare_whole (struct ke_ltx_vae *v, const float *tiled, const float *lat, const float *noise, int T, int lh, int lw,
               size_t nv)
{
  struct ke_error err = { 0 };
  float *ref = malloc (nv * sizeof (float));
  if (!ref || ke_ltx_vae_decode (v, ref, lat, noise, T, lh, lw, 0.05f, 0.025f, NULL, &err) != KE_STATUS_OK)
    {
      printf ("the decode in one pass (for the comparison) failed: %s\n", ref ? err.msg : "out of memory");
      free (ref);
      return;
    }
  double md = 0, mr = 0;
  for (size_t i = 0; i < nv; i++)
    {
      const double d = fabs ((double) tiled[i] - ref[i]);
      md = d > md ? d : md;
      mr = fabs (ref[i]) > mr ? fabs (ref[i]) : mr;
    }
  printf ("tiled vs one pass: max|diff| %.4g (max|ref| %.4g), rel L2 %.3e\n", md, mr, bench_rel_l2 (tiled, ref, nv));
  free (ref);
}

int
kinora_bench_ltx_vae (int argc, char **argv)
{
  static const char cmd[] = "kinora-bench ltx-vae";
  int w = 1216, h = 704, frames = 121, threads = 0, repeat = 1, tile_w = 0, tile_h = 0, overlap = 4;
  bool fast = false, random = false, profile = false;
  const char *backend = NULL;
  static const struct option options[] = {
    { "help", no_argument, NULL, 'h' },
    { "random", no_argument, NULL, 'R' },
    { "size", required_argument, NULL, 's' },
    { "frames", required_argument, NULL, 'f' },
    { "threads", required_argument, NULL, 't' },
    { "repeat", required_argument, NULL, 'r' },
    { "backend", required_argument, NULL, 'b' },
    { "fast", no_argument, NULL, 'F' },
    { "profile", no_argument, NULL, 'P' },
    { "tile", required_argument, NULL, 'T' },
    { "overlap", required_argument, NULL, 'O' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long (argc, argv, ":h", options, NULL)) != -1)
    {
      bool ok = true;
      switch (c)
        {
        case 'h':
          printf ("usage: kinora-bench ltx-vae --random [--size WxH] [--frames N] [--backend cpu|cuda] [--fast]\n"
                  "       [--repeat N] [--threads N] [--profile] [--tile WxH [--overlap N]]\n"
                  "  the LTX-Video 13B VAE decoder (0.9.7 / 0.9.8 shapes) with random bf16 weights decoding one\n"
                  "  clip's latent (default 1216x704, 121 frames: latent 38x22 x 16) in one pass; --fast: the CPU's\n"
                  "  bf16 convolutions; --profile: device time per op class (and per op, on stderr) of the runs\n"
                  "  after the first (CUDA), or synchronised times per op class (CPU); --tile: in spatial tiles of\n"
                  "  WxH latent pixels sharing --overlap (default 4), then the max and relative L2 difference from\n"
                  "  the decode in one pass\n");
          return 0;
        case 'R': random = true; break;
        case 's': ok = kinora_arg_size (cmd, "--size", optarg, 32, KE_MAX_SIDE, &w, &h); break;
        case 'f': ok = kinora_arg_int (cmd, "--frames", optarg, 1, KE_MAX_FRAMES, &frames); break;
        case 't': ok = kinora_arg_int (cmd, "--threads", optarg, 0, 4096, &threads); break;
        case 'r': ok = kinora_arg_int (cmd, "--repeat", optarg, 1, 1000, &repeat); break;
        case 'b': backend = optarg; break;
        case 'F': fast = true; break;
        case 'P': profile = true; break;
        case 'T': ok = kinora_arg_size (cmd, "--tile", optarg, 1, 4096, &tile_w, &tile_h); break;
        case 'O': ok = kinora_arg_int (cmd, "--overlap", optarg, 0, 64, &overlap); break;
        default: return kinora_arg_usage_error (cmd, c, argc, argv, options);
        }
      if (!ok)
        return 2;
    }
  if (optind < argc)
    return kinora_arg_usage_error (cmd, 0, argc, argv, options);
  if (!random)
    {
      fprintf (stderr, "%s: only --random (random weights at the real shapes) is supported\n", cmd);
      return 2;
    }
  if (w % 32 || h % 32 || (frames - 1) % 8)
    {
      fprintf (stderr, "%s: size must be a multiple of 32 and frames 8n+1\n", cmd);
      return 2;
    }
  if (threads > 0)
    ke_set_threads (threads);
  struct ke_error err = { 0 };
  struct ke_backend *be = fast ? ke_backend_cpu_fast () : ke_backend_cpu ();
  if (backend && strcmp (backend, "cpu") != 0 && !(be = ke_backend_by_name (backend, &err)))
    {
      fprintf (stderr, "%s: %s\n", cmd, err.msg);
      return 1;
    }
  const bool wrapped = profile && !be->ops->profile;
  if (wrapped && !(be = ke_backend_profile_wrap (be)))
    return 1;
  if (profile && !wrapped)
    ke_log_set (bench_log_stderr, NULL);
  const double t_w = bench_now ();
  struct ke_tensor_set *ws = bench_ltx_random_vae_decoder ();
  struct ke_ltx_vae *v = NULL;
  if (!ws)
    {
      fprintf (stderr, "%s: out of memory for the random weights\n", cmd);
      return 1;
    }
  if (ke_ltx_vae_init (&v, ws, true, be, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "%s: %s\n", cmd, err.msg);
      return 1;
    }
  const double t_load = bench_now () - t_w;
  const int T = 1 + (frames - 1) / 8, lh = h / 32, lw = w / 32, C = v->cfg.latent_channels;
  const size_t nl = (size_t) C * T * lh * lw, nv = (size_t) 3 * frames * h * w;
  float *lat = malloc (nl * sizeof (float)), *noise = malloc (nl * sizeof (float));
  float *video = malloc (nv * sizeof (float));
  if (!lat || !noise || !video)
    {
      fprintf (stderr, "%s: out of memory\n", cmd);
      return 1;
    }
  for (size_t i = 0; i < nl; i++)
    {
      lat[i] = rng_uniform () * 1.7320508f;
      noise[i] = rng_uniform () * 1.7320508f;
    }
  char how[96] = "whole clip in one pass";
  if (tile_w)
    snprintf (how, sizeof how, "in %d x %d tiles of %dx%d latent pixels sharing %d",
              ke_ltx_tile_starts (NULL, lw, tile_w < lw ? tile_w : lw, overlap),
              ke_ltx_tile_starts (NULL, lh, tile_h < lh ? tile_h : lh, overlap), tile_w, tile_h, overlap);
  printf ("LTX-Video 13B VAE decoder (random bf16 weights), %dx%d x %d frames from a %dx%d x %d latent, %s, "
          "backend %s%s, %d threads; weights built and prepared in %.2f s\n",
          w, h, frames, lw, lh, T, how, be->ops->name, fast ? " (bf16 convolutions)" : "", ke_get_threads (), t_load);
  double best = 1e30, sum = 0;
  if (be->ops->stats)
    {
      struct ke_backend_stats st0;
      be->ops->stats (be, &st0);   /* the peak and the profile count the decodes alone */
    }
  for (int r = 0; r < repeat; r++)
    {
      if (profile && !wrapped && r == (repeat > 1 ? 1 : 0))
        be->ops->profile (be, 1);   /* the first decode (plans, algorithm searches) stays out when repeated */
      if (wrapped && r == (repeat > 1 ? 1 : 0))
        ke_backend_profile_reset (be);
      const double t0 = bench_now (), c0 = cpu_seconds ();
      const enum ke_status ds =
        tile_w ? ke_ltx_vae_decode_tiled (v, video, lat, noise, T, lh, lw, 0.05f, 0.025f, tile_h, tile_w, overlap,
                                          &err)
               : ke_ltx_vae_decode (v, video, lat, noise, T, lh, lw, 0.05f, 0.025f, NULL, &err);
      if (ds != KE_STATUS_OK)
        {
          fprintf (stderr, "%s: %s\n", cmd, err.msg);
          return 1;
        }
      const double dt = bench_now () - t0;
      printf ("decode %d: %.3f s (process CPU time %.3f s)\n", r + 1, dt, cpu_seconds () - c0);
      fflush (stdout);
      best = dt < best ? dt : best;
      sum += dt;
    }
  double sane = 0;
  for (size_t i = 0; i < nv; i += 9973)
    sane += isfinite (video[i]) ? 0 : 1;
  printf ("decode: %.3f s best, %.3f s mean of %d%s\n", best, sum / repeat, repeat,
          sane ? " (non-finite output!)" : "");
  if (be->ops->stats)
    {
      struct ke_backend_stats st;
      be->ops->stats (be, &st);
      printf ("backend memory: peak %.2f GiB (weights %.2f GiB)\n", st.bytes_peak / 1073741824.0,
              st.bytes_weights / 1073741824.0);
      const double tot = st.ms_gemm + st.ms_attention + st.ms_other;
      if (profile && !wrapped && tot > 0)
        {
          const int n_prof = repeat > 1 ? repeat - 1 : 1;
          printf ("device time per decode: %.3f s: conv/GEMM %.3f s (%.1f %%), attention %.3f s, rest %.3f s "
                  "(%.1f %%)\n", tot * 1e-3 / n_prof, st.ms_gemm * 1e-3 / n_prof, 100 * st.ms_gemm / tot,
                  st.ms_attention * 1e-3 / n_prof, st.ms_other * 1e-3 / n_prof, 100 * st.ms_other / tot);
        }
    }
  if (wrapped)
    {
      double pt[KE_PROF_COUNT], tot = 0;
      ke_backend_profile_get (be, pt);
      for (int i = 0; i < KE_PROF_COUNT; i++)
        tot += pt[i];
      const int n_prof = repeat > 1 ? repeat - 1 : 1;
      if (tot > 0)
        printf ("time per decode (each op synchronised): conv/GEMM %.3f s (%.1f %%), rest %.3f s\n",
                pt[KE_PROF_GEMM] / n_prof, 100 * pt[KE_PROF_GEMM] / tot,
                (pt[KE_PROF_ATTENTION] + pt[KE_PROF_OTHER]) / n_prof);
    }
  /* one more decode whose video stays in device memory: the PyTorch bench's figure has no copy to the
   * host either (3 x frames x H x W floats into pageable memory: 1.2 GiB at 1216x704x121) */
  if (tile_w)
    compare_whole (v, video, lat, noise, T, lh, lw, nv);
  else if (strcmp (be->ops->name, "cpu") != 0)
    {
      if (profile && !wrapped)
        be->ops->profile (be, 0);
      const double t0 = bench_now ();
      if (ke_ltx_vae_decode (v, NULL, lat, noise, T, lh, lw, 0.05f, 0.025f, NULL, &err) != KE_STATUS_OK)
        {
          fprintf (stderr, "%s: %s\n", cmd, err.msg);
          return 1;
        }
      const double dt = bench_now () - t0;
      printf ("decode without the copy of the video to the host: %.3f s (best with it minus this: %.3f s)\n", dt,
              best - dt);
    }
  printf ("peak RSS %.2f GiB\n", bench_peak_rss_gib ());
  free (lat);
  free (noise);
  free (video);
  ke_ltx_vae_free (v);
  if (wrapped)
    ke_backend_profile_free (be);
  return sane ? 1 : 0;
}
