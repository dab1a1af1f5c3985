/* bench-gemm.c: kinora-bench gemm — the CPU matmul candidates on the DiT's real layer shapes:
 * OpenBLAS sgemm, BLIS sgemm (if libblis is installed), oneDNN f32 and bf16 (plain and reordered
 * weights, the engine's fast path). All figures come from this one process.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <cblas.h>
#include <dlfcn.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/threadpool.h"
#include "args.h"
#include "bench.h"

#ifdef KE_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

typedef void (*sgemm_fn) (int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                          float *, int);

static double
best_of (double (*run) (void *), void *ctx, int reps)
{
  double best = 1e30;
  for (int r = 0; r < reps; r++)
    {
      double t = run (ctx);
      if (t < best)
        best = t;
    }
  return best;
}

struct gemm_ctx
{
  int M, N, K;
  float *a, *b, *c;
  sgemm_fn fn;
  struct ke_backend *be;
  struct ke_linear *lin;
#ifdef KE_HAVE_DNNL
  dnnl_primitive_t prim;
  dnnl_stream_t stream;
  dnnl_memory_t ms, mw, md;
#endif
};

static double
run_sgemm (void *p)
{
  struct gemm_ctx *g = p;
  double t0 = bench_now ();
  g->fn (CblasRowMajor, CblasNoTrans, CblasTrans, g->M, g->N, g->K, 1.0f, g->a, g->K, g->b, g->K, 0.0f, g->c, g->N);
  return bench_now () - t0;
}

static double
run_linear (void *p)
{
  struct gemm_ctx *g = p;
  double t0 = bench_now ();
  g->be->ops->linear (g->be, g->c, g->a, g->M, g->lin);
  return bench_now () - t0;
}

#ifdef KE_HAVE_DNNL
static double
run_dnnl (void *p)
{
  struct gemm_ctx *g = p;
  dnnl_exec_arg_t args[3] = { { DNNL_ARG_SRC, g->ms }, { DNNL_ARG_WEIGHTS, g->mw }, { DNNL_ARG_DST, g->md } };
  double t0 = bench_now ();
  dnnl_primitive_execute (g->prim, g->stream, 3, args);
  dnnl_stream_wait (g->stream);
  return bench_now () - t0;
}

/* oneDNN f32 matmul with weights reordered to its preferred layout (best case for f32). */
static double
bench_dnnl_f32 (struct gemm_ctx *g, int reps)
{
  dnnl_engine_t eng;
  dnnl_stream_t st;
  if (dnnl_engine_create (&eng, dnnl_cpu, 0) != dnnl_success || dnnl_stream_create (&st, eng, dnnl_stream_default_flags) != dnnl_success)
    return 0;
  dnnl_memory_desc_t s_md, w_any, w_plain, d_md;
  dnnl_dims_t sd = { g->M, g->K }, wd = { g->K, g->N }, dd = { g->M, g->N }, ws = { 1, g->K };
  dnnl_memory_desc_init_by_tag (&s_md, 2, sd, dnnl_f32, dnnl_ab);
  dnnl_memory_desc_init_by_tag (&w_any, 2, wd, dnnl_f32, dnnl_format_tag_any);
  dnnl_memory_desc_init_by_strides (&w_plain, 2, wd, dnnl_f32, ws);
  dnnl_memory_desc_init_by_tag (&d_md, 2, dd, dnnl_f32, dnnl_ab);
  dnnl_matmul_desc_t md;
  dnnl_primitive_desc_t pd, rpd;
  dnnl_primitive_t prim, reorder;
  dnnl_matmul_desc_init (&md, &s_md, &w_any, NULL, &d_md);
  if (dnnl_primitive_desc_create (&pd, &md, NULL, eng, NULL) != dnnl_success)
    return 0;
  const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md (pd, dnnl_query_weights_md, 0);
  void *wbuf = malloc (dnnl_memory_desc_get_size (w_md));
  dnnl_memory_t mplain, mw;
  dnnl_memory_create (&mplain, &w_plain, eng, g->b);
  dnnl_memory_create (&mw, w_md, eng, wbuf);
  dnnl_reorder_primitive_desc_create (&rpd, &w_plain, eng, w_md, eng, NULL);
  dnnl_primitive_create (&reorder, rpd);
  dnnl_exec_arg_t rargs[2] = { { DNNL_ARG_FROM, mplain }, { DNNL_ARG_TO, mw } };
  dnnl_primitive_execute (reorder, st, 2, rargs);
  dnnl_stream_wait (st);
  dnnl_primitive_create (&prim, pd);
  g->prim = prim;
  g->stream = st;
  g->mw = mw;
  dnnl_memory_create (&g->ms, &s_md, eng, g->a);
  dnnl_memory_create (&g->md, &d_md, eng, g->c);
  run_dnnl (g);
  double t = best_of (run_dnnl, g, reps);
  dnnl_memory_destroy (g->ms);
  dnnl_memory_destroy (g->md);
  dnnl_memory_destroy (mw);
  dnnl_memory_destroy (mplain);
  dnnl_primitive_destroy (prim);
  dnnl_primitive_destroy (reorder);
  dnnl_primitive_desc_destroy (pd);
  dnnl_primitive_desc_destroy (rpd);
  dnnl_stream_destroy (st);
  dnnl_engine_destroy (eng);
  free (wbuf);
  return t;
}
#endif

int
kinora_bench_gemm (int argc, char **argv)
{
  int reps = 3;
  static const char cmd[] = "kinora-bench gemm";
  static const struct option options[] = {
    { "threads", required_argument, NULL, 't' },
    { "repeat", required_argument, NULL, 'r' },
    { NULL, 0, NULL, 0 },
  };
  int c, threads = 0;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long (argc, argv, ":", options, NULL)) != -1)
    {
      bool ok = true;
      switch (c)
        {
        case 't': ok = kinora_arg_int (cmd, "--threads", optarg, 0, 4096, &threads); break;
        case 'r': ok = kinora_arg_int (cmd, "--repeat", optarg, 1, 1000, &reps); break;
        default: return kinora_arg_usage_error (cmd, c, argc, argv, options);
        }
      if (!ok)
        return 2;
    }
  if (optind < argc)
    return kinora_arg_usage_error (cmd, 0, argc, argv, options);
  if (threads > 0)
    ke_set_threads (threads);
  static const int shapes[][3] = {
    { 320, 3072, 3072 },   /* DiT q/k/v/o at 256x256x17 */
    { 320, 14336, 3072 },  /* ffn.0 */
    { 320, 3072, 14336 },  /* ffn.2 */
    { 2048, 2048, 2048 },
  };
  void *blis = dlopen ("libblis.so.4", RTLD_NOW | RTLD_LOCAL);
  sgemm_fn blis_sgemm = blis ? (sgemm_fn) dlsym (blis, "cblas_sgemm") : NULL;
  printf ("OpenBLAS core: %s, threads: %d\n", bench_blas_corename (), ke_get_threads ());
  printf ("%-18s %12s %12s %12s %12s %12s\n", "M x N x K", "sgemm", "blis", "dnnl-f32", "dnnl-bf16", "bf16-reord");
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    {
      struct gemm_ctx g = { .M = shapes[s][0], .N = shapes[s][1], .K = shapes[s][2] };
      size_t na = (size_t) g.M * g.K, nb = (size_t) g.N * g.K, nc = (size_t) g.M * g.N;
      g.a = malloc (na * 4);
      g.b = malloc (nb * 4);
      g.c = malloc (nc * 4);
      for (size_t i = 0; i < na; i++)
        g.a[i] = (float) (i % 97) / 97.0f - 0.5f;
      for (size_t i = 0; i < nb; i++)
        g.b[i] = (float) (i % 89) / 89.0f - 0.5f;
      double fl = 2.0 * g.M * (double) g.N * g.K * 1e-9;
      g.fn = (sgemm_fn) cblas_sgemm;
      run_sgemm (&g);
      double t_ob = best_of (run_sgemm, &g, reps);
      double t_blis = 0;
      if (blis_sgemm)
        {
          g.fn = blis_sgemm;
          run_sgemm (&g);
          t_blis = best_of (run_sgemm, &g, reps);
        }
      double t_df = 0, t_plain = 0, t_reord = 0;
#ifdef KE_HAVE_DNNL
      t_df = bench_dnnl_f32 (&g, reps);
      struct ke_tensor tw;
      int64_t ws[2] = { g.N, g.K };
      ke_tensor_init (&tw, KE_DTYPE_F32, 2, ws, g.b);
      for (int mode = 0; mode < 2; mode++)
        {
          struct ke_linear lin = { .w = &tw, .n_in = g.K, .n_out = g.N };
          if (mode == 0)
            setenv ("KE_DNNL_PLAIN_WEIGHTS", "1", 1);
          else
            unsetenv ("KE_DNNL_PLAIN_WEIGHTS");
          g.be = ke_backend_cpu_fast ();
          g.lin = &lin;
          g.be->ops->linear_prepare (g.be, &lin);
          run_linear (&g);
          double t = best_of (run_linear, &g, reps);
          g.be->ops->linear_release (g.be, &lin);
          if (mode == 0)
            t_plain = t;
          else
            t_reord = t;
        }
#endif
      char dims[32];
      snprintf (dims, sizeof dims, "%dx%dx%d", g.M, g.N, g.K);
      printf ("%-18s %12.1f %12.1f %12.1f %12.1f %12.1f  GFLOP/s\n", dims, fl / t_ob, t_blis > 0 ? fl / t_blis : 0,
              t_df > 0 ? fl / t_df : 0, t_plain > 0 ? fl / t_plain : 0, t_reord > 0 ? fl / t_reord : 0);
      fflush (stdout);
      free (g.a);
      free (g.b);
      free (g.c);
    }
  /* attention kernel at the DiT's shapes: 24 heads of 128, 320 queries over 320 (self) or 512 keys (text) */
  static const int att[][2] = { { 320, 320 }, { 320, 512 }, { 1280, 1280 } };
  for (size_t s = 0; s < sizeof att / sizeof att[0]; s++)
    {
      const int H = 24, hd = 128, Lq = att[s][0], Lk = att[s][1];
      size_t nq = (size_t) Lq * H * hd, nk = (size_t) Lk * H * hd;
      float *q = malloc (nq * 4), *k = malloc (nk * 4), *v = malloc (nk * 4), *o = malloc (nq * 4);
      for (size_t i = 0; i < nq; i++)
        q[i] = (float) (i % 31) / 31.0f - 0.5f;
      for (size_t i = 0; i < nk; i++)
        k[i] = v[i] = (float) (i % 29) / 29.0f - 0.5f;
      struct ke_backend *be = ke_backend_cpu ();
      double best = 1e30;
      for (int r = 0; r <= reps; r++)
        {
          double t0 = bench_now ();
          be->ops->attention (be, o, q, k, v, Lq, Lk, H, hd, 0.088f, NULL);
          double t = bench_now () - t0;
          if (r > 0 && t < best)
            best = t;
        }
      printf ("attention %d heads x %d, %d x %d: %.1f GFLOP/s (%.2f ms)\n", H, hd, Lq, Lk,
              4.0 * Lq * (double) Lk * H * hd / best * 1e-9, best * 1e3);
      free (q);
      free (k);
      free (v);
      free (o);
    }
  if (!blis_sgemm)
    printf ("(BLIS not installed: apt-get install libblis4-pthread to include it)\n");
  return 0;
}
