/* Tests for engine/pipeline/tiny.c: the random-weight generators build exactly the tensor names and
 * shapes of the official modules (compared with the fixtures' weight files, which carry the reference's
 * state_dict keys), and the tiny model's weights are the same on every call. */
#include <string.h>

#include "test-util.h"
#include "loaders/loaders.h"
#include "models/dit/wan.h"
#include "pipeline/tiny-impl.h"

static void
same_layout (const char *fixture, struct ke_tensor_set *got)
{
  g_autofree char *path = test_fixture_path (fixture);
  struct ke_tensor_set *ref = NULL;
  g_assert_cmpint (ke_safetensors_open (&ref, path, NULL), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_tset_count (got), ==, ke_tset_count (ref));
  for (int i = 0; i < ke_tset_count (ref); i++)
    {
      const struct ke_tensor *r = ke_tset_at (ref, i);
      const struct ke_tensor *g = ke_tset_get (got, r->name);
      char a[96], b[96];
      if (g == NULL)
        g_error ("%s: %s missing", fixture, r->name);
      g_assert_cmpstr (ke_tensor_shape_str (g, a, sizeof a), ==, ke_tensor_shape_str (r, b, sizeof b));
    }
  ke_tset_free (ref);
  ke_tset_free (got);
}

static void
test_layouts (void)
{
  g_autofree char *p = test_fixture_path ("vae21_tiny.weights.safetensors");
  if (!test_require_fixture (p))
    return;
  struct ke_tensor_set *s = NULL;
  g_assert_cmpint (ke_random_vae21_weights (&s, 8, 16, NULL, NULL), ==, KE_STATUS_OK);
  same_layout ("vae21_tiny.weights.safetensors", s);
  g_assert_cmpint (ke_random_vae22_weights (&s, 8, 12, 48, NULL, NULL), ==, KE_STATUS_OK);
  same_layout ("vae22_tiny.weights.safetensors", s);
  g_assert_cmpint (ke_random_t5_weights (&s, 300, 64, 128, 4, 2, NULL, NULL), ==, KE_STATUS_OK);
  same_layout ("t5_tiny.weights.safetensors", s);
  /* the DiT from the fixture's own config */
  g_autofree char *dp = test_fixture_path ("dit_i2v_tiny.weights.safetensors");
  struct ke_tensor_set *ref = NULL;
  struct ke_dit_config c;
  g_assert_cmpint (ke_safetensors_open (&ref, dp, NULL), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_dit_config_from (&c, ref, NULL, NULL), ==, KE_STATUS_OK);
  ke_tset_free (ref);
  g_assert_cmpint (ke_random_dit_weights (&s, &c, NULL, NULL), ==, KE_STATUS_OK);
  same_layout ("dit_i2v_tiny.weights.safetensors", s);
}

/* bf16 with shared blocks: later blocks alias block 0's data. */
static void
test_shared_bf16 (void)
{
  struct ke_random_opts o = { KE_DTYPE_BF16, true, true, false };
  struct ke_tensor_set *s = NULL;
  g_assert_cmpint (ke_random_t5_weights (&s, 1000, 64, 128, 4, 3, &o, NULL), ==, KE_STATUS_OK);
  const struct ke_tensor *a = ke_tset_get (s, "blocks.0.attn.q.weight");
  const struct ke_tensor *b = ke_tset_get (s, "blocks.2.attn.q.weight");
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  g_assert_cmpint (a->type, ==, KE_DTYPE_BF16);
  g_assert_true (a->data == b->data);
  ke_tset_free (s);
}

static void
test_deterministic (void)
{
  struct ke_tensor_set *a = NULL, *b = NULL;
  g_assert_cmpint (ke_tiny_dit_weights (&a, NULL), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_tiny_dit_weights (&b, NULL), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_tset_count (a), ==, ke_tset_count (b));
  for (int i = 0; i < ke_tset_count (a); i++)
    {
      const struct ke_tensor *x = ke_tset_at (a, i);
      const struct ke_tensor *y = ke_tset_get (b, x->name);
      g_assert_cmpmem (x->data, ke_tensor_nbytes (x), y->data, ke_tensor_nbytes (y));
    }
  ke_tset_free (a);
  ke_tset_free (b);
  int64_t ids[8];
  g_assert_cmpint (ke_tiny_tokenize ("ab", ids, 8), ==, 3);
  g_assert_cmpint (ids[0], ==, 'a' + 2);
  g_assert_cmpint (ids[2], ==, 1);
  g_assert_cmpint (ke_tiny_tokenize ("abcdefghij", ids, 4), ==, 4);
  g_assert_cmpint (ids[3], ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tiny/layouts", test_layouts);
  g_test_add_func ("/tiny/shared-bf16", test_shared_bf16);
  g_test_add_func ("/tiny/deterministic", test_deterministic);
  return g_test_run ();
}
