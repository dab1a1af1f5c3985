/* bench-weights.c: kinora-bench write-weights: random weights at the real Wan2.2 shapes written as a
 * ComfyUI-style model folder (diffusion_models/, vae/, text_encoders/, tokenizer/) that
 * `kinora-cli generate --model` opens, for benchmarks of loading, memory budgets and dtypes without a
 * download. The data is streamed to disk one chunk at a time: memory stays at a few MiB whatever the size.
 *
 * Formats: bf16, or ComfyUI's fp8_e4m3fn_scaled for the DiT: every matrix ("*.weight" of two or more
 * dimensions) in F8_E4M3 with a one-element F32 "<layer>.scale_weight" beside it (the value multiplies the
 * stored one) and an empty "scaled_fp8" marker tensor, as ComfyUI's scaled fp8 checkpoints have; biases,
 * norms and modulations stay bf16. The text encoder and VAE are written in bf16.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ke.h"
#include "args.h"
#include "bench.h"
#include "core/tensor.h"
#include "models/dit/wan.h"
#include "pipeline/tiny-impl.h"

#define CHUNK (1 << 20)   /* elements generated and written at a time */

/* One tensor of a file: name, dtype as written, shape (outermost first), how its values are drawn. */
struct entry
{
  char name[192];
  enum ke_dtype type;
  int n_dims;
  int64_t shape[KE_MAX_DIMS];
  float sd;        /* standard deviation of the values (before the fp8 scale) */
  float add;       /* added to every value (norm gains sit around 1) */
  float scale;     /* fp8: the scale_weight value; 0 otherwise */
  uint64_t n;      /* elements */
};

struct file_plan
{
  struct entry *e;
  int n, cap;
};

static int
plan_add (struct file_plan *f, const struct entry *e)
{
  if (f->n == f->cap)
    {
      int cap = f->cap ? 2 * f->cap : 256;
      struct entry *p = realloc (f->e, (size_t) cap * sizeof *p);
      if (!p)
        return -1;
      f->e = p;
      f->cap = cap;
    }
  f->e[f->n++] = *e;
  return 0;
}

static int
ends_with (const char *s, const char *suffix)
{
  size_t a = strlen (s), b = strlen (suffix);
  return a >= b && strcmp (s + a - b, suffix) == 0;
}

/* The tensors of a shapes-only set as written: fp8 turns matrices into F8_E4M3 plus their scale. */
static int
plan_from_set (struct file_plan *f, const struct ke_tensor_set *s, int fp8)
{
  for (int i = 0; i < ke_tset_count (s); i++)
    {
      const struct ke_tensor *t = ke_tset_at (s, i);
      struct entry e;
      memset (&e, 0, sizeof e);
      snprintf (e.name, sizeof e.name, "%s", t->name);
      e.n_dims = t->n_dims;
      e.n = 1;
      for (int d = 0; d < t->n_dims; d++)
        {
          e.shape[d] = t->ne[t->n_dims - 1 - d];
          e.n *= (uint64_t) e.shape[d];
        }
      e.type = KE_DTYPE_BF16;
      const int64_t fan_in = t->n_dims > 1 ? (int64_t) (e.n / (uint64_t) e.shape[0]) : 1;
      if ((strstr (t->name, "norm") && t->n_dims == 1) || strstr (t->name, "gamma"))
        {
          e.sd = 0.1f;
          e.add = 1.0f;
        }
      else if (t->n_dims == 1)
        e.sd = 0.05f;
      else
        e.sd = 1.0f / sqrtf ((float) fan_in);
      if (strstr (t->name, "embedding") && !strstr (t->name, "patch") && !strstr (t->name, "time")
          && !strstr (t->name, "text_embedding"))
        e.sd = 1.0f;    /* token and position embeddings */
      if (fp8 && t->n_dims >= 2 && ends_with (t->name, ".weight") && !strstr (t->name, "patch_embedding"))
        {
          /* uniform values of this variance reach sqrt(3) sd: that maps to fp8's largest finite, 448 */
          e.type = KE_DTYPE_F8_E4M3;
          e.scale = sqrtf (3.0f) * e.sd / 448.0f;
          struct entry sw;
          memset (&sw, 0, sizeof sw);
          snprintf (sw.name, sizeof sw.name, "%.*s.scale_weight", (int) (strlen (t->name) - 7), t->name);
          sw.type = KE_DTYPE_F32;
          sw.n_dims = 1;
          sw.shape[0] = 1;
          sw.n = 1;
          sw.scale = e.scale;
          if (plan_add (f, &sw) < 0)
            return -1;
        }
      if (plan_add (f, &e) < 0)
        return -1;
    }
  if (fp8)
    {
      struct entry m;
      memset (&m, 0, sizeof m);
      snprintf (m.name, sizeof m.name, "scaled_fp8");
      m.type = KE_DTYPE_F8_E4M3;
      m.n_dims = 1;
      m.shape[0] = 0;
      m.n = 0;
      if (plan_add (f, &m) < 0)
        return -1;
    }
  return 0;
}

/* float -> fp8 e4m3fn (bias 7, no infinities, largest finite 448), rounding to nearest. */
static uint8_t
f32_to_e4m3 (float x)
{
  uint8_t sign = x < 0 ? 0x80 : 0;
  float a = fabsf (x);
  if (!(a >= 0.0009765625f))        /* below half the smallest subnormal (2^-9), or NaN */
    return sign;
  if (a >= 448.0f)
    return sign | 0x7e;
  int e;
  float m = frexpf (a, &e);         /* a = m 2^e, m in [0.5, 1) */
  e -= 1;                           /* a = (2m) 2^e, 2m in [1, 2) */
  if (e < -6)
    {
      int q = (int) lrintf (a * 512.0f);   /* subnormal: units of 2^-9 */
      return sign | (uint8_t) (q > 7 ? 0x08 : q);
    }
  int q = (int) lrintf ((2.0f * m - 1.0f) * 8.0f);
  if (q == 8)
    {
      q = 0;
      e++;
    }
  if (e > 8 || (e == 8 && q > 6))
    return sign | 0x7e;
  return sign | (uint8_t) (((e + 7) << 3) | q);
}

/* xorshift stream of uniform values in [-1, 1) */
static float
next_uniform (uint64_t *x)
{
  *x ^= *x >> 12;
  *x ^= *x << 25;
  *x ^= *x >> 27;
  uint64_t r = *x * 2685821657736338717ull;
  return (float) (r >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
}

static uint64_t
name_seed (const char *s)
{
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char) *s) * 1099511628211ull;
  return h | 1;
}

/* fp8 codes of 65,536 evenly spaced values over [-448, 448] (uniform values, coded once) */
static uint8_t fp8_table[65536];

static void
fp8_table_init (void)
{
  for (int i = 0; i < 65536; i++)
    fp8_table[i] = f32_to_e4m3 (((float) i + 0.5f) / 32768.0f * 448.0f - 448.0f);
}

/* Write a safetensors file: the header from the plan, then every tensor's values chunk by chunk. */
static int
write_file (const char *path, const struct file_plan *f, const char *config, uint64_t salt, double *gib)
{
  size_t cap = 1 << 20, len = 0;
  char *h = malloc (cap);
  uint64_t off = 0;
  FILE *fp = NULL;
  void *buf = NULL;
  int rc = -1;
  if (!h)
    goto out;
#define APPEND(...)                                                      \
  do                                                                     \
    {                                                                    \
      int n_ = snprintf (h + len, cap - len, __VA_ARGS__);               \
      while (n_ >= 0 && (size_t) n_ >= cap - len)                        \
        {                                                                \
          char *g_ = realloc (h, cap * 2);                               \
          if (!g_)                                                       \
            goto out;                                                    \
          h = g_;                                                        \
          cap *= 2;                                                      \
          n_ = snprintf (h + len, cap - len, __VA_ARGS__);               \
        }                                                                \
      len += (size_t) n_;                                                \
    }                                                                    \
  while (0)
  APPEND ("{\"__metadata__\":{\"format\":\"pt\"");
  if (config)
    {
      APPEND (",\"config\":\"");
      for (const char *c = config; *c; c++)
        {
          if (*c == '"' || *c == '\\')
            APPEND ("\\%c", *c);
          else
            APPEND ("%c", *c);
        }
      APPEND ("\"");
    }
  APPEND ("}");
  for (int i = 0; i < f->n; i++)
    {
      const struct entry *e = &f->e[i];
      uint64_t bytes = e->n * ke_dtype_size (e->type);
      APPEND (",\"%s\":{\"dtype\":\"%s\",\"shape\":[", e->name, ke_dtype_name (e->type));
      for (int d = 0; d < e->n_dims; d++)
        APPEND ("%s%lld", d ? "," : "", (long long) e->shape[d]);
      APPEND ("],\"data_offsets\":[%llu,%llu]}", (unsigned long long) off, (unsigned long long) (off + bytes));
      off += bytes;
    }
  APPEND ("}");
  while (len % 8)
    APPEND (" ");
#undef APPEND
  fp = fopen (path, "wb");
  buf = malloc ((size_t) CHUNK * 4);
  if (!fp || !buf)
    {
      fprintf (stderr, "kinora-bench write-weights: %s: %s\n", path, fp ? "out of memory" : strerror (errno));
      goto out;
    }
  uint64_t hl = len;
  unsigned char le[8];
  for (int i = 0; i < 8; i++)
    le[i] = (unsigned char) (hl >> (8 * i));
  if (fwrite (le, 1, 8, fp) != 8 || fwrite (h, 1, len, fp) != len)
    goto io;
  for (int i = 0; i < f->n; i++)
    {
      const struct entry *e = &f->e[i];
      uint64_t x = name_seed (e->name) ^ salt;
      for (uint64_t b = 0; b < e->n; b += CHUNK)
        {
          const size_t m = (size_t) (e->n - b < CHUNK ? e->n - b : CHUNK);
          size_t es = ke_dtype_size (e->type);
          if (e->type == KE_DTYPE_F32)
            {
              float *p = buf;
              for (size_t j = 0; j < m; j++)
                p[j] = e->scale > 0 ? e->scale : next_uniform (&x) * 1.7320508f * e->sd + e->add;
            }
          else if (e->type == KE_DTYPE_F8_E4M3)
            {
              uint8_t *p = buf;
              for (size_t j = 0; j < m; j++)
                p[j] = fp8_table[(uint16_t) ((next_uniform (&x) + 1.0f) * 32767.5f)];
            }
          else
            {
              uint16_t *p = buf;
              for (size_t j = 0; j < m; j++)
                p[j] = ke_f32_to_bf16 (next_uniform (&x) * 1.7320508f * e->sd + e->add);
            }
          if (fwrite (buf, es, m, fp) != m)
            goto io;
        }
    }
  if (fclose (fp) != 0)
    {
      fp = NULL;
      goto io;
    }
  fp = NULL;
  *gib = (double) (off + len + 8) / 1073741824.0;
  rc = 0;
  goto out;
io:
  fprintf (stderr, "kinora-bench write-weights: %s: write failed: %s\n", path, strerror (errno));
out:
  if (fp)
    fclose (fp);
  free (buf);
  free (h);
  return rc;
}

static int
write_set (const char *dir, const char *sub, const char *file, const struct ke_tensor_set *s, int fp8,
           char *path_out, size_t path_n)
{
  char d[4096];
  struct file_plan plan = { NULL, 0, 0 };
  double gib = 0;
  double t0 = bench_now ();
  if (snprintf (d, sizeof d, "%s/%s", dir, sub) >= (int) sizeof d
      || snprintf (path_out, path_n, "%s/%s", d, file) >= (int) path_n)
    {
      fprintf (stderr, "kinora-bench write-weights: %s: path too long\n", dir);
      return -1;
    }
  if (mkdir (d, 0755) != 0 && errno != EEXIST)
    {
      fprintf (stderr, "kinora-bench write-weights: %s: %s\n", d, strerror (errno));
      return -1;
    }
  if (plan_from_set (&plan, s, fp8) < 0)
    {
      free (plan.e);
      fprintf (stderr, "kinora-bench write-weights: out of memory\n");
      return -1;
    }
  /* each file its own values (the two experts differ) */
  int rc = write_file (path_out, &plan, ke_tset_meta (s, "config"), name_seed (file) << 1, &gib);
  free (plan.e);
  if (rc == 0)
    printf ("  %-60s %7.2f GiB  %6.1f s\n", path_out, gib, bench_now () - t0);
  return rc;
}

/* A small Unigram tokenizer.json: the special tokens, the word marker and the letters and digits
 * (ids far below the encoder's vocabulary), so that any prompt encodes. */
static int
write_tokenizer (const char *dir, char *path_out, size_t path_n)
{
  char d[4096];
  if (snprintf (d, sizeof d, "%s/tokenizer", dir) >= (int) sizeof d
      || snprintf (path_out, path_n, "%s/tokenizer.json", d) >= (int) path_n)
    return -1;
  if (mkdir (d, 0755) != 0 && errno != EEXIST)
    return -1;
  FILE *f = fopen (path_out, "w");
  if (!f)
    return -1;
  fprintf (f, "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":0,\"content\":\"<pad>\",\"special\":true},"
              "{\"id\":1,\"content\":\"</s>\",\"special\":true},{\"id\":2,\"content\":\"<unk>\",\"special\":true}],"
              "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\","
              "\"add_prefix_space\":true},\"model\":{\"type\":\"Unigram\",\"unk_id\":2,\"vocab\":["
              "[\"<pad>\",0.0],[\"</s>\",0.0],[\"<unk>\",0.0],[\"\\u2581\",-2.0]");
  for (int c = 0; c < 36; c++)
    fprintf (f, ",[\"%c\",-3.0]", c < 26 ? 'a' + c : '0' + c - 26);
  fprintf (f, "]}}\n");
  return fclose (f) == 0 ? 0 : -1;
}

static void
usage (FILE *f)
{
  fprintf (f,
           "usage: kinora-bench write-weights --model ti2v-5B|t2v-A14B --dtype bf16|fp8 -o DIR\n"
           "                                  [--layers N] [--t5-vocab N] [--vae-dim N]\n"
           "Random weights at the real shapes as a ComfyUI-style folder, streamed to disk:\n"
           "  DIR/diffusion_models/*.safetensors (fp8: fp8_e4m3fn_scaled with scale_weight tensors),\n"
           "  DIR/vae/, DIR/text_encoders/ (bf16), DIR/tokenizer/tokenizer.json (a small stand-in).\n"
           "--layers sets the DiT and T5 block count; --t5-vocab and --vae-dim shrink the token embedding and\n"
           "the VAE's base width (tests). It prints the --model argument for kinora-cli generate.\n");
}

int
kinora_bench_write_weights (int argc, char **argv)
{
  static const char cmd[] = "kinora-bench write-weights";
  const char *model = NULL, *dtype = "bf16", *dir = NULL;
  int layers = 0, t5_vocab = 256384, vae_dim = 0;
  static const struct option options[] = {
    { "help", no_argument, NULL, 'h' },
    { "model", required_argument, NULL, 'm' },
    { "dtype", required_argument, NULL, 'd' },
    { "output", required_argument, NULL, 'o' },
    { "layers", required_argument, NULL, 'l' },
    { "t5-vocab", required_argument, NULL, 'v' },
    { "vae-dim", required_argument, NULL, 'a' },
    { NULL, 0, NULL, 0 },
  };
  int opt;
  optind = 0;
  opterr = 0;
  while ((opt = getopt_long (argc, argv, ":ho:", options, NULL)) != -1)
    {
      bool ok = true;
      switch (opt)
        {
        case 'h': usage (stdout); return 0;
        case 'm': model = optarg; break;
        case 'd': dtype = optarg; break;
        case 'o': dir = optarg; break;
        case 'l': ok = kinora_arg_int (cmd, "--layers", optarg, 1, 100, &layers); break;
        case 'v': ok = kinora_arg_int (cmd, "--t5-vocab", optarg, 64, 1 << 20, &t5_vocab); break;
        case 'a': ok = kinora_arg_int (cmd, "--vae-dim", optarg, 4, 1024, &vae_dim); break;
        default: return kinora_arg_usage_error (cmd, opt, argc, argv, options);
        }
      if (!ok)
        return 2;
    }
  if (optind < argc)
    return kinora_arg_usage_error (cmd, 0, argc, argv, options);
  if (!model || !dir)
    {
      fprintf (stderr, "%s: --model and -o are required (see --help)\n", cmd);
      return 2;
    }
  const int fp8 = strcmp (dtype, "fp8") == 0;
  if (!fp8 && strcmp (dtype, "bf16") != 0)
    {
      fprintf (stderr, "%s: --dtype %s: use bf16 or fp8\n", cmd, dtype);
      return 2;
    }

  /* the official shapes (wan22-spec 1.1), as kinora-bench generate uses them */
  struct ke_dit_config c;
  memset (&c, 0, sizeof c);
  c.patch_t = 1;
  c.patch_h = c.patch_w = 2;
  c.freq_dim = 256;
  c.text_dim = 4096;
  c.text_len = 512;
  c.eps = 1e-6f;
  c.qk_norm = c.cross_attn_norm = true;
  int a14b;
  if (strcmp (model, "ti2v-5B") == 0)
    {
      snprintf (c.model_type, sizeof c.model_type, "ti2v");
      c.dim = 3072; c.ffn_dim = 14336; c.num_heads = 24; c.num_layers = 30; c.in_dim = 48; c.out_dim = 48;
      a14b = 0;
    }
  else if (strcmp (model, "t2v-A14B") == 0)
    {
      snprintf (c.model_type, sizeof c.model_type, "t2v");
      c.dim = 5120; c.ffn_dim = 13824; c.num_heads = 40; c.num_layers = 40; c.in_dim = 16; c.out_dim = 16;
      a14b = 1;
    }
  else
    {
      fprintf (stderr, "%s: unknown model %s (ti2v-5B or t2v-A14B)\n", cmd, model);
      return 2;
    }
  if (layers > 0)
    c.num_layers = layers;
  if (mkdir (dir, 0755) != 0 && errno != EEXIST)
    {
      fprintf (stderr, "%s: %s: %s\n", cmd, dir, strerror (errno));
      return 1;
    }
  fp8_table_init ();

  struct ke_random_opts ro = { KE_DTYPE_BF16, false, false, true };
  struct ke_tensor_set *dit = NULL, *t5 = NULL, *vae = NULL;
  struct ke_error err = { 0 };
  const int t5_layers = layers > 0 ? layers : 24;
  if (ke_random_dit_weights (&dit, &c, &ro, &err) != KE_STATUS_OK
      || ke_random_t5_weights (&t5, t5_vocab, 4096, 10240, 64, t5_layers, &ro, &err) != KE_STATUS_OK
      || (a14b ? ke_random_vae21_weights (&vae, vae_dim ? vae_dim : 96, 16, &ro, &err)
               : ke_random_vae22_weights (&vae, vae_dim ? vae_dim : 160, vae_dim ? vae_dim * 3 / 2 : 256, 48, &ro,
                                          &err)) != KE_STATUS_OK)
    {
      fprintf (stderr, "%s: %s\n", cmd, err.msg);
      ke_tset_free (dit);
      ke_tset_free (t5);
      ke_tset_free (vae);
      return 1;
    }
  char p_hi[4096] = "", p_lo[4096] = "", p_vae[4096], p_t5[4096], p_tok[4096], name[128];
  const char *suffix = fp8 ? "fp8_e4m3fn_scaled" : "bf16";
  int rc = 0;
  printf ("kinora-bench write-weights: Wan2.2 %s shapes, %d DiT layers, %s, random values\n", model, c.num_layers,
          fp8 ? "fp8_e4m3fn_scaled DiT" : "bf16");
  if (a14b)
    {
      snprintf (name, sizeof name, "wan2.2_t2v_high_noise_14B_%s.safetensors", suffix);
      rc |= write_set (dir, "diffusion_models", name, dit, fp8, p_hi, sizeof p_hi);
      snprintf (name, sizeof name, "wan2.2_t2v_low_noise_14B_%s.safetensors", suffix);
      rc |= write_set (dir, "diffusion_models", name, dit, fp8, p_lo, sizeof p_lo);
    }
  else
    {
      snprintf (name, sizeof name, "wan2.2_ti2v_5B_%s.safetensors", suffix);
      rc |= write_set (dir, "diffusion_models", name, dit, fp8, p_lo, sizeof p_lo);
    }
  rc |= write_set (dir, "vae", a14b ? "wan_2.1_vae.safetensors" : "wan2.2_vae.safetensors", vae, 0, p_vae,
                   sizeof p_vae);
  /* the name ComfyUI's folder lookup expects; the values are bf16 */
  rc |= write_set (dir, "text_encoders", "umt5_xxl_fp16.safetensors", t5, 0, p_t5, sizeof p_t5);
  if (write_tokenizer (dir, p_tok, sizeof p_tok) != 0)
    {
      fprintf (stderr, "%s: %s/tokenizer: %s\n", cmd, dir, strerror (errno));
      rc = 1;
    }
  ke_tset_free (dit);
  ke_tset_free (t5);
  ke_tset_free (vae);
  if (rc != 0)
    return 1;
  printf ("  peak RSS %.2f GiB\n", bench_peak_rss_gib ());
  if (a14b)
    printf ("--model %s,%s,%s/tokenizer\n", p_hi, p_lo, dir);
  else
    printf ("--model %s,%s/tokenizer\n", p_lo, dir);
  return 0;
}
