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
#include <sys/resource.h>

#include "backends/backend.h"
#include "backends/profile.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "loaders/loaders.h"
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

/* --weights-type: the block linears (blocks.N.{self_attn,cross_attn}.{q,k,v,o}, ffn.{0,2}: what
 * ComfyUI-GGUF's quantizer re-encodes) stored in another type, converted in memory from the random bf16
 * weights (which stay allocated: peak RSS includes them). */
struct wtype
{
  const char *name;
  enum ke_dtype type;
};
static const struct wtype wtypes[] = {
  { "bf16", KE_DTYPE_BF16 }, { "f16", KE_DTYPE_F16 }, { "f8_e4m3", KE_DTYPE_F8_E4M3 }, { "q8_0", KE_DTYPE_Q8_0 },
  { "q4_0", KE_DTYPE_Q4_0 }, { "q4_K", KE_DTYPE_Q4_K }, { "q6_K", KE_DTYPE_Q6_K },
};

struct conv_job
{
  const struct ke_tensor *src;
  enum ke_dtype type;
  void *dst;
  float inv_scale;
};

static void
conv_rows (void *p, int64_t r0, int64_t r1, int tid)
{
  (void) tid;
  const struct conv_job *j = p;
  const int64_t K = j->src->ne[0];
  float *row = malloc ((size_t) K * sizeof (float));
  if (!row)
    return;
  for (int64_t r = r0; r < r1; r++)
    {
      ke_convert_to_f32 (row, (const uint16_t *) j->src->data + r * K, j->src->type, 1.0f, (size_t) K);
      char *d = (char *) j->dst + (size_t) r * ke_dtype_row_bytes (j->type, K);
      if (j->type == KE_DTYPE_F16)
        for (int64_t k = 0; k < K; k++)
          ((uint16_t *) d)[k] = ke_f32_to_f16 (row[k]);
      else if (j->type == KE_DTYPE_F8_E4M3)
        for (int64_t k = 0; k < K; k++)
          ((uint8_t *) d)[k] = ke_f32_to_f8e4m3 (row[k] * j->inv_scale);
      else
        ke_quantize_row (j->type, row, d, K);
    }
  free (row);
}

static int
convert_linears (struct ke_tensor_set *ws, int layers, enum ke_dtype type)
{
  static const char *const lin[] = { "self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "cross_attn.q",
                                     "cross_attn.k", "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2" };
  for (int i = 0; i < layers; i++)
    for (size_t k = 0; k < sizeof lin / sizeof lin[0]; k++)
      {
        char name[128];
        snprintf (name, sizeof name, "blocks.%d.%s.weight", i, lin[k]);
        struct ke_tensor *t = ke_tset_get (ws, name);
        if (!t || t->type != KE_DTYPE_BF16)
          return -1;
        const int64_t shape[2] = { t->ne[1], t->ne[0] };
        void *dst = malloc (ke_dtype_row_bytes (type, shape[0] * shape[1]));
        if (!dst || ke_tset_own_malloc (ws, dst) < 0)
          return -1;
        struct conv_job j = { t, type, dst, 1.0f };
        float scale = 1.0f;
        if (type == KE_DTYPE_F8_E4M3)
          {
            /* ComfyUI fp8_scaled: one scale per tensor, amax maps to the format's 448 */
            float amax = 0;
            for (int64_t e = 0; e < shape[0] * shape[1]; e++)
              amax = fmaxf (amax, fabsf (ke_bf16_to_f32 (((const uint16_t *) t->data)[e])));
            scale = amax > 0 ? amax / 448.0f : 1.0f;
            j.inv_scale = 1.0f / scale;
          }
        ke_parallel_for (shape[0], 16, conv_rows, &j);
        const char *nm = t->name;
        ke_tensor_init (t, type, 2, shape, dst);
        t->name = nm;
        t->scale = scale;
      }
  return 0;
}

static double
cpu_seconds (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
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
  const char *model = "ti2v-5B", *backend = "cpu", *wtype = "bf16", *wfile = NULL;
  int w = 256, h = 256, frames = 17, threads = 0, repeat = 3, layers = -1, exact = 0, profile = 0;
  double vram = -1;   /* device memory budget in GiB (-1: not given, 0: the default) */
  int lora_rank = 0, lora_merge = 0;
  int prec = KE_PRECISION_BF16;   /* --precision bf16|fp8 (--exact: fp32 on the CPU) */
  int compare = 0;   /* --compare-bf16: after the timed runs, the same forward at bf16 and the relative L2 */
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
    { "weights-type", required_argument, NULL, 'w' },
    { "weights", required_argument, NULL, 'W' },
    { "vram", required_argument, NULL, 'V' },
    { "lora-rank", required_argument, NULL, 'R' },
    { "lora-merge", no_argument, NULL, 'M' },
    { "precision", required_argument, NULL, 'P' },
    { "compare-bf16", no_argument, NULL, 'C' },
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
        case 'w': wtype = optarg; break;
        case 'W': wfile = optarg; break;
        case 'V': ok = kinora_arg_vram (cmd, "--vram", optarg, &vram); break;
        case 'R': ok = kinora_arg_int (cmd, "--lora-rank", optarg, 1, 4096, &lora_rank); break;
        case 'M': lora_merge = 1; break;
        case 'C': compare = 1; break;
        case 'P': ok = kinora_arg_precision (cmd, "--precision", optarg, false, &prec); break;
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
  const struct wtype *wt = NULL;
  for (size_t i = 0; i < sizeof wtypes / sizeof wtypes[0]; i++)
    if (strcmp (wtype, wtypes[i].name) == 0)
      wt = &wtypes[i];
  if (!wt)
    {
      fprintf (stderr, "kinora-bench dit: unknown --weights-type '%s' (bf16, f16, f8_e4m3, q8_0, q4_0, q4_K, q6_K)\n",
               wtype);
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
  if (exact && prec == KE_PRECISION_FP8)
    {
      fprintf (stderr, "%s: --exact and --precision fp8 exclude each other\n", cmd);
      return 2;
    }
  if (!exact && be == ke_backend_cpu ())
    be = ke_backend_cpu_fast ();
  /* before the DiT is prepared (its linears take their form then): fp8 where the device has the units,
   * bf16 elsewhere (the CPU keeps its precision) */
  ke_be_set_precision (be, prec == KE_PRECISION_FP8 ? KE_PRECISION_FP8 : KE_PRECISION_BF16);
  /* a backend with its own (event-based, unsynchronised) profiler uses it; others get the wrapper */
  int wrapped = profile && !be->ops->profile;
  if (wrapped)
    be = ke_backend_profile_wrap (be);

  /* this machine's sgemm rate, measured in this process before the model takes the memory */
  double sgemm = bench_sgemm_gflops (2048);

  const int F = (frames - 1) / 4 + 1, H = h / m->stride, W = w / m->stride;
  const long tokens = (long) F * (H / 2) * (W / 2);
  if (wfile)
    printf ("model: %s shapes from %s\n", m->name, wfile);
  else
    printf ("model: %s (%d of %d layers), random bf16 weights, block linears as %s\n", m->name, layers, m->layers,
            wt->name);
  printf ("video: %dx%d, %d frames -> latent [%d, %d, %d, %d], %ld tokens\n", w, h, frames, m->out_dim == 48 ? 48 : m->in_dim, F, H, W, tokens);
  printf ("backend: %s, precision %s (asked %s), threads %d\n", be->ops->name, ke_precision_name (be->precision),
          exact ? "fp32" : ke_precision_name ((enum ke_precision) prec), ke_get_threads ());
  fflush (stdout);

  double t0 = bench_now ();
  struct ke_tensor_set *ws = NULL;
  if (wfile)
    {
      /* a weight file (GGUF, safetensors) instead of random weights: mmapped, config from its shapes */
      if (ke_weights_open (&ws, wfile, &err) != KE_STATUS_OK)
        {
          fprintf (stderr, "kinora-bench dit: %s\n", err.msg);
          return 1;
        }
      printf ("weights: %s (opened in %.2f s)\n", wfile, bench_now () - t0);
    }
  else
    ws = random_dit (m, layers);
  if (!ws)
    return 1;
  double t_conv = bench_now ();
  if (!wfile && wt->type != KE_DTYPE_BF16 && convert_linears (ws, layers, wt->type) != 0)
    {
      fprintf (stderr, "kinora-bench dit: cannot convert the weights to %s\n", wt->name);
      ke_tset_free (ws);
      return 1;
    }
  t_conv = bench_now () - t_conv;
  struct ke_dit_mem_plan plan = { 0 };
  if (vram >= 0 && be->ops->set_memory)
    {
      /* plan the weights and activations against the budget, as ke_generate does */
      size_t budget = 0, in_use = 0, peak = 0;
      ke_be_set_memory (be, (size_t) (vram * 1073741824.0), SIZE_MAX);
      be->ops->memory (be, &budget, &in_use, &peak);
      if (ke_dit_plan_memory (ws, F, H, W, be->ops->xbuf_elem, budget > in_use ? budget - in_use : 0, &plan,
                              &err) != KE_STATUS_OK)
        {
          fprintf (stderr, "kinora-bench dit: %s\n", err.msg);
          ke_tset_free (ws);
          return 1;
        }
      ke_be_set_memory (be, (size_t) (vram * 1073741824.0), plan.streams ? plan.weight_cap : SIZE_MAX);
      printf ("device budget: %.2f GiB; weights %.2f GiB, activations %.2f GiB planned; %s%s\n",
              budget / 1073741824.0, plan.weights / 1073741824.0, plan.activations / 1073741824.0,
              plan.streams ? "blocks stream from host memory" : "all weights resident",
              plan.ffn_chunk ? ", FFN in token chunks" : "");
      if (plan.streams)
        printf ("resident weight cap: %.2f GiB, %.2f GiB streamed per forward at most\n",
                plan.weight_cap / 1073741824.0, (plan.weights - plan.weight_cap) / 1073741824.0);
      if (!plan.fits)
        printf ("warning: the plan does not fit the budget; the run is expected to fail with out of memory\n");
    }
  else if (vram >= 0)
    printf ("note: --vram has no effect on the %s backend\n", be->ops->name);
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
  ke_dit_set_ffn_chunk (dit, plan.ffn_chunk);
  double t_load = bench_now () - t0;

  /* a copy: the --compare-bf16 run frees this model and makes another */
  const struct ke_dit_config cfg_copy = *ke_dit_get_config (dit), *cfg = &cfg_copy;
  if (wfile)
    layers = cfg->num_layers;
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
  double *cpu = calloc ((size_t) repeat, sizeof (double));
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
      const double c0 = cpu_seconds ();
      if (ke_dit_forward (dit, ctx, x, cfg->in_dim, NULL, 0, F, H, W, &tval, 1, out, NULL, NULL, &err) != KE_STATUS_OK)
        {
          fprintf (stderr, "kinora-bench dit: %s\n", err.msg);
          return 1;
        }
      times[r] = bench_now () - t0;
      cpu[r] = cpu_seconds () - c0;
      printf ("forward %d: %.3f s (process CPU time %.3f s)\n", r + 1, times[r], cpu[r]);
      fflush (stdout);
    }
  qsort (times, (size_t) repeat, sizeof (double), bench_cmp_double);
  qsort (cpu, (size_t) repeat, sizeof (double), bench_cmp_double);
  double med = times[repeat / 2];
  double flops = ke_dit_forward_flops (cfg, F, H, W, false);
  double gflops = flops / med * 1e-9;
  printf ("weights %s + prepare: %.2f s (of which conversion to %s: %.2f s)\n", wfile ? "open" : "build", t_load,
          wfile ? "nothing" : wt->name, t_conv);
  printf ("text context (once per prompt): %.3f s\n", t_ctx);
  printf ("tokens: %ld\n", tokens);
  printf ("seconds per forward (median of %d): %.3f\n", repeat, med);
  /* on a shared machine the CPU time (all threads) is the steadier figure: it leaves out waiting */
  printf ("CPU seconds per forward, all threads (median of %d): %.3f\n", repeat, cpu[repeat / 2]);
  if (layers != m->layers)
    printf ("seconds per forward, extrapolated to %d layers: %.3f\n", m->layers, med * m->layers / layers);
  printf ("FLOP per forward: %.3g\n", flops);
  printf ("achieved: %.1f GFLOP/s\n", gflops);
  printf ("OpenBLAS sgemm 2048^3 in this process: %.1f GFLOP/s (core: %s)\n", sgemm, bench_blas_corename ());
  if (be->ops->stats)
    {
      be->ops->stats (be, &bst);
      printf ("device memory: weights %.2f GiB resident, %.2f GiB streamed, allocator peak %.2f GiB",
              bst.bytes_weights / 1073741824.0, bst.bytes_streamed / 1073741824.0, bst.bytes_peak / 1073741824.0);
      if (bst.bytes_budget)
        printf (" of a %.2f GiB budget", bst.bytes_budget / 1073741824.0);
      printf ("\n");
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
  if (compare && !wrapped)
    {
      /* the quality of the timed precision: the same input through the DiT prepared again at bf16 (the
       * first one leaves the device first, so both never hold their weights at once) */
      ke_dit_context_free (ctx);
      ke_dit_free (dit);
      ctx = NULL;
      dit = NULL;
      ke_be_set_precision (be, KE_PRECISION_BF16);
      float *ref = malloc ((size_t) m->out_dim * F * H * W * sizeof (float));
      if (!ref || ke_dit_init_lora (&dit, ws, NULL, be, &use, lora ? 1 : 0, lora_merge, &err) != KE_STATUS_OK
          || (ke_dit_set_ffn_chunk (dit, plan.ffn_chunk), ke_dit_context_new (dit, text, 100, &ctx, &err)) != KE_STATUS_OK)
        {
          fprintf (stderr, "kinora-bench dit: the bf16 comparison: %s\n", ref ? err.msg : "out of memory");
          free (ref);
          return 1;
        }
      /* as many bf16 forwards as timed above, so both precisions' figures come from one process */
      for (int r = 0; r < repeat; r++)
        {
          t0 = bench_now ();
          if (ke_dit_forward (dit, ctx, x, cfg->in_dim, NULL, 0, F, H, W, &tval, 1, ref, NULL, NULL, &err) != KE_STATUS_OK)
            {
              fprintf (stderr, "kinora-bench dit: the bf16 comparison: %s\n", err.msg);
              free (ref);
              return 1;
            }
          times[r] = bench_now () - t0;
        }
      qsort (times, (size_t) repeat, sizeof (double), bench_cmp_double);
      printf ("bf16 seconds per forward (median of %d, same input): %.3f; ratio bf16 / %s: %.2f\n", repeat,
              times[repeat / 2], ke_precision_name ((enum ke_precision) prec), times[repeat / 2] / med);
      printf ("relative L2 of this forward (precision %s) against bf16: %.4g\n", ke_precision_name ((enum ke_precision) prec),
              bench_rel_l2 (out, ref, (size_t) m->out_dim * F * H * W));
      free (ref);
    }
  ke_lora_free (lora);   /* kept for the comparison's model; each model keeps its own copies */
  free (times);
  free (cpu);
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
