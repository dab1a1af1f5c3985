/* bench-vae.c: kinora-bench vae22-decode / vae21-decode — a streamed VAE decode at the real widths
 * with random weights: seconds, seconds per frame and peak RSS. Also `--conv`: conv3d timings of
 * the exact (im2col + sgemm) and bf16 paths on the real layer shapes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <math.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "backends/backend.h"
#include "backends/cpu/cpu-impl.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "loaders/loaders.h"
#include "models/vae/wan-vae.h"
#include "args.h"
#include "bench.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static inline float
rng_uniform (void) /* [-1, 1) */
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (float) ((int32_t) (rng_state >> 32)) / 2147483648.0f;
}

/* f32 values: mean + uniform with standard deviation std. */
static int
add_random (struct ke_tensor_set *s, const char *name, int nd, const int64_t *shape, float mean, float std)
{
  size_t n = 1;
  for (int i = 0; i < nd; i++)
    n *= (size_t) shape[i];
  float *p = malloc (n * sizeof (float));
  struct ke_error err = { 0 };
  if (!p || ke_tset_own_malloc (s, p) < 0)
    {
      free (p);
      fprintf (stderr, "kinora-bench: out of memory building random weights (%s)\n", name);
      return -1;
    }
  for (size_t i = 0; i < n; i++)
    p[i] = mean + rng_uniform () * std * 1.7320508f;
  if (!ke_tset_add (s, name, KE_DTYPE_F32, nd, shape, p, &err))
    {
      fprintf (stderr, "kinora-bench: %s\n", err.msg);
      return -1;
    }
  return 0;
}

static int
add_conv (struct ke_tensor_set *s, const char *pfx, int co, int ci, int kt, int kh, int kw)
{
  char n[256];
  int64_t w5[5] = { co, ci, kt, kh, kw }, w4[4] = { co, ci, kh, kw }, b[1] = { co };
  snprintf (n, sizeof n, "%s.weight", pfx);
  if (add_random (s, n, kt ? 5 : 4, kt ? w5 : w4, 0.0f, 1.0f / sqrtf ((float) ci * (kt ? kt : 1) * kh * kw)) < 0)
    return -1;
  snprintf (n, sizeof n, "%s.bias", pfx);
  return add_random (s, n, 1, b, 0.0f, 0.02f);
}

static int
add_gamma (struct ke_tensor_set *s, const char *pfx, int c)
{
  char n[256];
  int64_t g[4] = { c, 1, 1, 1 };
  snprintf (n, sizeof n, "%s.gamma", pfx);
  return add_random (s, n, 4, g, 1.0f, 0.05f);
}

static int
add_res (struct ke_tensor_set *s, const char *pfx, int ci, int co)
{
  char n[256];
  snprintf (n, sizeof n, "%s.residual.0", pfx);
  if (add_gamma (s, n, ci) < 0)
    return -1;
  snprintf (n, sizeof n, "%s.residual.2", pfx);
  if (add_conv (s, n, co, ci, 3, 3, 3) < 0)
    return -1;
  snprintf (n, sizeof n, "%s.residual.3", pfx);
  if (add_gamma (s, n, co) < 0)
    return -1;
  snprintf (n, sizeof n, "%s.residual.6", pfx);
  if (add_conv (s, n, co, co, 3, 3, 3) < 0)
    return -1;
  if (ci != co)
    {
      snprintf (n, sizeof n, "%s.shortcut", pfx);
      return add_conv (s, n, co, ci, 1, 1, 1);
    }
  return 0;
}

/* The decoder of the official checkpoints (spec §2.5) with random values. */
static struct ke_tensor_set *
random_decoder (int version)
{
  struct ke_tensor_set *s = ke_tset_new ("random-vae");
  const int z = version == 22 ? 48 : 16;
  const int top = version == 22 ? 1024 : 384;
  const int dims[5] = { top, top, top, top / 2, top / 4 };
  int rc = add_conv (s, "conv2", z, z, 1, 1, 1);
  rc |= add_conv (s, "decoder.conv1", top, z, 3, 3, 3);
  rc |= add_res (s, "decoder.middle.0", top, top);
  rc |= add_gamma (s, "decoder.middle.1.norm", top);
  rc |= add_conv (s, "decoder.middle.1.to_qkv", 3 * top, top, 0, 1, 1);
  rc |= add_conv (s, "decoder.middle.1.proj", top, top, 0, 1, 1);
  rc |= add_res (s, "decoder.middle.2", top, top);
  int flat = 0, c = top;
  for (int i = 0; i < 4 && rc == 0; i++)
    {
      int ci = (version == 21 && i > 0) ? dims[i] / 2 : c, co = dims[i + 1];
      char p[128], q[160];
      for (int j = 0; j < 3; j++)
        {
          if (version == 22)
            snprintf (p, sizeof p, "decoder.upsamples.%d.upsamples.%d", i, j);
          else
            snprintf (p, sizeof p, "decoder.upsamples.%d", flat++);
          rc |= add_res (s, p, j == 0 ? ci : co, co);
        }
      c = co;
      if (i == 3)
        break;
      if (version == 22)
        snprintf (p, sizeof p, "decoder.upsamples.%d.upsamples.3", i);
      else
        snprintf (p, sizeof p, "decoder.upsamples.%d", flat++);
      const int up_out = version == 22 ? co : co / 2;
      snprintf (q, sizeof q, "%s.resample.1", p);
      rc |= add_conv (s, q, up_out, co, 0, 3, 3);
      if (i < 2)
        {
          snprintf (q, sizeof q, "%s.time_conv", p);
          rc |= add_conv (s, q, 2 * co, co, 3, 1, 1);
        }
      c = up_out;
    }
  rc |= add_gamma (s, "decoder.head.0", dims[4]);
  rc |= add_conv (s, "decoder.head.2", version == 22 ? 12 : 3, dims[4], 3, 3, 3);
  if (rc != 0)
    {
      ke_tset_free (s);
      return NULL;
    }
  return s;
}

static double
cpu_seconds (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

struct progress
{
  double t0, first;
  int seen;
};

static bool
frame_cb (const float *rgb, int index, int n_frames, int width, int height, void *user_data)
{
  (void) rgb;
  (void) width;
  (void) height;
  struct progress *p = user_data;
  p->seen++;
  if (index == 0)
    p->first = bench_now () - p->t0;
  fprintf (stderr, "\rframe %d/%d  %.1f s", index + 1, n_frames, bench_now () - p->t0);
  return true;
}

/* conv3d timings on one layer shape, exact and bf16 backends. */
static void
bench_conv (int cin, int cout, int T, int H, int W, int kt, int kk)
{
  struct ke_tensor_set *s = ke_tset_new ("conv");
  if (add_conv (s, "c", cout, cin, kt, kk, kk) < 0)
    return;
  struct ke_tensor *w = ke_tset_get (s, "c.weight"), *b = ke_tset_get (s, "c.bias");
  size_t nx = (size_t) cin * (T + kt - 1) * H * W, ny = (size_t) cout * T * H * W;
  float *x = malloc (nx * sizeof (float)), *y = malloc (ny * sizeof (float));
  for (size_t i = 0; i < nx; i++)
    x[i] = rng_uniform ();
  const double flop = 2.0 * cout * cin * kt * kk * kk * (double) T * H * W;
  struct ke_backend *bes[3] = { ke_backend_cpu (), ke_backend_cpu (), ke_backend_cpu_fast () };
  const int algos[3] = { KE_CONV_IM2COL, KE_CONV_DNNL, KE_CONV_DNNL };
  const char *names[3] = { "im2col+sgemm f32", "oneDNN f32", "oneDNN bf16" };
  for (int k = 0; k < 3; k++)
    {
      struct ke_backend *be = bes[k];
      struct ke_conv3d c = { .w = w, .b = b, .c_out = cout, .c_in = cin, .kt = kt, .kh = kk, .kw = kk };
      ke_cpu_conv3d_set_algo (algos[k]);
      be->ops->conv3d_prepare (be, &c);
      double best = 1e30;
      for (int r = 0; r < 3; r++)
        {
          double t0 = bench_now ();
          be->ops->conv3d (be, y, x, &c, T + kt - 1, H, W, 0, 0, kk / 2, kk / 2, 1, 1, 1);
          double dt = bench_now () - t0;
          if (r > 0 && dt < best)
            best = dt;
        }
      be->ops->conv3d_release (be, &c);
      printf ("conv %4d->%-4d k%dx%dx%d %dx%dx%d: %-18s %8.3f s  %7.1f GFLOP/s\n", cin, cout, kt, kk, kk, T, H, W,
              names[k], best, flop / best * 1e-9);
      fflush (stdout);
    }
  ke_cpu_conv3d_set_algo (KE_CONV_AUTO);
  free (x);
  free (y);
  ke_tset_free (s);
}

int
kinora_bench_vae (int argc, char **argv, int version)
{
  int w = 256, h = 256, frames = 17, threads = 0, tile = 0, conv = 0;
  bool fast = false;
  const char *backend = NULL;
  double budget = 0.0;
  double vram = -1;   /* device memory budget in GiB (-1: not given) */
  const char *wfile = NULL;
  static const struct option options[] = {
    { "help", no_argument, NULL, 'h' },
    { "size", required_argument, NULL, 's' },
    { "frames", required_argument, NULL, 'f' },
    { "threads", required_argument, NULL, 't' },
    { "budget", required_argument, NULL, 'B' },
    { "tile", required_argument, NULL, 'T' },
    { "weights-file", required_argument, NULL, 'w' },
    { "fast", no_argument, NULL, 'F' },
    { "backend", required_argument, NULL, 'b' },
    { "vram", required_argument, NULL, 'V' },
    { "conv", no_argument, NULL, 'c' },
    { NULL, 0, NULL, 0 },
  };
  const char *cmd = version == 22 ? "kinora-bench vae22-decode" : "kinora-bench vae21-decode";
  int c;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long (argc, argv, ":h", options, NULL)) != -1)
    {
      bool ok = true;
      switch (c)
        {
        case 'h':
          printf ("usage: kinora-bench vae%d-decode [--size WxH] [--frames N] [--threads N] [--fast]\n"
                  "       [--budget GiB] [--tile N] [--conv] [--backend cpu|cuda] [--weights-file PATH] [--vram GiB]\n"
                  "  --weights-file: write the random weights to PATH (f32 safetensors) and decode from the\n"
                  "  mapped file, as from a real checkpoint\n",
                  version);
          return 0;
        case 's': ok = kinora_arg_size (cmd, "--size", optarg, 1, KE_MAX_SIDE, &w, &h); break;
        case 'f': ok = kinora_arg_int (cmd, "--frames", optarg, 1, KE_MAX_FRAMES, &frames); break;
        case 't': ok = kinora_arg_int (cmd, "--threads", optarg, 0, 4096, &threads); break;
        case 'B': ok = kinora_arg_double (cmd, "--budget", optarg, 0, false, 4096, &budget); break;
        case 'T': ok = kinora_arg_int (cmd, "--tile", optarg, 0, 4096, &tile); break;
        case 'w': wfile = optarg; break;
        case 'F': fast = true; break;
        case 'b': backend = optarg; break;
        case 'V': ok = kinora_arg_vram (cmd, "--vram", optarg, &vram); break;
        case 'c': conv = 1; break;
        default: return kinora_arg_usage_error (cmd, c, argc, argv, options);
        }
      if (!ok)
        return 2;
    }
  if (optind < argc)
    return kinora_arg_usage_error (cmd, 0, argc, argv, options);
  if (threads > 0)
    ke_set_threads (threads);
  printf ("threads %d, OpenBLAS core %s\n", ke_get_threads (), bench_blas_corename ());
  if (conv)
    {
      if (version == 22)
        {
          bench_conv (1024, 1024, 1, 44, 80, 3, 3);
          bench_conv (512, 512, 1, 176, 320, 3, 3);
          bench_conv (256, 256, 1, 352, 640, 3, 3);
          bench_conv (1024, 2048, 1, 44, 80, 3, 1);
        }
      else
        {
          bench_conv (384, 384, 1, 60, 104, 3, 3);
          bench_conv (192, 192, 1, 240, 416, 3, 3);
          bench_conv (96, 96, 1, 480, 832, 3, 3);
        }
      return 0;
    }
  const int s = version == 22 ? 16 : 8;
  if (w % s || h % s || frames < 1 || (frames - 1) % 4)
    {
      fprintf (stderr, "kinora-bench: size must be a multiple of %d and frames 4n+1\n", s);
      return 2;
    }
  struct ke_tensor_set *ws = random_decoder (version);
  if (!ws)
    return 1;
  struct ke_vae *v = NULL;
  struct ke_error err = { 0 };
  if (wfile)
    {
      int n = ke_tset_count (ws);
      const struct ke_tensor **all = malloc ((size_t) n * sizeof (*all));
      for (int i = 0; all && i < n; i++)
        all[i] = ke_tset_at (ws, i);
      enum ke_status wst = all ? ke_safetensors_write (wfile, all, n, NULL, 0, &err) : KE_STATUS_NOMEM;
      free (all);
      ke_tset_free (ws);
      ws = NULL;
      if (wst != KE_STATUS_OK || ke_weights_open (&ws, wfile, &err) != KE_STATUS_OK)
        {
          fprintf (stderr, "kinora-bench: %s: %s\n", wfile, err.msg);
          return 1;
        }
      printf ("weights mapped from %s\n", wfile);
    }
  struct ke_backend *be = fast ? ke_backend_cpu_fast () : ke_backend_cpu ();
  if (backend && strcmp (backend, "cpu") != 0 && !(be = ke_backend_by_name (backend, &err)))
    {
      fprintf (stderr, "kinora-bench: %s\n", err.msg);
      return 1;
    }
  if (vram >= 0)
    ke_be_set_memory (be, (size_t) (vram * 1073741824.0), SIZE_MAX);
  if (ke_wan_vae_init (&v, ws, true, be, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-bench: %s\n", err.msg);
      return 1;
    }
  v->mem_budget = budget * 1073741824.0;
  if (vram >= 0 && budget == 0 && be->ops->memory)
    {
      /* the tiling from what the device budget has left after the weights (as ke_generate does) */
      size_t b = 0, in_use = 0, peak = 0;
      be->ops->memory (be, &b, &in_use, &peak);
      v->mem_budget = b > in_use ? 0.5 * (double) (b - in_use) : 1.0;
      printf ("device budget %.2f GiB: the decode tiles within %.2f GiB\n", b / 1073741824.0,
              v->mem_budget / 1073741824.0);
    }
  v->tile = tile;
  const int n_lat = 1 + (frames - 1) / 4, lh = h / s, lw = w / s, z = v->z_dim;
  int tl, ov;
  ke_vae_tile_plan (v, lh, lw, &tl, &ov);
  printf ("Wan%d.%d VAE decode %dx%d x %d frames (latent %dx%d x %d), %s, tile %d overlap %d (latent px)\n",
          version / 10, version % 10, w, h, frames, lw, lh, n_lat, !v->bf16_cache ? "exact fp32"
          : strcmp (be->ops->name, "cpu") == 0 ? "bf16 convs + bf16 caches"
          : v->dec.conv_in.narrow ? "bf16 decoder convs, fused residual blocks, bf16 caches"
          : "the backend's convolutions (KINORA_VAE_DECODER=tf32; CUDA: TF32 unless KINORA_CUDA_CONV says "
            "otherwise), bf16 caches",
          tl, ov);
  size_t nl = (size_t) z * n_lat * lh * lw;
  float *lat = malloc (nl * sizeof (float));
  for (size_t i = 0; i < nl; i++)
    lat[i] = rng_uniform ();
  double rss0 = bench_peak_rss_gib ();
  const double cpu0 = cpu_seconds ();
  struct progress pr = { .t0 = bench_now () };
  struct ke_vae_run_opts o = { .clamp = true };
  enum ke_status st = ke_vae_decode_opts (v, NULL, lat, n_lat, lh, lw, frame_cb, &pr, &o, &err);
  double dt = bench_now () - pr.t0;
  fprintf (stderr, "\n");
  if (st != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-bench: %s\n", err.msg);
      return 1;
    }
  const double cpu = cpu_seconds () - cpu0;
  double la[1] = { 0 };
  if (getloadavg (la, 1) < 1)
    la[0] = -1;
  printf ("decode: %.2f s total, first frame %.2f s, %.3f s per frame (%d frames)\n", dt, pr.first, dt / frames,
          pr.seen);
  printf ("decode CPU time %.1f s (%.1f s of wall on %d idle cores); load average now %.1f\n", cpu,
          cpu / ke_get_threads (), ke_get_threads (), la[0]);
  printf ("caches %.2f GiB; peak RSS %.2f GiB (%.2f GiB after building the weights)\n",
          (double) o.peak_state_bytes / 1073741824.0, bench_peak_rss_gib (), rss0);
  if (be->ops->stats)
    {
      if (getenv ("KINORA_CUDA_PROFILE"))
        ke_log_set (bench_log_stderr, NULL); /* the per-op profile comes through the engine log */
      struct ke_backend_stats bst;
      be->ops->stats (be, &bst);
      printf ("device memory: peak %.2f GiB (weights %.2f GiB)\n", bst.bytes_peak / 1073741824.0,
              bst.bytes_weights / 1073741824.0);
      if (bst.ms_gemm + bst.ms_attention + bst.ms_other > 0) /* KINORA_CUDA_PROFILE=1 */
        printf ("device time: conv/GEMM %.2f s, attention %.2f s, rest %.2f s\n", bst.ms_gemm * 1e-3,
                bst.ms_attention * 1e-3, bst.ms_other * 1e-3);
    }
  free (lat);
  ke_wan_vae_free (v);
  return 0;
}
