/* Tests for engine/loaders/pth.c: genuine torch.save files, hand-written and ZIP64 archives, and
 * hostile files, all written at test time by make-pth.py. */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "loaders/loaders.h"
#include "test-util.h"

static char *g_dir;        /* where make-pth.py wrote its files */

static void
make_files (void)
{
  const char *src = g_getenv ("KINORA_SOURCE_ROOT");
  g_autofree char *script = g_build_filename (src ? src : ".", "tests", "engine", "loaders", "make-pth.py", NULL);
  g_dir = test_tmp_path ("pth");
  const char *argv[] = { "/usr/bin/python3", script, g_dir, NULL };
  g_autofree char *out = NULL, *errs = NULL;
  int status = 0;
  GError *error = NULL;
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &errs, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("make-pth.py failed: %s", errs);
  g_test_message ("torch.pth written by: %s", g_strstrip (out));
}

static struct ke_tensor_set *
open_ok (const char *name)
{
  g_autofree char *path = g_build_filename (g_dir, name, NULL);
  struct ke_tensor_set *s = NULL;
  struct ke_error err = { 0 };
  enum ke_status st = ke_pth_open (&s, path, &err);
  if (st != KE_STATUS_OK)
    g_error ("%s: %s", name, err.msg);
  return s;
}

static const struct ke_tensor *
get (struct ke_tensor_set *s, const char *name, enum ke_dtype type, int n_dims, const int64_t *shape)
{
  const struct ke_tensor *t = ke_tset_get (s, name);
  g_assert_nonnull (t);
  g_assert_cmpint (t->type, ==, type);
  g_assert_true (ke_tensor_shape_is (t, n_dims, shape));
  return t;
}

/* The formulas are those of make-pth.py; every value is exact in its dtype, so the check is exact. */
static void
check_state_dict (struct ke_tensor_set *s)
{
  g_assert_cmpint (ke_tset_count (s), ==, 7);
  float v[10];

  const struct ke_tensor *a = get (s, "a.weight", KE_DTYPE_F32, 2, (int64_t[]) { 2, 3 });
  ke_convert_to_f32 (v, a->data, a->type, 1.0f, 6);
  for (int j = 0; j < 6; j++)
    g_assert_cmpfloat (v[j], ==, j * 0.5f - 1.0f);

  const struct ke_tensor *b = get (s, "b.bf16", KE_DTYPE_BF16, 2, (int64_t[]) { 4, 2 });
  ke_convert_to_f32 (v, b->data, b->type, 1.0f, 8);
  for (int j = 0; j < 8; j++)
    g_assert_cmpfloat (v[j], ==, (j - 3) * 0.25f);

  const struct ke_tensor *c = get (s, "c.half", KE_DTYPE_F16, 3, (int64_t[]) { 2, 2, 2 });
  ke_convert_to_f32 (v, c->data, c->type, 1.0f, 8);
  for (int j = 0; j < 8; j++)
    g_assert_cmpfloat (v[j], ==, j * 0.125f);

  const struct ke_tensor *d = get (s, "d.long", KE_DTYPE_I64, 1, (int64_t[]) { 3 });
  for (int j = 0; j < 3; j++)
    g_assert_cmpint (((const int64_t *) d->data)[j], ==, (int64_t) j * 1000000007 - 5);

  const struct ke_tensor *e = get (s, "e.full", KE_DTYPE_F32, 1, (int64_t[]) { 10 });
  const struct ke_tensor *ev = get (s, "e.view", KE_DTYPE_F32, 1, (int64_t[]) { 4 });
  for (int j = 0; j < 10; j++)
    g_assert_cmpfloat (((const float *) e->data)[j], ==, (float) j);
  for (int j = 0; j < 4; j++)
    g_assert_cmpfloat (((const float *) ev->data)[j], ==, (float) (6 + j));
  /* the view shares its storage with e.full (zero-copy) */
  g_assert_true ((const float *) ev->data == (const float *) e->data + 6);

  const struct ke_tensor *f = get (s, "f.scalar", KE_DTYPE_F32, 0, NULL);
  g_assert_cmpint (f->n_dims, ==, 0);
  g_assert_cmpfloat (*(const float *) f->data, ==, 3.5f);
}

static void
test_torch_save (void)
{
  struct ke_tensor_set *s = open_ok ("torch.pth");
  check_state_dict (s);
  /* zero-copy: the blobs are 64-byte aligned inside the mapping */
  g_assert_cmpuint ((uintptr_t) ke_tset_get (s, "a.weight")->data % 64, ==, 0);
  ke_tset_free (s);
}

/* The same state dict saved by Debian's torch 1.13 (torch.save), kept in the tree so a genuine file is
 * read even where PyTorch is not installed. */
static void
test_torch_save_committed (void)
{
  const char *src = g_getenv ("KINORA_SOURCE_ROOT");
  g_autofree char *path = g_build_filename (src ? src : ".", "tests", "engine", "loaders", "data", "torch-1.13.pth",
                                            NULL);
  struct ke_tensor_set *s = NULL;
  struct ke_error err = { 0 };
  if (ke_pth_open (&s, path, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  check_state_dict (s);
  ke_tset_free (s);
}

static void
test_hand_written (void)
{
  struct ke_tensor_set *s = open_ok ("hand.pth");
  check_state_dict (s);
  ke_tset_free (s);
}

static void
test_zip64 (void)
{
  struct ke_tensor_set *s = open_ok ("zip64.pth");
  check_state_dict (s);
  ke_tset_free (s);
}

static void
test_weights_open (void)
{
  /* ke_weights_open picks the .pth reader by the zip magic */
  g_autofree char *path = g_build_filename (g_dir, "torch.pth", NULL);
  struct ke_tensor_set *s = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_weights_open (&s, path, &err), ==, KE_STATUS_OK);
  check_state_dict (s);
  ke_tset_free (s);
}

static void
test_hostile (void)
{
  g_autofree char *list = g_build_filename (g_dir, "hostile.txt", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (list, &text, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  int n = 0;
  for (int i = 0; lines[i]; i++)
    {
      if (!lines[i][0])
        continue;
      g_auto (GStrv) f = g_strsplit (lines[i], "\t", 2);
      g_assert_nonnull (f[1]);
      g_autofree char *path = g_build_filename (g_dir, f[0], NULL);
      struct ke_tensor_set *s = NULL;
      struct ke_error err = { 0 };
      enum ke_status st = ke_pth_open (&s, path, &err);
      g_test_message ("%s -> %s", f[0], err.msg);
      if (st == KE_STATUS_OK)
        g_error ("%s was accepted", f[0]);
      g_assert_null (s);
      g_assert_cmpint (err.code, ==, st);
      /* the message names the file and says what is wrong */
      if (!strstr (err.msg, f[0]) || !strstr (err.msg, f[1]))
        g_error ("%s: message \"%s\" lacks the file name or \"%s\"", f[0], err.msg, f[1]);
      n++;
    }
  g_assert_cmpint (n, >=, 25);
}

/* Mutate valid images (truncations, bit flips, byte stores, mostly in the headers and the pickle at
 * the front) for a bounded time: every parse must return, and accepted tensors must lie inside the
 * buffer. The image is malloc'd at its exact size so an over-read would hit the heap redzone under
 * ASan. */
static void
fuzz_image (const char *name, double seconds, GRand *rng, int *n_ok, int *n_bad)
{
  g_autofree char *path = g_build_filename (g_dir, name, NULL);
  g_autofree char *orig = NULL;
  gsize size = 0;
  g_assert_true (g_file_get_contents (path, &orig, &size, NULL));
  gint64 end = g_get_monotonic_time () + (gint64) (seconds * 1e6);
  while (g_get_monotonic_time () < end)
    {
      gsize n = size;
      int kind = g_rand_int_range (rng, 0, 4);
      if (kind == 0)
        n = (gsize) g_rand_int_range (rng, 0, (gint32) size);
      unsigned char *buf = g_malloc (n ? n : 1);
      memcpy (buf, orig, n);
      int n_mut = kind == 0 ? 0 : g_rand_int_range (rng, 1, 9);
      for (int m = 0; m < n_mut && n > 0; m++)
        {
          /* half the mutations land in the first KiB (local header + data.pkl) */
          gsize lim = g_rand_boolean (rng) && n > 1024 ? 1024 : n;
          gsize at = (gsize) g_rand_int_range (rng, 0, (gint32) lim);
          if (kind == 1)
            buf[at] ^= (unsigned char) (1u << g_rand_int_range (rng, 0, 8));
          else if (kind == 2)
            buf[at] = (unsigned char) g_rand_int_range (rng, 0, 256);
          else
            buf[n - 1 - (at % n)] = g_rand_boolean (rng) ? 0xff : 0x00;   /* directory end */
        }
      struct ke_tensor_set *s = ke_tset_new (name);
      struct ke_error err = { 0 };
      if (ke_pth_parse (s, buf, n, &err) == KE_STATUS_OK)
        {
          for (int i = 0; i < ke_tset_count (s); i++)
            {
              const struct ke_tensor *t = ke_tset_at (s, i);
              const unsigned char *p = t->data;
              if (p >= buf && p < buf + n)
                g_assert_cmpuint ((gsize) (p - buf) + ke_tensor_nbytes (t), <=, n);
            }
          (*n_ok)++;
        }
      else
        {
          g_assert_cmpuint (strlen (err.msg), >, 0);
          (*n_bad)++;
        }
      ke_tset_free (s);
      g_free (buf);
    }
}

static void
test_fuzz (void)
{
  const char *env = g_getenv ("KINORA_FUZZ_SECONDS");
  double seconds = env ? g_ascii_strtod (env, NULL) : 2.0;
  GRand *rng = g_rand_new_with_seed (1234);
  int n_ok = 0, n_bad = 0;
  fuzz_image ("torch.pth", seconds / 2, rng, &n_ok, &n_bad);
  fuzz_image ("zip64.pth", seconds / 2, rng, &n_ok, &n_bad);
  g_rand_free (rng);
  g_test_message ("fuzz: %d mutated images accepted, %d refused", n_ok, n_bad);
  g_assert_cmpint (n_ok + n_bad, >, 100);
  g_assert_cmpint (n_bad, >, 0);
}

static void
test_missing_file (void)
{
  struct ke_tensor_set *s = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_pth_open (&s, "/nonexistent/x.pth", &err), ==, KE_STATUS_IO);
  g_assert_nonnull (strstr (err.msg, "/nonexistent/x.pth"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  make_files ();
  g_test_add_func ("/pth/torch-save", test_torch_save);
  g_test_add_func ("/pth/torch-save-committed", test_torch_save_committed);
  g_test_add_func ("/pth/hand-written", test_hand_written);
  g_test_add_func ("/pth/zip64", test_zip64);
  g_test_add_func ("/pth/weights-open", test_weights_open);
  g_test_add_func ("/pth/hostile", test_hostile);
  g_test_add_func ("/pth/missing-file", test_missing_file);
  g_test_add_func ("/pth/fuzz", test_fuzz);
  return g_test_run ();
}
