/* bench-write-gguf.c: kinora-bench write-gguf — a random Wan2.2 DiT at the real shapes written as a
 * ComfyUI-GGUF style file (what QuantStack / city96 publish): the block linears in the chosen type, the
 * other 2-D weights F16, vectors, modulations and the 5-D patch embedding F32. Streamed a few rows at a
 * time: memory stays small whatever the file size.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "loaders/loaders.h"
#include "args.h"
#include "bench.h"

struct dit_shape
{
  const char *name;
  int dim, ffn, layers, in_dim, out_dim;
};

static const struct dit_shape g_shapes[] = {
  { "ti2v-5B", 3072, 14336, 30, 48, 48 },
  { "t2v-A14B", 5120, 13824, 40, 16, 16 },
  { "i2v-A14B", 5120, 13824, 40, 36, 16 },
};

static const struct
{
  const char *name;
  enum ke_dtype type;
} g_types[] = {
  { "q8_0", KE_DTYPE_Q8_0 }, { "q4_0", KE_DTYPE_Q4_0 }, { "q4_K", KE_DTYPE_Q4_K }, { "q6_K", KE_DTYPE_Q6_K },
  { "f16", KE_DTYPE_F16 }, { "bf16", KE_DTYPE_BF16 },
};

/* xorshift64 seeded per run of rows (splitmix64 of the file's seed, the tensor and the run), so the
 * runs are filled in parallel and the file is the same whatever the thread count */
static uint64_t g_seed = 1;

static uint64_t
splitmix (uint64_t x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static inline float
rnd (uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return (float) ((int32_t) (*s >> 32)) / 2147483648.0f;
}

struct tlist
{
  struct ke_gguf_tensor_info *t;
  float *sd;   /* uniform amplitude per tensor */
  int n, cap;
};

static int
add (struct tlist *l, const char *name, enum ke_dtype type, float sd, int nd, int64_t a, int64_t b, int64_t c)
{
  if (l->n == l->cap)
    {
      int nc = l->cap ? 2 * l->cap : 512;
      void *t = realloc (l->t, (size_t) nc * sizeof *l->t), *s = realloc (l->sd, (size_t) nc * sizeof *l->sd);
      if (!t || !s)
        return -1;
      l->t = t;
      l->sd = s;
      l->cap = nc;
    }
  struct ke_gguf_tensor_info *t = &l->t[l->n];
  memset (t, 0, sizeof *t);
  t->name = strdup (name);
  t->type = type;
  t->n_dims = nd;
  const int64_t sh[3] = { a, b, c };
  for (int i = 0; i < nd && i < 3; i++)
    t->shape[i] = sh[i];
  l->sd[l->n++] = sd;
  return t->name ? 0 : -1;
}

/* The official WanModel state_dict at these shapes, with ComfyUI-GGUF's type rules. */
static int
build_list (struct tlist *l, const struct dit_shape *m, int layers, enum ke_dtype q)
{
  const int64_t D = m->dim, Fd = m->ffn;
  const enum ke_dtype h = q == KE_DTYPE_BF16 ? KE_DTYPE_BF16 : KE_DTYPE_F16;   /* convert.py's 2-D type */
  const float wd = 1.0f / sqrtf ((float) D);
  int rc = 0;
  rc |= add (l, "patch_embedding.weight", KE_DTYPE_F32, 0.05f, 5, D, m->in_dim, 1);
  l->t[l->n - 1].shape[3] = 2;
  l->t[l->n - 1].shape[4] = 2;
  rc |= add (l, "patch_embedding.bias", KE_DTYPE_F32, 0.05f, 1, D, 0, 0);
  rc |= add (l, "text_embedding.0.weight", h, 1.0f / 64, 2, D, 4096, 0);
  rc |= add (l, "text_embedding.0.bias", KE_DTYPE_F32, 0.05f, 1, D, 0, 0);
  rc |= add (l, "text_embedding.2.weight", h, wd, 2, D, D, 0);
  rc |= add (l, "text_embedding.2.bias", KE_DTYPE_F32, 0.05f, 1, D, 0, 0);
  rc |= add (l, "time_embedding.0.weight", h, 1.0f / 16, 2, D, 256, 0);
  rc |= add (l, "time_embedding.0.bias", KE_DTYPE_F32, 0.05f, 1, D, 0, 0);
  rc |= add (l, "time_embedding.2.weight", h, wd, 2, D, D, 0);
  rc |= add (l, "time_embedding.2.bias", KE_DTYPE_F32, 0.05f, 1, D, 0, 0);
  rc |= add (l, "time_projection.1.weight", h, wd, 2, 6 * D, D, 0);
  rc |= add (l, "time_projection.1.bias", KE_DTYPE_F32, 0.05f, 1, 6 * D, 0, 0);
  static const char *const att[] = { "self_attn", "cross_attn" }, *const qkvo[] = { "q", "k", "v", "o" };
  char n[128];
  for (int i = 0; i < layers; i++)
    {
      snprintf (n, sizeof n, "blocks.%d.modulation", i);
      rc |= add (l, n, KE_DTYPE_F32, 0.05f, 3, 1, 6, D);
      for (int a = 0; a < 2; a++)
        {
          for (int k = 0; k < 4; k++)
            {
              snprintf (n, sizeof n, "blocks.%d.%s.%s.weight", i, att[a], qkvo[k]);
              rc |= add (l, n, q, wd, 2, D, D, 0);
              snprintf (n, sizeof n, "blocks.%d.%s.%s.bias", i, att[a], qkvo[k]);
              rc |= add (l, n, KE_DTYPE_F32, 0.05f, 1, D, 0, 0);
            }
          snprintf (n, sizeof n, "blocks.%d.%s.norm_q.weight", i, att[a]);
          rc |= add (l, n, KE_DTYPE_F32, 1.0f, 1, D, 0, 0);
          snprintf (n, sizeof n, "blocks.%d.%s.norm_k.weight", i, att[a]);
          rc |= add (l, n, KE_DTYPE_F32, 1.0f, 1, D, 0, 0);
        }
      snprintf (n, sizeof n, "blocks.%d.norm3.weight", i);
      rc |= add (l, n, KE_DTYPE_F32, 1.0f, 1, D, 0, 0);
      snprintf (n, sizeof n, "blocks.%d.norm3.bias", i);
      rc |= add (l, n, KE_DTYPE_F32, 0.05f, 1, D, 0, 0);
      snprintf (n, sizeof n, "blocks.%d.ffn.0.weight", i);
      rc |= add (l, n, q, wd, 2, Fd, D, 0);
      snprintf (n, sizeof n, "blocks.%d.ffn.0.bias", i);
      rc |= add (l, n, KE_DTYPE_F32, 0.05f, 1, Fd, 0, 0);
      snprintf (n, sizeof n, "blocks.%d.ffn.2.weight", i);
      rc |= add (l, n, q, 1.0f / sqrtf ((float) Fd), 2, D, Fd, 0);
      snprintf (n, sizeof n, "blocks.%d.ffn.2.bias", i);
      rc |= add (l, n, KE_DTYPE_F32, 0.05f, 1, D, 0, 0);
    }
  rc |= add (l, "head.modulation", KE_DTYPE_F32, 0.05f, 3, 1, 2, D);
  rc |= add (l, "head.head.weight", h, wd, 2, 4 * m->out_dim, D, 0);
  rc |= add (l, "head.head.bias", KE_DTYPE_F32, 0.05f, 1, 4 * m->out_dim, 0, 0);
  return rc;
}

enum { ROWS = 64, RUNS = 32 };   /* rows filled by one task; tasks per batch written at once */

struct fill
{
  const struct ke_gguf_tensor_info *t;
  float sd, *f;
  uint8_t *enc;
  int64_t K, rows, r0, index;
};

/* runs [b, e) of a batch: uniform random of amplitude sd, encoded to the tensor's type in place */
static void
fill_runs (void *ctx, int64_t b, int64_t e, int tid)
{
  (void) tid;
  const struct fill *c = ctx;
  for (int64_t j = b; j < e; j++)
    {
      const int64_t r = c->r0 + j * ROWS;
      if (r >= c->rows)
        break;
      const int64_t nr = c->rows - r < ROWS ? c->rows - r : ROWS, ne = nr * c->K;
      float *f = c->f + j * ROWS * c->K;
      void *enc = c->enc + ke_dtype_row_bytes (c->t->type, j * ROWS * c->K);
      uint64_t s = splitmix (g_seed ^ splitmix ((uint64_t) c->index << 40 ^ (uint64_t) (r / ROWS))) | 1;
      for (int64_t i = 0; i < ne; i++)
        f[i] = rnd (&s) * c->sd;
      if (c->t->type == KE_DTYPE_F32)
        memcpy (enc, f, (size_t) ne * sizeof (float));
      else if (c->t->type == KE_DTYPE_F16)
        for (int64_t i = 0; i < ne; i++)
          ((uint16_t *) enc)[i] = ke_f32_to_f16 (f[i]);
      else if (c->t->type == KE_DTYPE_BF16)
        for (int64_t i = 0; i < ne; i++)
          ((uint16_t *) enc)[i] = ke_f32_to_bf16 (f[i]);
      else
        ke_quantize_row (c->t->type, f, enc, ne);
    }
}

/* One tensor's data, ROWS x RUNS rows at a time (the runs filled on the engine's threads), written in
 * order: memory stays small whatever the file size. */
static enum ke_status
write_tensor (struct ke_gguf_writer *w, const struct ke_gguf_tensor_info *t, int index, float sd,
              struct ke_error *err)
{
  struct fill c = { .t = t, .sd = sd, .K = t->shape[t->n_dims - 1], .rows = 1, .index = index };
  for (int d = 0; d < t->n_dims - 1; d++)
    c.rows *= t->shape[d];
  const int64_t batch = (int64_t) ROWS * RUNS * c.K;
  c.f = malloc ((size_t) batch * sizeof (float));
  c.enc = malloc (ke_dtype_row_bytes (t->type, batch) + (size_t) batch * 4);
  enum ke_status st = (c.f && c.enc) ? KE_STATUS_OK : ke_err (err, KE_STATUS_NOMEM, "out of memory");
  for (c.r0 = 0; c.r0 < c.rows && st == KE_STATUS_OK; c.r0 += (int64_t) ROWS * RUNS)
    {
      const int64_t nr = c.rows - c.r0 < ROWS * RUNS ? c.rows - c.r0 : ROWS * RUNS;
      ke_parallel_for ((nr + ROWS - 1) / ROWS, 1, fill_runs, &c);
      st = ke_gguf_writer_data (w, c.enc, ke_dtype_row_bytes (t->type, nr * c.K), err);
    }
  free (c.f);
  free (c.enc);
  return st;
}

int
kinora_bench_write_gguf (int argc, char **argv)
{
  const char *model = "ti2v-5B", *type = "q8_0", *out = NULL;
  int layers = -1;
  static const char cmd[] = "kinora-bench write-gguf";
  static const struct option options[] = {
    { "model", required_argument, NULL, 'm' },
    { "type", required_argument, NULL, 't' },
    { "layers", required_argument, NULL, 'l' },
    { "output", required_argument, NULL, 'o' },
    { "seed", required_argument, NULL, 's' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long (argc, argv, ":o:", options, NULL)) != -1)
    {
      bool ok = true;
      switch (c)
        {
        case 'm': model = optarg; break;
        case 't': type = optarg; break;
        case 'l': ok = kinora_arg_int (cmd, "--layers", optarg, 1, 100, &layers); break;
        case 'o': out = optarg; break;
        case 's':
          {
            int64_t v = 0;
            ok = kinora_arg_int64 (cmd, "--seed", optarg, 0, INT64_MAX, &v);
            g_seed = (uint64_t) v;
            break;
          }
        default: return kinora_arg_usage_error (cmd, c, argc, argv, options);
        }
      if (!ok)
        return 2;
    }
  if (optind < argc || !out)
    {
      fprintf (stderr, "%s: usage: %s --model ti2v-5B|t2v-A14B|i2v-A14B --type q8_0|q4_0|q4_K|q6_K|f16|bf16 "
               "[--layers N] [--seed N] -o FILE.gguf\n", cmd, cmd);
      return 2;
    }
  const struct dit_shape *m = NULL;
  for (size_t i = 0; i < sizeof g_shapes / sizeof g_shapes[0]; i++)
    if (strcasecmp (model, g_shapes[i].name) == 0)
      m = &g_shapes[i];
  int ti = -1;
  for (size_t i = 0; i < sizeof g_types / sizeof g_types[0]; i++)
    if (strcmp (type, g_types[i].name) == 0)
      ti = (int) i;
  if (!m || ti < 0)
    {
      fprintf (stderr, "%s: unknown %s '%s'\n", cmd, !m ? "model" : "type", !m ? model : type);
      return 2;
    }
  if (layers < 0)
    layers = m->layers;
  struct tlist l = { 0 };
  if (build_list (&l, m, layers, g_types[ti].type) != 0)
    {
      fprintf (stderr, "%s: out of memory\n", cmd);
      return 1;
    }
  struct ke_error err = { 0 };
  struct ke_gguf_writer *w = NULL;
  double t0 = bench_now ();
  enum ke_status st = ke_gguf_writer_open (&w, out, "wan", l.n, l.t, &err);
  uint64_t bytes = 0;
  for (int i = 0; i < l.n && st == KE_STATUS_OK; i++)
    {
      int64_t nel = 1;
      for (int d = 0; d < l.t[i].n_dims; d++)
        nel *= l.t[i].shape[d];
      bytes += ke_dtype_row_bytes (l.t[i].type, nel);
      st = write_tensor (w, &l.t[i], i, l.sd[i], &err);
    }
  if (st == KE_STATUS_OK)
    st = ke_gguf_writer_close (w, &err);
  else
    ke_gguf_writer_abort (w);
  for (int i = 0; i < l.n; i++)
    free ((char *) l.t[i].name);
  free (l.t);
  free (l.sd);
  if (st != KE_STATUS_OK)
    {
      fprintf (stderr, "%s: %s\n", cmd, err.msg);
      return 1;
    }
  printf ("wrote %s: %s, %d of %d layers, block linears %s, %d tensors, %.2f GiB of data in %.1f s (peak RSS %.2f GiB)\n",
          out, m->name, layers, m->layers, type, l.n, bytes / 1073741824.0, bench_now () - t0, bench_peak_rss_gib ());
  return 0;
}
