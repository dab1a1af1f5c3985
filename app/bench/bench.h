/* kinora-bench subcommands and shared helpers. */
#pragma once

#include <stddef.h>

int kinora_bench_dit (int argc, char **argv);
int kinora_bench_gemm (int argc, char **argv);
int kinora_bench_t5 (int argc, char **argv);
int kinora_bench_vae (int argc, char **argv, int version);
int kinora_bench_generate (int argc, char **argv);
int kinora_bench_write_gguf (int argc, char **argv);
int kinora_bench_taehv (int argc, char **argv);
int kinora_bench_write_weights (int argc, char **argv);
int kinora_bench_ltx_transformer (int argc, char **argv);   /* LTX-Video transformer */
int kinora_bench_ltx_vae (int argc, char **argv);   /* LTX-Video VAE and latent upsampler */

/* Helpers (main-bench.c). */
double bench_now (void);                 /* monotonic seconds */
double bench_peak_rss_gib (void);        /* VmHWM of this process */
double bench_sgemm_gflops (int n);       /* OpenBLAS sgemm n^3 rate measured now */
const char *bench_blas_corename (void);
int bench_cmp_double (const void *a, const void *b);
/* Drop the files under a comma-separated list of files and folders from the page cache (after writing
 * back their dirty pages), so the next read comes from the disk; the GiB dropped. */
double bench_evict_paths (const char *list);
/* Random TAEHV decoder weights at the real taew2_2 (z 48) / taew2_1 (z 16) widths (bench-taehv.c). */
struct ke_tensor_set;
struct ke_tensor_set *bench_random_taehv_decoder (int z);
/* The same written as a safetensors file; 0, or -1 with err filled. */
struct ke_error;
int bench_write_random_taehv (int z, const char *path, struct ke_error *err);
