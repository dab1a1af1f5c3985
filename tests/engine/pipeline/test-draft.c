/* TAEHV in the pipeline (engine/pipeline/draft.c) with the tiny built-in model (48-channel latents,
 * 16 pixels per latent pixel, as taew2_2) and the 48-channel TAEHV fixture: full-resolution previews
 * that equal a TAEHV decode of each step's estimate, a draft decode that equals a TAEHV decode of the
 * final latent, and clear errors for a missing or mismatched TAEHV file. */
#include <math.h>
#include <string.h>

#include "test-util.h"
#include "backends/backend.h"
#include "loaders/loaders.h"
#include "models/vae/taehv.h"
#include "pipeline/model-impl.h"

static char *
fixture (const char *name)
{
  return g_build_filename (TAEHV_FIXTURES, name, NULL);
}

struct seen
{
  struct ke_taehv *ref;   /* an independent TAEHV over the same file */
  int n, n_full, bad;
  int max_lsb;            /* largest |difference| of a preview byte from the reference decode */
};

static void
preview_cb (const struct ke_preview *p, void *user)
{
  struct seen *s = user;
  s->n++;
  if (!p->full_rgb)
    return;
  s->n_full++;
  /* 64x64 x 5 frames from a 2 x 4 x 4 latent */
  if (p->full_frames != 5 || p->full_width != 64 || p->full_height != 64 || p->rgb == NULL)
    {
      s->bad++;
      return;
    }
  const size_t plane = 64 * 64;
  float *v = g_new (float, 3 * 5 * plane);
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_taehv_decode (s->ref, v, p->latent, p->n_frames, p->height, p->width, NULL, NULL, NULL, &err),
                   ==, KE_STATUS_OK);
  for (int f = 0; f < 5; f++)
    for (size_t i = 0; i < plane; i++)
      for (int c = 0; c < 3; c++)
        {
          const int want = (int) lrintf (v[((size_t) c * 5 + f) * plane + i] * 255.0f);
          const int d = abs ((int) p->full_rgb[((size_t) f * plane + i) * 3 + c] - want);
          s->max_lsb = d > s->max_lsb ? d : s->max_lsb;
        }
  g_free (v);
}

static struct ke_gen_params
params (ke_model_t *m, struct seen *s, const char *taehv)
{
  struct ke_gen_params p = ke_model_params_default (m);
  p.prompt = "a lighthouse at dusk";
  p.width = 64;
  p.height = 64;
  p.n_frames = 5;
  p.steps = 3;
  p.seed = 99;
  p.preview = preview_cb;
  p.user_data = s;
  p.decoder = KE_DECODER_TAEHV;
  p.preview_source = KE_PREVIEW_TAEHV;
  p.taehv_path = taehv;
  return p;
}

/* Previews: every step has full-resolution frames within 1 of the reference decode (rounding of the
 * same float); the video: within 1 of the reference decode of the saved final latent, mapped as the VAE's
 * frames are ((x + 1) / 2 * 255 truncated on [-1, 1]); the made_with record keeps the TAEHV settings. */
static void
test_preview_and_draft (void)
{
  g_autofree char *w = fixture ("taehv_w22_tiny.weights.safetensors");
  g_autofree char *lat_path = test_tmp_path ("draft-latent.safetensors");
  ke_model_t *m = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_model_open (&m, "tiny", &err), ==, KE_STATUS_OK);
  struct seen s = { 0 };
  g_assert_cmpint (ke_taehv_open (&s.ref, w, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  struct ke_gen_params p = params (m, &s, w);
  p.precision = KE_PRECISION_FP32;
  p.save_latent_path = lat_path;
  struct ke_video *v = NULL;
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (s.n, ==, 3);
  g_assert_cmpint (s.n_full, ==, 3);
  g_assert_cmpint (s.bad, ==, 0);
  g_assert_cmpint (s.max_lsb, <=, 1);
  g_assert_cmpint (v->n_frames, ==, 5);
  g_assert_cmpint (v->width, ==, 64);
  g_assert_cmpint (v->height, ==, 64);
  g_assert_nonnull (v->made_with);
  g_assert_cmpint (v->made_with->decoder, ==, KE_DECODER_TAEHV);
  g_assert_cmpint (v->made_with->preview_source, ==, KE_PREVIEW_TAEHV);
  g_assert_cmpstr (v->made_with->taehv_path, ==, w);

  struct ke_tensor_set *ls = NULL;
  g_assert_cmpint (ke_safetensors_open (&ls, lat_path, &err), ==, KE_STATUS_OK);
  const struct ke_tensor *lt = ke_tset_get (ls, "latent");
  g_assert_nonnull (lt);
  const size_t plane = 64 * 64;
  float *ref = g_new (float, 3 * 5 * plane);
  g_assert_cmpint (ke_taehv_decode (s.ref, ref, lt->data, 2, 4, 4, NULL, NULL, NULL, &err), ==, KE_STATUS_OK);
  int max_lsb = 0, lo = 255, hi = 0;
  for (int f = 0; f < 5; f++)
    for (size_t i = 0; i < plane; i++)
      for (int c = 0; c < 3; c++)
        {
          const float x = ref[((size_t) c * 5 + f) * plane + i] * 2.0f - 1.0f;
          const int want = (int) ((x + 1.0f) / 2.0f * 255.0f);
          const int got = v->rgb[((size_t) f * plane + i) * 3 + c];
          max_lsb = abs (got - want) > max_lsb ? abs (got - want) : max_lsb;
          lo = got < lo ? got : lo;
          hi = got > hi ? got : hi;
        }
  g_assert_cmpint (max_lsb, <=, 1);
  g_assert_cmpint (hi - lo, >, 10);   /* not a flat image */
  g_free (ref);
  ke_tset_free (ls);

  /* the default: latent previews only, the VAE decodes (other pixels) */
  struct seen s2 = { .ref = s.ref };
  struct ke_gen_params q = params (m, &s2, NULL);
  q.precision = KE_PRECISION_FP32;
  q.decoder = KE_DECODER_VAE;
  q.preview_source = KE_PREVIEW_LATENT;
  struct ke_video *v2 = NULL;
  g_assert_cmpint (ke_generate (m, &q, &v2, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (s2.n, ==, 3);
  g_assert_cmpint (s2.n_full, ==, 0);
  g_assert_true (memcmp (v->rgb, v2->rgb, 5 * plane * 3) != 0);
  ke_video_free (v);
  ke_video_free (v2);
  ke_taehv_free (s.ref);
  ke_model_free (m);
}

static void
test_bad_taehv (void)
{
  ke_model_t *m = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_model_open (&m, "tiny", &err), ==, KE_STATUS_OK);
  struct seen s = { 0 };
  struct ke_video *v = NULL;
  /* no file */
  struct ke_gen_params p = params (m, &s, NULL);
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "TAEHV"));
  g_assert_null (v);
  /* a 16-channel TAEHV for a 48-channel model */
  g_autofree char *w21 = fixture ("taehv_w21_tiny.weights.safetensors");
  memset (&err, 0, sizeof err);
  p = params (m, &s, w21);
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_SHAPE);
  g_assert_nonnull (strstr (err.msg, "taehv_w21_tiny.weights.safetensors"));
  g_assert_nonnull (strstr (err.msg, "taew2_2"));
  /* a file that is not there */
  memset (&err, 0, sizeof err);
  p = params (m, &s, "/nonexistent/taew2_2.safetensors");
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_IO);
  g_assert_nonnull (strstr (err.msg, "/nonexistent/taew2_2.safetensors"));
  g_assert_cmpint (s.n, ==, 0);
  ke_model_free (m);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/draft/preview-and-draft", test_preview_and_draft);
  g_test_add_func ("/draft/bad-taehv", test_bad_taehv);
  return g_test_run ();
}
