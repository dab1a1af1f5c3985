/* args.h: strict command-line numbers for kinora-cli and kinora-bench.
 *
 * Each parser takes the whole value or nothing: no trailing characters, no overflow, finite numbers,
 * inside [min, max]. On failure it prints one line to stderr naming the command, the option, the value
 * and the valid range, and returns false; the caller exits with status 2.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* A whole number in [min, max]. */
bool kinora_arg_int (const char *cmd, const char *opt, const char *value, int min, int max, int *out);
/* A whole number in [min, max], 64 bits. */
bool kinora_arg_int64 (const char *cmd, const char *opt, const char *value, int64_t min, int64_t max,
                       int64_t *out);
/* A finite number in [min, max]; with min_open, min itself is refused: (min, max]. */
bool kinora_arg_double (const char *cmd, const char *opt, const char *value, double min, bool min_open,
                        double max, double *out);
/* WIDTHxHEIGHT ('x', 'X' or '*' between), each side a whole number in [min, max]. */
bool kinora_arg_size (const char *cmd, const char *opt, const char *value, int min, int max, int *width,
                      int *height);

/* A device memory budget in GiB (--vram): 0 (the free device memory minus a margin) or a finite number in
 * [KE_MIN_VRAM_GIB, KE_MAX_VRAM_GIB] (ke.h). */
bool kinora_arg_vram (const char *cmd, const char *opt, const char *value, double *gib);
/* --lora FILE[:STRENGTH[:STRENGTH_HIGH]] (issue 14): the file (a path may hold ':' itself: only a
 * trailing ":number" or ":number:number" is taken as strengths), strengths in
 * [-KE_MAX_LORA_STRENGTH, KE_MAX_LORA_STRENGTH], default 1; strength_high defaults to strength. With
 * allow_high false a second number is refused. Appends to specs[*n] (at most KE_MAX_LORAS); the path
 * points into value. */
struct ke_lora_spec;
bool kinora_arg_lora (const char *cmd, const char *opt, char *value, bool allow_high, struct ke_lora_spec *specs,
                      int *n);
/* NAME[:NUMBER] (step caching: --cache tea:0.2): NAME one of names[0..n_names) (*index set), the
 * optional number in [min, max] (*number; left as it was without ':'). */
bool kinora_arg_name_number (const char *cmd, const char *opt, const char *value, const char *const *names,
                             int n_names, int *index, double min, double max, double *number);

/* One of names[0..n_names) exactly (*index set); else one line listing them. */
bool kinora_arg_choice (const char *cmd, const char *opt, const char *value, const char *const *names, int n_names,
                        int *index);
/* --text-encoder auto|cpu: where T5 encodes the prompt (enum ke_text_device). */
bool kinora_arg_text_device (const char *cmd, const char *opt, const char *value, int *device);
/* --precision bf16|fp8, and fp32 (exact, the CPU only) where allow_fp32: an enum ke_precision. */
bool kinora_arg_precision (const char *cmd, const char *opt, const char *value, bool allow_fp32, int *precision);

struct option;
/* One line for a getopt_long failure (c = '?': unknown option or a value given to a flag, ':': missing
 * value, else a stray argument at argv[optind]) under opterr = 0 and an optstring starting with ':';
 * returns 2, the usage-error exit status. options: the table given to getopt_long. */
int kinora_arg_usage_error (const char *cmd, int c, int argc, char **argv, const struct option *options);
