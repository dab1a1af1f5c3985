/* The tiny random LTX-Video model for tests: written at test time from the fixtures of tests/ltx.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

/* Write into the folder dir (made when absent) the files of a tiny LTX-Video 0.9.8 distilled model in
 * the official layout: ltxv-tiny-0.9.8-distilled.safetensors (transformer + VAE, config in the metadata),
 * ltxv-spatial-upscaler-tiny-0.9.8.safetensors, text_encoder/ (T5 v1.1 weights and config.json) and
 * tokenizer/tokenizer.json (a small unigram vocabulary within the encoder's 160 ids).
 * fixtures: the tests/ltx/fixtures folder. The folder is then a model path. */
gboolean tiny_ltx_model_write (const char *fixtures,
                               const char *dir,
                               GError    **error);
