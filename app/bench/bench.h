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
int kinora_bench_ltx_generate (int argc, char **argv);   /* a whole LTX-Video clip */

/* Helpers (main-bench.c). */
double bench_now (void);                 /* monotonic seconds */
/* ke_log_set callback: the engine's messages on stderr, those of level *(int *) user and below (NULL: 2) */
void bench_log_stderr (int level, const char *msg, void *user);
double bench_peak_rss_gib (void);        /* VmHWM of this process */
double bench_sgemm_gflops (int n);       /* OpenBLAS sgemm n^3 rate measured now */
const char *bench_blas_corename (void);
int bench_cmp_double (const void *a, const void *b);
/* ||a - ref|| / ||ref|| over n floats (0 when ref is all zeros). */
double bench_rel_l2 (const float *a, const float *ref, size_t n);
/* PSNR (dB, 8-bit peak; INFINITY when equal) of n bytes of 8-bit samples. */
double bench_video_psnr (const unsigned char *a, const unsigned char *b, size_t n);
/* PSNR (dB, 8-bit peak) and mean SSIM of two 8-bit RGB videos [frames, h, w, 3]; SSIM per frame and channel
 * with 8x8 windows at a stride of 4 (C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2), averaged. */
void bench_video_quality (const unsigned char *a, const unsigned char *b, int frames, int h, int w, double *psnr,
                          double *ssim);
/* Drop the files under a comma-separated list of files and folders from the page cache (after writing
 * back their dirty pages), so the next read comes from the disk; the GiB dropped. */
double bench_evict_paths (const char *list);
/* Random TAEHV decoder weights at the real taew2_2 (z 48) / taew2_1 (z 16) widths (bench-taehv.c). */
struct ke_tensor_set;
struct ke_tensor_set *bench_random_taehv_decoder (int z);
/* The same written as a safetensors file; 0, or -1 with err filled. */
struct ke_error;
int bench_write_random_taehv (int z, const char *path, struct ke_error *err);
/* Random weights at the LTX-Video 13B shapes, official key names, made on every thread
 * (bench-ltx-random.c). The transformer: block linears in block_type (bf16, f8_e4m3 with a per-tensor
 * scale, or a GGUF block type), the rest bf16, "config" metadata set; shared_blocks: one block's data
 * shared by every block (a forward's timing with 0.5 GiB of host memory). */
#include "core/tensor.h"
void bench_ltx_transformer_config (char *out, size_t n, int layers);
struct ke_tensor_set *bench_ltx_random_transformer (int layers, enum ke_dtype block_type, int shared_blocks);
struct ke_tensor_set *bench_ltx_random_vae_decoder (void);     /* the 13B VAE's decoder and statistics */
struct ke_tensor_set *bench_ltx_random_upsampler (void);       /* ltxv-spatial-upscaler-0.9.7/0.9.8 */
struct ke_tensor_set *bench_ltx_random_t5xxl (void);           /* T5 v1.1 XXL, T5EncoderModel names */
