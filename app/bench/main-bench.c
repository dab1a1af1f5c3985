/* main-bench.c: kinora-bench, speed and memory at the real model shapes with random weights.
 * An internal benchmark: it links engine internals (engine_internal_dep), unlike kinora-cli.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <cblas.h>
#include <fcntl.h>
#include <math.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ke.h"
#include "bench.h"

double
bench_rel_l2 (const float *a, const float *ref, size_t n)
{
  double se = 0, sr = 0;
  for (size_t i = 0; i < n; i++)
    {
      const double d = (double) a[i] - ref[i];
      se += d * d;
      sr += (double) ref[i] * ref[i];
    }
  return sr > 0 ? sqrt (se / sr) : 0.0;
}

double
bench_video_psnr (const unsigned char *a, const unsigned char *b, size_t n)
{
  double se = 0;
  for (size_t i = 0; i < n; i++)
    {
      const double d = (double) a[i] - (double) b[i];
      se += d * d;
    }
  const double mse = se / (double) (n ? n : 1);
  return mse > 0 ? 10.0 * log10 (255.0 * 255.0 / mse) : INFINITY;
}

void
bench_video_quality (const unsigned char *a, const unsigned char *b, int frames, int h, int w, double *psnr,
                     double *ssim)
{
  *psnr = bench_video_psnr (a, b, (size_t) frames * h * w * 3);
  const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
  double sum = 0;
  long count = 0;
  for (int f = 0; f < frames; f++)
    for (int c = 0; c < 3; c++)
      for (int y = 0; y + 8 <= h; y += 4)
        for (int x = 0; x + 8 <= w; x += 4)
          {
            double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
            for (int dy = 0; dy < 8; dy++)
              {
                const size_t row = (((size_t) f * h + y + dy) * w + x) * 3 + c;
                for (int dx = 0; dx < 8; dx++)
                  {
                    const double u = a[row + (size_t) dx * 3], v = b[row + (size_t) dx * 3];
                    sa += u;
                    sb += v;
                    saa += u * u;
                    sbb += v * v;
                    sab += u * v;
                  }
              }
            const double ma = sa / 64, mb = sb / 64;
            const double va = saa / 64 - ma * ma, vb = sbb / 64 - mb * mb, cov = sab / 64 - ma * mb;
            sum += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            count++;
          }
  *ssim = count ? sum / (double) count : 1.0;
}

double
bench_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

void
bench_log_stderr (int level, const char *msg, void *user)
{
  if (level <= (user ? *(const int *) user : 2))
    fprintf (stderr, "%s\n", msg);
}

double
bench_peak_rss_gib (void)
{
  FILE *f = fopen ("/proc/self/status", "r");
  char line[256];
  double kib = 0;
  if (!f)
    return 0;
  while (fgets (line, sizeof line, f))
    if (strncmp (line, "VmHWM:", 6) == 0)
      kib = atof (line + 6);
  fclose (f);
  return kib / (1024.0 * 1024.0);
}

int
bench_cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

double
bench_sgemm_gflops (int n)
{
  size_t nn = (size_t) n * n;
  float *a = malloc (nn * sizeof (float));
  float *b = malloc (nn * sizeof (float));
  float *c = malloc (nn * sizeof (float));
  double best = 0;
  if (!a || !b || !c)
    goto out;
  for (size_t i = 0; i < nn; i++)
    {
      a[i] = (float) ((i * 7919) % 1000) / 1000.0f - 0.5f;
      b[i] = (float) ((i * 104729) % 1000) / 1000.0f - 0.5f;
    }
  for (int r = 0; r < 4; r++)
    {
      double t0 = bench_now ();
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
      double dt = bench_now () - t0;
      double g = 2.0 * n * (double) n * n / dt * 1e-9;
      if (r > 0 && g > best)
        best = g;
    }
out:
  free (a);
  free (b);
  free (c);
  return best;
}

const char *
bench_blas_corename (void)
{
  return openblas_get_corename ();
}

static void
usage (FILE *f)
{
  fprintf (f,
           "usage: kinora-bench <what> [options]\n"
           "An internal benchmark of the Kinora engine: it links engine internals (random-weight models,\n"
           "backends, the DiT, T5 and VAE directly), so it is not an example of the public API (ke.h).\n"
           "\n"
           "  dit --model ti2v-5B [--size WxH] [--frames N] [--threads N] [--repeat N] [--exact] [--layers N] [--vram GiB]\n"
           "      [--weights-type bf16|f16|f8_e4m3|q8_0|q4_0|q4_K|q6_K]   (block linears stored as that type)\n"
           "      [--weights FILE]   (a DiT file, e.g. from write-gguf, instead of random weights)\n"
           "      [--lora-rank R [--lora-merge]]   (a random rank-R LoRA on every block Linear)\n"
           "      [--precision bf16|fp8]   (fp8: the GPU's fp8 path where it has fp8 units, bf16 elsewhere)\n"
           "      [--compare-bf16]   (then the same forwards at bf16: their time and the relative L2 against them)\n"
           "  gemm [--threads N] [--repeat N]   (CPU matmul candidates on the DiT's shapes)\n"
           "  t5 --random [--threads N]\n"
           "  vae22-decode | vae21-decode [--size WxH] [--frames N] [--threads N] [--vram GiB]\n"
           "  generate --model ti2v-5B --random [--size WxH] [--frames N] [--steps N] [--vram GiB]\n"
           "      [--precision bf16|fp8|fp32] [--precision-compare]   (kinora-bench generate --help)\n"
           "  taehv [--size WxH] [--frames N] [--latent 48|16] [--repeat N] [--threads N]\n"
           "  write-gguf --model ti2v-5B|t2v-A14B --type q8_0|q4_0|q4_K|q6_K|f16|bf16 [--layers N] -o FILE\n"
           "      (random weights at the real shapes as a ComfyUI-GGUF file, streamed to disk)\n"
           "  write-weights --model ti2v-5B|t2v-A14B --dtype bf16|fp8 -o DIR [--layers N]\n"
           "  ltx-transformer --random [--size 1216x704] [--frames 121] [--layers N] [--repeat N] [--exact] [--backend cpu|cuda]\n"
           "      [--profile] [--precision bf16|fp8]   (LTX-Video 13B transformer, one forward; fewer layers are\n"
           "      extrapolated to 48)\n"
           "  ltx-vae --random [--size WxH] [--frames N] [--backend cpu|cuda] [--fast] [--profile]\n"
           "      [--tile WxH [--overlap N]]   (LTX-Video 13B VAE decode; --tile: in spatial tiles of latent pixels)\n"
           "  ltx-generate --random [--weights-type bf16|f8_e4m3|q8_0] [--backend cpu|cuda] [--vram GiB] [--size WxH]\n"
           "      [--frames N] [--release 0.9.7|0.9.8] [--runs N] [--threads N] [--precision bf16|fp8]\n"
           "      (a whole LTX-Video 13B distilled clip)\n");
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "kinora-bench: name a benchmark: dit, gemm, t5, vae22-decode, vae21-decode, generate, taehv, write-gguf or write-weights "
                       "(see --help)\n");
      return 2;
    }
  const char *w = argv[1];
  if (strcmp (w, "dit") == 0)
    return kinora_bench_dit (argc - 1, argv + 1);
  if (strcmp (w, "gemm") == 0)
    return kinora_bench_gemm (argc - 1, argv + 1);
  if (strcmp (w, "t5") == 0)
    return kinora_bench_t5 (argc - 1, argv + 1);
  if (strcmp (w, "vae22-decode") == 0)
    return kinora_bench_vae (argc - 1, argv + 1, 22);
  if (strcmp (w, "vae21-decode") == 0)
    return kinora_bench_vae (argc - 1, argv + 1, 21);
  if (strcmp (w, "generate") == 0)
    return kinora_bench_generate (argc - 1, argv + 1);
  if (strcmp (w, "write-gguf") == 0)
    return kinora_bench_write_gguf (argc - 1, argv + 1);
  if (strcmp (w, "taehv") == 0)
    return kinora_bench_taehv (argc - 1, argv + 1);
  if (strcmp (w, "write-weights") == 0)
    return kinora_bench_write_weights (argc - 1, argv + 1);
  if (strcmp (w, "ltx-transformer") == 0)   /* LTX-Video transformer */
    return kinora_bench_ltx_transformer (argc - 1, argv + 1);
  /* LTX-Video VAE and latent upsampler */
  if (strcmp (w, "ltx-vae") == 0)
    return kinora_bench_ltx_vae (argc - 1, argv + 1);
  if (strcmp (w, "ltx-generate") == 0)   /* a whole LTX-Video clip */
    return kinora_bench_ltx_generate (argc - 1, argv + 1);
  if (strcmp (w, "--help") == 0 || strcmp (w, "-h") == 0)
    {
      usage (stdout);
      return 0;
    }
  fprintf (stderr, "kinora-bench: unknown benchmark '%s' (see --help)\n", w);
  return 2;
}

/* --- cold page cache ------------------------------------------------------------------------------- */

static double evicted_gib;
static int evict_failures;

static int
evict_one (const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  (void) ftw;
  if (type != FTW_F || !S_ISREG (st->st_mode))
    return 0;
  int fd = open (path, O_RDONLY);
  if (fd < 0)
    {
      evict_failures++;
      return 0;
    }
  /* written pages must reach the disk before the kernel can drop them */
  fdatasync (fd);
  if (posix_fadvise (fd, 0, 0, POSIX_FADV_DONTNEED) == 0)
    evicted_gib += (double) st->st_size / 1073741824.0;
  else
    evict_failures++;
  close (fd);
  return 0;
}

double
bench_evict_paths (const char *list)
{
  evicted_gib = 0;
  evict_failures = 0;
  char *copy = strdup (list);
  for (char *save = NULL, *p = copy ? strtok_r (copy, ",", &save) : NULL; p; p = strtok_r (NULL, ",", &save))
    if (nftw (p, evict_one, 16, FTW_PHYS) != 0)
      evict_failures++;
  free (copy);
  if (evict_failures)
    fprintf (stderr, "kinora-bench: %d path(s) could not be dropped from the page cache\n", evict_failures);
  return evicted_gib;
}
