/* bench-taehv.c: kinora-bench taehv — TAEHV (tiny video autoencoder) decodes at the real taew2_2 /
 * taew2_1 widths with random weights: the cost of one preview (the step's x0 estimate decoded to
 * pixels at the output size), the draft decode of a clip (frames through the callback, as the
 * pipeline runs it) and peak RSS.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/profile.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "models/vae/taehv.h"
#include "loaders/loaders.h"
#include "args.h"
#include "bench.h"

static uint64_t rng_state = 0x5851f42d4c957f2dull;

static inline float
rng_uniform (void) /* [-1, 1) */
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (float) ((int32_t) (rng_state >> 32)) / 2147483648.0f;
}

/* A conv weight [o, i, k, k] uniform with std 1/sqrt(fan_in) (+ bias), official key names. */
static int
add_conv (struct ke_tensor_set *s, const char *pfx, int o, int i, int k, int bias)
{
  char name[128];
  struct ke_error err = { 0 };
  const int64_t shape[4] = { o, i, k, k };
  const size_t n = (size_t) o * i * k * k;
  float *w = malloc (n * sizeof (float)), *b = bias ? malloc ((size_t) o * sizeof (float)) : NULL;
  if (!w || (bias && !b))
    return -1;
  const float a = 1.7320508f / sqrtf ((float) (i * k * k));
  for (size_t j = 0; j < n; j++)
    w[j] = rng_uniform () * a;
  snprintf (name, sizeof name, "%s.weight", pfx);
  if (!ke_tset_add (s, name, KE_DTYPE_F32, 4, shape, w, &err) || ke_tset_own_malloc (s, w) != 0)
    return -1;
  if (bias)
    {
      for (int j = 0; j < o; j++)
        b[j] = rng_uniform () * 0.1f;
      snprintf (name, sizeof name, "%s.bias", pfx);
      const int64_t bs[1] = { o };
      if (!ke_tset_add (s, name, KE_DTYPE_F32, 1, bs, b, &err) || ke_tset_own_malloc (s, b) != 0)
        return -1;
    }
  return 0;
}

/* The decoder of taew2_2 (z 48, patch 2) or taew2_1 (z 16, patch 1): widths 256, 128, 64, 64. */
struct ke_tensor_set *
bench_random_taehv_decoder (int z)
{
  struct ke_tensor_set *s = ke_tset_new (z == 48 ? "random-taew2_2" : "random-taew2_1");
  const int n_f[4] = { 256, 128, 64, 64 }, tgrow[3] = { 1, 2, 2 }, img = z == 48 ? 12 : 3;
  int rc = add_conv (s, "decoder.1", n_f[0], z, 3, 1);
  char p[64];
  for (int st = 0; st < 3 && rc == 0; st++)
    {
      const int base = 3 + 6 * st, C = n_f[st];
      for (int j = 0; j < 3; j++)
        {
          snprintf (p, sizeof p, "decoder.%d.conv.0", base + j);
          rc |= add_conv (s, p, C, 2 * C, 3, 1);
          snprintf (p, sizeof p, "decoder.%d.conv.2", base + j);
          rc |= add_conv (s, p, C, C, 3, 1);
          snprintf (p, sizeof p, "decoder.%d.conv.4", base + j);
          rc |= add_conv (s, p, C, C, 3, 1);
        }
      snprintf (p, sizeof p, "decoder.%d.conv", base + 4);
      rc |= add_conv (s, p, C * tgrow[st], C, 1, 0);
      snprintf (p, sizeof p, "decoder.%d", base + 5);
      rc |= add_conv (s, p, n_f[st + 1], C, 3, 0);
    }
  rc |= add_conv (s, "decoder.22", img, n_f[3], 3, 1);
  if (rc != 0)
    {
      ke_tset_free (s);
      fprintf (stderr, "kinora-bench: out of memory for the random weights\n");
      return NULL;
    }
  return s;
}

int
bench_write_random_taehv (int z, const char *path, struct ke_error *err)
{
  struct ke_tensor_set *ws = bench_random_taehv_decoder (z);
  const int n = ws ? ke_tset_count (ws) : 0;
  const struct ke_tensor **ts = ws ? calloc ((size_t) n, sizeof *ts) : NULL;
  if (!ts)
    {
      snprintf (err->msg, sizeof err->msg, "out of memory for the random TAEHV weights");
      ke_tset_free (ws);
      return -1;
    }
  for (int i = 0; i < n; i++)
    ts[i] = ke_tset_at (ws, i);
  const enum ke_status st = ke_safetensors_write (path, ts, n, NULL, 0, err);
  free (ts);
  ke_tset_free (ws);
  return st == KE_STATUS_OK ? 0 : -1;
}

struct frames
{
  int seen;
};

static bool
frame_cb (const float *rgb, int index, int n_frames, int width, int height, void *user_data)
{
  (void) rgb;
  (void) index;
  (void) n_frames;
  (void) width;
  (void) height;
  ((struct frames *) user_data)->seen++;
  return true;
}

int
kinora_bench_taehv (int argc, char **argv)
{
  static const char cmd[] = "kinora-bench taehv";
  int w = 256, h = 256, frames = 17, threads = 0, repeat = 3, z = 48;
  double budget = 1.0;
  bool fast = false, profile = false;
  const char *write_path = NULL;
  static const struct option options[] = {
    { "write", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    { "size", required_argument, NULL, 's' },
    { "frames", required_argument, NULL, 'f' },
    { "threads", required_argument, NULL, 't' },
    { "repeat", required_argument, NULL, 'r' },
    { "latent", required_argument, NULL, 'z' },
    { "budget", required_argument, NULL, 'B' },
    { "fast", no_argument, NULL, 'F' },
    { "profile", no_argument, NULL, 'P' },
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
          printf ("usage: kinora-bench taehv [--size WxH] [--frames N] [--latent 48|16] [--repeat N] [--threads N]\n"
                  "       [--budget GiB] [--fast] [--profile] | --write FILE\n"
                  "  random weights at the taew2_2 (--latent 48, default) or taew2_1 (16) shapes; --budget: the\n"
                  "  activation memory a pass may use before it splits its frames (default 1); --fast: the CPU's\n"
                  "  bf16 convolutions (what a generation with bf16 precision uses); --profile: conv vs other time;\n"
                  "  --write FILE: write the random decoder as a safetensors file (for kinora-cli --taehv) and exit\n");
          return 0;
        case 's': ok = kinora_arg_size (cmd, "--size", optarg, 1, KE_MAX_SIDE, &w, &h); break;
        case 'f': ok = kinora_arg_int (cmd, "--frames", optarg, 1, KE_MAX_FRAMES, &frames); break;
        case 't': ok = kinora_arg_int (cmd, "--threads", optarg, 0, 4096, &threads); break;
        case 'r': ok = kinora_arg_int (cmd, "--repeat", optarg, 0, 1000, &repeat); break;
        case 'z':
          ok = kinora_arg_int (cmd, "--latent", optarg, 16, 48, &z);
          if (ok && z != 16 && z != 48)
            {
              fprintf (stderr, "%s: --latent %d: use 48 (taew2_2) or 16 (taew2_1)\n", cmd, z);
              ok = false;
            }
          break;
        case 'B': ok = kinora_arg_double (cmd, "--budget", optarg, 0, false, 4096, &budget); break;
        case 'F': fast = true; break;
        case 'P': profile = true; break;
        case 'o': write_path = optarg; break;
        default: return kinora_arg_usage_error (cmd, c, argc, argv, options);
        }
      if (!ok)
        return 2;
    }
  if (optind < argc)
    return kinora_arg_usage_error (cmd, 0, argc, argv, options);
  if (write_path)
    {
      struct ke_error werr = { 0 };
      if (bench_write_random_taehv (z, write_path, &werr) != 0)
        {
          fprintf (stderr, "%s: %s: %s\n", cmd, write_path, werr.msg);
          return 1;
        }
      printf ("wrote random taew2_%d decoder weights to %s\n", z == 48 ? 2 : 1, write_path);
      return 0;
    }
  const int s = z == 48 ? 16 : 8;
  if (w % s || h % s || (frames - 1) % 4)
    {
      fprintf (stderr, "%s: size must be a multiple of %d and frames 4n+1\n", cmd, s);
      return 2;
    }
  if (threads > 0)
    ke_set_threads (threads);
  struct ke_tensor_set *ws = bench_random_taehv_decoder (z);
  struct ke_taehv *t = NULL;
  struct ke_error err = { 0 };
  struct ke_backend *be = fast ? ke_backend_cpu_fast () : ke_backend_cpu ();
  if (profile && !(be = ke_backend_profile_wrap (be)))
    return 1;
  if (!ws || ke_taehv_init (&t, ws, true, be, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "%s: %s\n", cmd, err.msg);
      return 1;
    }
  t->mem_budget = budget * 1073741824.0;
  const int n_lat = 1 + (frames - 1) / 4, lh = h / s, lw = w / s;
  const size_t nl = (size_t) z * n_lat * lh * lw, nv = (size_t) 3 * frames * h * w;
  float *lat = malloc (nl * sizeof (float)), *video = malloc (nv * sizeof (float));
  if (!lat || !video)
    {
      fprintf (stderr, "%s: out of memory\n", cmd);
      return 1;
    }
  for (size_t i = 0; i < nl; i++)
    lat[i] = rng_uniform () * 1.7320508f;
  printf ("TAEHV (taew2_%d shapes, random weights) %dx%d x %d frames (latent %dx%d x %d), %s on %d "
          "threads, activation budget %.2f GiB\n",
          z == 48 ? 2 : 1, w, h, frames, lw, lh, n_lat, fast ? "bf16 convolutions" : "exact fp32", ke_get_threads (),
          budget);
  const double rss0 = bench_peak_rss_gib ();
  /* a preview: the whole x0 estimate decoded to a host buffer (what each sampling step pays) */
  double best = 1e30, sum = 0;
  for (int r = 0; r < (repeat > 0 ? repeat : 1); r++)
    {
      const double t0 = bench_now ();
      if (ke_taehv_decode (t, video, lat, n_lat, lh, lw, NULL, NULL, NULL, &err) != KE_STATUS_OK)
        {
          fprintf (stderr, "%s: %s\n", cmd, err.msg);
          return 1;
        }
      const double dt = bench_now () - t0;
      best = dt < best ? dt : best;
      sum += dt;
    }
  const int nr = repeat > 0 ? repeat : 1;
  printf ("preview per step: %.3f s best, %.3f s mean of %d\n", best, sum / nr, nr);
  /* the draft decode: frames through the callback, as the pipeline decodes */
  struct frames fr = { 0 };
  const double t0 = bench_now ();
  if (ke_taehv_decode (t, NULL, lat, n_lat, lh, lw, frame_cb, &fr, NULL, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "%s: %s\n", cmd, err.msg);
      return 1;
    }
  const double dt = bench_now () - t0;
  printf ("draft decode: %.3f s (%d frames, %.4f s per frame)\n", dt, fr.seen, dt / (fr.seen ? fr.seen : 1));
  printf ("peak RSS %.2f GiB (%.2f GiB after building the weights)\n", bench_peak_rss_gib (), rss0);
  if (profile)
    {
      double pt[KE_PROF_COUNT];
      ke_backend_profile_get (be, pt);
      printf ("profile (all runs): convolutions %.2f s, other ops %.2f s\n", pt[KE_PROF_GEMM], pt[KE_PROF_OTHER]);
    }
  free (lat);
  free (video);
  ke_taehv_free (t);
  if (profile)
    ke_backend_profile_free (be);
  return 0;
}
