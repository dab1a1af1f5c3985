/* Tests for engine/models/te/text-cache.c: the public text encoder over the t5_tiny weights, its
 * memory and disk prompt-embedding caches, and parity of its unpadded rows with the fixture. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "core/error.h"
#include "backends/backend.h"
#include "loaders/loaders.h"
#include "models/te/umt5.h"
#include "test-util.h"

static ke_text_encoder_t *
open_encoder (void)
{
  g_autofree char *w = test_fixture_path ("t5_tiny.weights.safetensors");
  if (!test_require_fixture (w))
    return NULL;
  ke_text_encoder_t *e = NULL;
  struct ke_error err = { 0 };
  if (ke_text_encoder_open (&e, w, NULL, false, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  return e;
}

static void
check_stats (ke_text_encoder_t *e, int mem, int disk, int miss)
{
  struct ke_text_cache_stats st;
  ke_text_encoder_stats (e, &st);
  g_assert_cmpint (st.mem_hits, ==, mem);
  g_assert_cmpint (st.disk_hits, ==, disk);
  g_assert_cmpint (st.misses, ==, miss);
}

static void
test_memory_and_disk (void)
{
  ke_text_encoder_t *e = open_encoder ();
  if (!e)
    return;
  g_autofree char *dir = test_tmp_path ("text-cache");
  const int32_t ids[6] = { 12, 250, 37, 99, 5, 1 };
  const int D = ke_text_encoder_dim (e);
  g_assert_cmpint (D, ==, 64);
  g_assert_cmpint (strlen (ke_text_encoder_digest (e)), ==, 32);
  struct ke_error err = { 0 };
  float *h1 = NULL, *h2 = NULL, *h3 = NULL, *h4 = NULL;

  g_assert_cmpint (ke_text_encode (e, ids, 6, dir, &h1, &err), ==, KE_STATUS_OK);
  check_stats (e, 0, 0, 1);
  /* a file appeared in the cache folder, and no temp file is left */
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (d);
  const char *f = g_dir_read_name (d);
  g_assert_nonnull (f);
  g_assert_true (g_str_has_suffix (f, ".safetensors"));
  g_assert_null (g_dir_read_name (d));

  /* the same prompt again: a memory hit, identical data */
  g_assert_cmpint (ke_text_encode (e, ids, 6, dir, &h2, &err), ==, KE_STATUS_OK);
  check_stats (e, 1, 0, 1);
  g_assert_cmpmem (h1, 6 * D * sizeof (float), h2, 6 * D * sizeof (float));

  /* a new process (a fresh encoder) finds it on disk */
  ke_text_encoder_t *e2 = open_encoder ();
  g_assert_cmpstr (ke_text_encoder_digest (e2), ==, ke_text_encoder_digest (e));
  g_assert_cmpint (ke_text_encode (e2, ids, 6, dir, &h3, &err), ==, KE_STATUS_OK);
  check_stats (e2, 0, 1, 0);
  g_assert_cmpmem (h1, 6 * D * sizeof (float), h3, 6 * D * sizeof (float));

  /* another prompt misses */
  const int32_t other[3] = { 12, 250, 1 };
  g_assert_cmpint (ke_text_encode (e2, other, 3, dir, &h4, &err), ==, KE_STATUS_OK);
  check_stats (e2, 0, 1, 1);
  g_assert_true (memcmp (h1, h4, 3 * D * sizeof (float)) != 0);

  ke_text_hidden_free (h1);
  ke_text_hidden_free (h2);
  ke_text_hidden_free (h3);
  ke_text_hidden_free (h4);
  ke_text_encoder_free (e2);
  ke_text_encoder_free (e);
}

/* A damaged cache file is a miss, never an error or a wrong answer. */
static void
test_damaged_file (void)
{
  ke_text_encoder_t *e = open_encoder ();
  if (!e)
    return;
  g_autofree char *dir = test_tmp_path ("text-cache-damaged");
  const int32_t ids[4] = { 40, 41, 42, 1 };
  struct ke_error err = { 0 };
  float *h1 = NULL, *h2 = NULL;
  g_assert_cmpint (ke_text_encode (e, ids, 4, dir, &h1, &err), ==, KE_STATUS_OK);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autofree char *path = g_build_filename (dir, g_dir_read_name (d), NULL);
  g_assert_true (g_file_set_contents (path, "garbage", 7, NULL));
  ke_text_encoder_t *e2 = open_encoder ();
  g_assert_cmpint (ke_text_encode (e2, ids, 4, dir, &h2, &err), ==, KE_STATUS_OK);
  check_stats (e2, 0, 0, 1);
  g_assert_cmpmem (h1, 4 * 64 * sizeof (float), h2, 4 * 64 * sizeof (float));
  ke_text_hidden_free (h1);
  ke_text_hidden_free (h2);
  ke_text_encoder_free (e2);
  ke_text_encoder_free (e);
}

/* The encoder's rows equal the fixture's padded run over the real tokens (module tolerance 1e-4, see
 * test-umt5.c). */
static void
test_fixture_rows (void)
{
  ke_text_encoder_t *e = open_encoder ();
  if (!e)
    return;
  g_autofree char *iop = test_fixture_path ("t5_tiny.io.safetensors");
  struct ke_tensor_set *io = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_safetensors_open_file (&io, iop, &err), ==, KE_STATUS_OK);
  const struct ke_tensor *ids = ke_tset_get (io, "ids");
  const struct ke_tensor *mask = ke_tset_get (io, "mask");
  const struct ke_tensor *ref = ke_tset_get (io, "hidden");
  const int64_t L = ids->ne[0];
  const int64_t *id64 = (const int64_t *) ids->data + L;   /* second sequence */
  const int64_t *mk = (const int64_t *) mask->data + L;
  int n = 0;
  int32_t id32[512];
  while (n < L && mk[n])
    {
      id32[n] = (int32_t) id64[n];
      n++;
    }
  float *h = NULL;
  g_assert_cmpint (ke_text_encode (e, id32, n, NULL, &h, &err), ==, KE_STATUS_OK);
  g_assert_true (test_allclose ("hidden rows", h, (const float *) ref->data + L * 64, (size_t) n * 64, 1e-4, 1e-4));
  ke_text_hidden_free (h);
  ke_tset_free (io);
  ke_text_encoder_free (e);
}

/* Prompt text -> ids -> rows, through a small unigram tokenizer whose ids fit the tiny vocabulary. */
static void
test_prompt (void)
{
  ke_text_encoder_t *e = open_encoder ();
  if (!e)
    return;
  g_autofree char *tj = test_tmp_path ("tiny.tokenizer.json");
  const char *json = "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 2, \"vocab\": ["
                     "[\"<pad>\", 0], [\"</s>\", 0], [\"<unk>\", 0], [\"\u2581red\", -2], [\"\u2581fox\", -2],"
                     "[\"\u2581\", -3], [\"r\", -5], [\"e\", -5], [\"d\", -5], [\"f\", -5], [\"o\", -5], [\"x\", -5]]},"
                     "\"added_tokens\": [{\"id\": 0, \"content\": \"<pad>\", \"special\": true},"
                     "{\"id\": 1, \"content\": \"</s>\", \"special\": true}, {\"id\": 2, \"content\": \"<unk>\", \"special\": true}]}";
  g_assert_true (g_file_set_contents (tj, json, -1, NULL));
  ke_tokenizer_t *tok = NULL;
  struct ke_error err = { 0 };
  if (ke_tokenizer_open (&tok, tj, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  float *h = NULL, *ref = NULL;
  int n = 0;
  if (ke_text_encode_prompt (e, tok, "red  fox", NULL, &h, &n, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  /* the same ids as the tokenizer gives in prompt mode, EOS last */
  int32_t ids[512];
  int n_ids = 0;
  g_assert_cmpint (ke_tokenizer_encode (tok, "red  fox", ids, 512, &n_ids, KE_TOKENIZE_PROMPT, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (n, ==, n_ids);
  g_assert_cmpint (n, >, 1);
  g_assert_cmpint (ids[n - 1], ==, 1);
  g_assert_cmpint (ke_text_encode (e, ids, n, NULL, &ref, &err), ==, KE_STATUS_OK);
  g_assert_cmpmem (h, n * 64 * sizeof (float), ref, n * 64 * sizeof (float));
  ke_text_hidden_free (h);
  ke_text_hidden_free (ref);
  ke_tokenizer_free (tok);
  ke_text_encoder_free (e);
}

static void
test_default_dir (void)
{
  g_setenv ("XDG_CACHE_HOME", "/tmp/xdg-test", TRUE);
  char *d = ke_text_cache_default_dir ();
  g_assert_cmpstr (d, ==, "/tmp/xdg-test/kinora/text");
  free (d);
}

/* ke_text_encode_on with a CPU backend (a CPU job, or --text-encoder cpu) is ke_text_encode: the same
 * rows bit for bit, the same cache key (a plain encoder finds its file on disk), nothing made elsewhere,
 * and the release is a no-op. */
static void
test_encode_on_cpu (void)
{
  ke_text_encoder_t *a = open_encoder (), *b = open_encoder (), *c = open_encoder ();
  if (!a || !b || !c)
    return;
  g_autofree char *dir = test_tmp_path ("text-cache-on");
  const int32_t ids[5] = { 3, 141, 59, 26, 1 };
  const size_t nb = 5 * (size_t) ke_text_encoder_dim (a) * sizeof (float);
  struct ke_error err = { 0 };
  float *h1 = NULL, *h2 = NULL, *h3 = NULL;

  g_assert_cmpint (ke_text_encode (a, ids, 5, NULL, &h1, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_text_encode_on (b, ke_backend_cpu (), 0, ids, 5, dir, &h2, &err), ==, KE_STATUS_OK);
  g_assert_cmpmem (h1, nb, h2, nb);
  g_assert_null (ke_text_encoder_device (b));
  ke_text_encoder_release (b);
  check_stats (b, 0, 0, 1);
  struct ke_text_cache_stats st;
  ke_text_encoder_stats (b, &st);
  g_assert_cmpint (st.device_misses, ==, 0);
  /* a plain encoder reads what the CPU path wrote: the key did not change */
  g_assert_cmpint (ke_text_encode (c, ids, 5, dir, &h3, &err), ==, KE_STATUS_OK);
  check_stats (c, 0, 1, 0);
  g_assert_cmpmem (h1, nb, h3, nb);
  ke_text_hidden_free (h1);
  ke_text_hidden_free (h2);
  ke_text_hidden_free (h3);
  ke_text_encoder_free (a);
  ke_text_encoder_free (b);
  ke_text_encoder_free (c);
}

/* A stand-in device: the CPU's ops under another name (so ke_text_encode_on treats it as a device and
 * makes an encoder there), with a slowed linear_prepare (the first encode waits for layers still being
 * made on the second thread) that can fail its n-th call. No memory ops: the encoder plans as resident. */
static struct ke_backend_ops g_dev_ops;
static int g_dev_prepares, g_dev_fail_at;

static int
dev_prepare (struct ke_backend *be, struct ke_linear *l)
{
  g_usleep (10000);
  if (++g_dev_prepares == g_dev_fail_at)
    return ke_be_fail (be, KE_STATUS_NOMEM, "out of memory for a stand-in weight"), -1;
  return ke_backend_cpu ()->ops->linear_prepare (be, l);
}

static struct ke_backend
standin_device (int fail_at)
{
  g_dev_ops = *ke_backend_cpu ()->ops;
  g_dev_ops.name = "standin";
  g_dev_ops.linear_prepare = dev_prepare;
  g_dev_prepares = 0;
  g_dev_fail_at = fail_at;
  return (struct ke_backend) { .ops = &g_dev_ops, .precision = KE_PRECISION_FP32 };
}

/* The encoder made on a device with its layers made beside the first encode (ke_umt5_init_ahead): the
 * rows equal the CPU encoder's bit for bit (the same exact ops run), the second prompt reuses the
 * encoder (no prepare more), and the release drops it. A layer that cannot be made there sends the
 * encode to the CPU: the job gets the CPU encoder's rows, no device encoder is left, the stand-in's
 * failure record is cleared. */
static void
test_device_made_ahead (void)
{
  ke_text_encoder_t *cpu = open_encoder (), *e = open_encoder (), *f = open_encoder ();
  if (!cpu || !e || !f)
    return;
  const int32_t ids[6] = { 12, 250, 37, 99, 5, 1 }, neg[4] = { 7, 77, 177, 1 };
  const size_t nb = 6 * (size_t) ke_text_encoder_dim (cpu) * sizeof (float), nn = nb / 6 * 4;
  struct ke_error err = { 0 };
  float *r1 = NULL, *r2 = NULL, *h1 = NULL, *h2 = NULL, *h3 = NULL;
  g_assert_cmpint (ke_text_encode (cpu, ids, 6, NULL, &r1, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_text_encode (cpu, neg, 4, NULL, &r2, &err), ==, KE_STATUS_OK);

  struct ke_backend dev = standin_device (0);
  g_assert_cmpint (ke_text_encode_on (e, &dev, 0, ids, 6, NULL, &h1, &err), ==, KE_STATUS_OK);
  g_assert_true (ke_text_encoder_device (e) == &dev);
  g_assert_cmpint (g_dev_prepares, ==, 14);
  g_assert_cmpint (ke_text_encode_on (e, &dev, 0, neg, 4, NULL, &h2, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (g_dev_prepares, ==, 14);
  struct ke_text_cache_stats st;
  ke_text_encoder_stats (e, &st);
  g_assert_cmpint (st.device_misses, ==, 2);
  g_assert_cmpmem (h1, nb, r1, nb);
  g_assert_cmpmem (h2, nn, r2, nn);
  ke_text_encoder_release (e);
  g_assert_null (ke_text_encoder_device (e));

  dev = standin_device (10); /* layer 1's third linear */
  g_assert_cmpint (ke_text_encode_on (f, &dev, 0, ids, 6, NULL, &h3, &err), ==, KE_STATUS_OK);
  ke_text_encoder_stats (f, &st);
  g_assert_cmpint (st.device_misses, ==, 0);
  g_assert_cmpint (st.misses, ==, 1);
  g_assert_null (ke_text_encoder_device (f));
  g_assert_false (ke_be_failed (&dev));
  g_assert_cmpmem (h3, nb, r1, nb);

  ke_text_hidden_free (r1);
  ke_text_hidden_free (r2);
  ke_text_hidden_free (h1);
  ke_text_hidden_free (h2);
  ke_text_hidden_free (h3);
  ke_text_encoder_free (cpu);
  ke_text_encoder_free (e);
  ke_text_encoder_free (f);
}

/* The stand-in's allocations of `g_fail_size` bytes: the n-th of them fails (0: none). */
static size_t g_fail_size;
static int g_fail_nth, g_sized_allocs;

static void *
dev_alloc (struct ke_backend *be, size_t n)
{
  if (g_fail_nth && n == g_fail_size && ++g_sized_allocs == g_fail_nth)
    return NULL;
  return ke_backend_cpu ()->ops->alloc (be, n);
}

/* A prompt and a negative prompt at once (ke_text_encode_many_on): each cached on its own, the misses
 * encoded together, rows equal to one prompt at a time bit for bit; the same tokens twice encoded once
 * (the second counts as a memory hit, as a second call would). On a stand-in device: both encoded
 * there beside the layers' making, one device encoder, the CPU's rows; a layer that cannot be made
 * sends both to the CPU. Refused: 0 or 3 prompts, an empty one (and nothing is returned). */
static void
test_many (void)
{
  ke_text_encoder_t *cpu = open_encoder (), *e = open_encoder (), *d = open_encoder (), *f = open_encoder ();
  if (!cpu || !e || !d || !f)
    return;
  const int32_t ids[6] = { 12, 250, 37, 99, 5, 1 }, neg[4] = { 7, 77, 177, 1 }, other[3] = { 5, 6, 1 };
  const size_t row = (size_t) ke_text_encoder_dim (cpu) * sizeof (float);
  struct ke_error err = { 0 };
  float *r[3] = { NULL, NULL, NULL };
  g_assert_cmpint (ke_text_encode (cpu, ids, 6, NULL, &r[0], &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_text_encode (cpu, neg, 4, NULL, &r[1], &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_text_encode (cpu, other, 3, NULL, &r[2], &err), ==, KE_STATUS_OK);

  float *h[2] = { NULL, NULL };
  const int32_t *p1[2] = { ids, neg };
  const int n1[2] = { 6, 4 };
  g_assert_cmpint (ke_text_encode_many_on (e, NULL, 0, 2, p1, n1, NULL, h, &err), ==, KE_STATUS_OK);
  check_stats (e, 0, 0, 2);
  g_assert_cmpmem (h[0], 6 * row, r[0], 6 * row);
  g_assert_cmpmem (h[1], 4 * row, r[1], 4 * row);
  ke_text_hidden_free (h[0]);
  ke_text_hidden_free (h[1]);
  /* the prompt cached, the other one new */
  const int32_t *p2[2] = { ids, other };
  const int n2[2] = { 6, 3 };
  g_assert_cmpint (ke_text_encode_many_on (e, NULL, 0, 2, p2, n2, NULL, h, &err), ==, KE_STATUS_OK);
  check_stats (e, 1, 0, 3);
  g_assert_cmpmem (h[0], 6 * row, r[0], 6 * row);
  g_assert_cmpmem (h[1], 3 * row, r[2], 3 * row);
  ke_text_hidden_free (h[0]);
  ke_text_hidden_free (h[1]);
  /* the same new tokens twice: one encode */
  const int32_t twice[5] = { 40, 41, 42, 43, 1 };
  const int32_t *p3[2] = { twice, twice };
  const int n3[2] = { 5, 5 };
  g_assert_cmpint (ke_text_encode_many_on (e, NULL, 0, 2, p3, n3, NULL, h, &err), ==, KE_STATUS_OK);
  check_stats (e, 2, 0, 4);
  g_assert_true (h[0] != h[1]);
  g_assert_cmpmem (h[0], 5 * row, h[1], 5 * row);
  ke_text_hidden_free (h[0]);
  ke_text_hidden_free (h[1]);
  /* refused */
  g_assert_cmpint (ke_text_encode_many_on (e, NULL, 0, 0, p1, n1, NULL, h, &err), ==, KE_STATUS_INVALID);
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_text_encode_many_on (e, NULL, 0, 3, p1, n1, NULL, h, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "3 prompts"));
  const int n4[2] = { 6, 0 };
  h[0] = h[1] = (float *) 1;
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_text_encode_many_on (e, NULL, 0, 2, p1, n4, NULL, h, &err), ==, KE_STATUS_INVALID);
  g_assert_null (h[0]);
  g_assert_null (h[1]);
  check_stats (e, 2, 0, 4);
  /* KINORA_T5_TOGETHER=0: one after the other, the same rows */
  g_setenv ("KINORA_T5_TOGETHER", "0", TRUE);
  const int32_t *p5[2] = { other, neg };
  const int n5[2] = { 3, 4 };
  ke_text_encoder_t *apart = open_encoder ();
  g_assert_cmpint (ke_text_encode_many_on (apart, NULL, 0, 2, p5, n5, NULL, h, &err), ==, KE_STATUS_OK);
  g_unsetenv ("KINORA_T5_TOGETHER");
  check_stats (apart, 0, 0, 2);
  ke_text_encoder_free (apart);
  g_assert_cmpmem (h[0], 3 * row, r[2], 3 * row);
  g_assert_cmpmem (h[1], 4 * row, r[1], 4 * row);
  ke_text_hidden_free (h[0]);
  ke_text_hidden_free (h[1]);

  /* on a stand-in device, layers made beside the two encodes */
  struct ke_backend dev = standin_device (0);
  g_assert_cmpint (ke_text_encode_many_on (d, &dev, 0, 2, p1, n1, NULL, h, &err), ==, KE_STATUS_OK);
  g_assert_true (ke_text_encoder_device (d) == &dev);
  g_assert_cmpint (g_dev_prepares, ==, 14);
  struct ke_text_cache_stats st;
  ke_text_encoder_stats (d, &st);
  g_assert_cmpint (st.device_misses, ==, 2);
  g_assert_cmpmem (h[0], 6 * row, r[0], 6 * row);
  g_assert_cmpmem (h[1], 4 * row, r[1], 4 * row);
  ke_text_hidden_free (h[0]);
  ke_text_hidden_free (h[1]);
  ke_text_encoder_release (d);
  /* layer 1's third linear cannot be made: both on the CPU */
  dev = standin_device (10);
  g_assert_cmpint (ke_text_encode_many_on (f, &dev, 0, 2, p1, n1, NULL, h, &err), ==, KE_STATUS_OK);
  ke_text_encoder_stats (f, &st);
  g_assert_cmpint (st.device_misses, ==, 0);
  g_assert_cmpint (st.misses, ==, 2);
  g_assert_null (ke_text_encoder_device (f));
  g_assert_false (ke_be_failed (&dev));
  g_assert_cmpmem (h[0], 6 * row, r[0], 6 * row);
  g_assert_cmpmem (h[1], 4 * row, r[1], 4 * row);
  ke_text_hidden_free (h[0]);
  ke_text_hidden_free (h[1]);

  /* out of device memory for the second prompt's bias: both on the CPU, nothing left on the device */
  ke_text_encoder_t *g = open_encoder ();
  dev = standin_device (0);
  g_dev_ops.alloc = dev_alloc;
  const int H = ke_text_encoder_model (g)->cfg.n_heads;
  g_fail_size = (size_t) H * 6 * 6 * sizeof (float);
  g_fail_nth = 2;
  g_sized_allocs = 0;
  g_assert_cmpint (ke_text_encode_many_on (g, &dev, 0, 2, p1, n1, NULL, h, &err), ==, KE_STATUS_OK);
  g_fail_nth = 0;
  g_assert_cmpint (g_sized_allocs, >=, 2);
  ke_text_encoder_stats (g, &st);
  g_assert_cmpint (st.device_misses, ==, 0);
  g_assert_cmpint (st.misses, ==, 2);
  g_assert_null (ke_text_encoder_device (g));
  g_assert_false (ke_be_failed (&dev));
  g_assert_cmpmem (h[0], 6 * row, r[0], 6 * row);
  g_assert_cmpmem (h[1], 4 * row, r[1], 4 * row);
  ke_text_hidden_free (h[0]);
  ke_text_hidden_free (h[1]);
  ke_text_encoder_free (g);

  for (int i = 0; i < 3; i++)
    ke_text_hidden_free (r[i]);
  ke_text_encoder_free (cpu);
  ke_text_encoder_free (e);
  ke_text_encoder_free (d);
  ke_text_encoder_free (f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/text-cache/memory-and-disk", test_memory_and_disk);
  g_test_add_func ("/text-cache/encode-on-cpu", test_encode_on_cpu);
  g_test_add_func ("/text-cache/damaged-file", test_damaged_file);
  g_test_add_func ("/text-cache/fixture-rows", test_fixture_rows);
  g_test_add_func ("/text-cache/prompt", test_prompt);
  g_test_add_func ("/text-cache/default-dir", test_default_dir);
  g_test_add_func ("/text-cache/device-made-ahead", test_device_made_ahead);
  g_test_add_func ("/text-cache/many", test_many);
  return g_test_run ();
}
