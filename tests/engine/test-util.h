/* Shared helpers for the engine tests. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "core/tensor.h"
#include "ke.h"

/* Path of a file in the golden fixtures folder ($KINORA_FIXTURES); g_free() it. */
char *test_fixture_path (const char *name);
/* TRUE when the fixture exists; otherwise mark the current test failed, naming the missing file, and
 * return FALSE (the caller returns). */
gboolean test_require_fixture (const char *path);

/* Compare n floats: |got - ref| <= atol + rtol * |ref|. Prints the max difference and the first
 * mismatches through g_test_message; returns TRUE when all are within bounds. */
gboolean test_allclose (const char *what, const float *got, const float *ref, size_t n,
                        double atol, double rtol);
/* The same for two tensors of any float dtype; a shape mismatch (not only an element count) fails. */
gboolean test_tensor_allclose (const char *what, const struct ke_tensor *got, const struct ke_tensor *ref,
                               double atol, double rtol);
/* Every output the IO set's `outputs` metadata lists must exist in `res` and match `ref`'s tensor of
 * the same name within atol/rtol (g_error / assertion otherwise). */
void test_check_listed_outputs (const char *what, const struct ke_tensor_set *res, const struct ke_tensor_set *ref,
                                double atol, double rtol);
/* Deterministic pseudo-random floats in [-1, 1). */
void test_fill_random (float *x, size_t n, guint32 seed);
/* A temp file path in the test's own temp dir; g_free() it. */
char *test_tmp_path (const char *name);
/* A T2V DiT config (16 latent channels, 2x2 patches, qk and cross-attention norms) of these sizes. */
struct ke_dit_config test_t2v_config (int dim, int ffn_dim, int text_dim, int text_len, int heads, int layers);
/* A two-expert T2V-A14B model of random weights at tiny sizes, named name (test-util.c). */
ke_model_t *test_small_a14b (const char *name);
