/* Tests for engine/pipeline/generate.c, model.c and sample.c with the tiny built-in model: callbacks,
 * reproducibility, cancel and "stop and keep", saved latents, image conditioning, bad input; the
 * precision setting on the CPU (fp8 runs as bf16) with a small two-expert model of random weights. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test-util.h"
#include "backends/backend.h"
#include "pipeline/io-impl.h"
#include "pipeline/model-impl.h"
#include "pipeline/tiny-impl.h"

struct watch
{
  int n_preview, n_progress, last_step;
  int preview_ok;
  int stop_after;         /* abort answer 2 once this many previews arrived (0: never) */
  int cancel_after;       /* abort answer 1 once this many previews arrived (0: never) */
  double last_elapsed;
  int monotonic;
};

static void
preview_cb (const struct ke_preview *p, void *user)
{
  struct watch *w = user;
  w->n_preview++;
  /* 64x64, 5 frames -> latent 2 x 4 x 4 with 48 channels */
  w->preview_ok = w->preview_ok && p->n_frames == 2 && p->width == 4 && p->height == 4 && p->latent_channels == 48 &&
                  p->rgb != NULL && p->latent != NULL && p->step == w->n_preview;
}

static void
progress_cb (const struct ke_progress *p, void *user)
{
  struct watch *w = user;
  w->n_progress++;
  if (p->elapsed_s < w->last_elapsed)
    w->monotonic = 0;
  w->last_elapsed = p->elapsed_s;
  if (p->stage == KE_STAGE_SAMPLE)
    w->last_step = p->step;
}

static int
abort_cb (void *user)
{
  struct watch *w = user;
  if (w->cancel_after && w->n_preview >= w->cancel_after)
    return 1;
  if (w->stop_after && w->n_preview >= w->stop_after)
    return 2;
  return 0;
}

static struct ke_gen_params
small_params (ke_model_t *m, struct watch *w)
{
  struct ke_gen_params p = ke_model_params_default (m);
  p.prompt = "a lighthouse at dusk";
  p.width = 64;
  p.height = 64;
  p.n_frames = 5;
  p.steps = 3;
  p.seed = 1234;
  p.preview = preview_cb;
  p.progress = progress_cb;
  p.abort = abort_cb;
  p.user_data = w;
  memset (w, 0, sizeof *w);
  w->preview_ok = 1;
  w->monotonic = 1;
  return p;
}

static ke_model_t *
open_tiny (void)
{
  ke_model_t *m = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_model_open (&m, "tiny", &err), ==, KE_STATUS_OK);
  g_assert_true (ke_model_is_random (m));
  g_assert_nonnull (strstr (ke_model_name (m), "random weights"));
  g_assert_cmpint (ke_model_task (m), ==, KE_TASK_TI2V_5B);
  return m;
}

/* Previews every step, progress, and the same seed giving the same video byte for byte (the tiny model
 * runs in exact fp32 on the CPU). */
static void
test_run_and_repeat (void)
{
  ke_model_t *m = open_tiny ();
  struct watch w;
  struct ke_gen_params p = small_params (m, &w);
  struct ke_video *a = NULL, *b = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_generate (m, &p, &a, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (a->width, ==, 64);
  g_assert_cmpint (a->height, ==, 64);
  g_assert_cmpint (a->n_frames, ==, 5);
  g_assert_cmpfloat (a->fps, ==, 24.0);
  g_assert_cmpint (w.n_preview, ==, 3);
  g_assert_true (w.preview_ok);
  g_assert_true (w.monotonic);
  g_assert_cmpint (w.last_step, ==, 3);
  p = small_params (m, &w);
  g_assert_cmpint (ke_generate (m, &p, &b, &err), ==, KE_STATUS_OK);
  g_assert_cmpmem (a->rgb, 64 * 64 * 5 * 3, b->rgb, 64 * 64 * 5 * 3);
  ke_video_free (b);
  /* another seed, another video */
  p = small_params (m, &w);
  p.seed = 99;
  g_assert_cmpint (ke_generate (m, &p, &b, &err), ==, KE_STATUS_OK);
  g_assert_true (memcmp (a->rgb, b->rgb, 64 * 64 * 5 * 3) != 0);
  ke_video_free (a);
  ke_video_free (b);
  ke_model_free (m);
}

static void
test_cancel_and_stop (void)
{
  ke_model_t *m = open_tiny ();
  struct watch w;
  struct ke_gen_params p = small_params (m, &w);
  struct ke_video *v = NULL;
  struct ke_error err = { 0 };
  w.cancel_after = 1;
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_ABORTED);
  g_assert_null (v);
  g_assert_cmpint (w.n_preview, ==, 1);
  /* stop and keep: sampling ends after step 1, the x0 estimate is decoded */
  p = small_params (m, &w);
  p.steps = 6;
  w.stop_after = 1;
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_OK);
  g_assert_nonnull (v);
  g_assert_cmpint (w.n_preview, ==, 1);
  g_assert_cmpint (v->n_frames, ==, 5);
  ke_video_free (v);
  ke_model_free (m);
}

/* The saved latent decodes to the same video. */
static void
test_save_and_decode_latent (void)
{
  ke_model_t *m = open_tiny ();
  struct watch w;
  struct ke_gen_params p = small_params (m, &w);
  g_autofree char *path = test_tmp_path ("latent.safetensors");
  struct ke_video *a = NULL, *b = NULL;
  struct ke_error err = { 0 };
  p.save_latent_path = path;
  g_assert_cmpint (ke_generate (m, &p, &a, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_model_decode_latent (m, path, 0, &b, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (b->n_frames, ==, a->n_frames);
  g_assert_cmpmem (a->rgb, 64 * 64 * 5 * 3, b->rgb, 64 * 64 * 5 * 3);
  ke_video_free (a);
  ke_video_free (b);
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_model_decode_latent (m, "/nonexistent/latent.safetensors", 0, &b, &err), ==, KE_STATUS_IO);
  ke_model_free (m);
}

/* TI2V image mode: the output size follows the image's aspect ratio inside the area (best_output_size). */
static void
test_image_mode (void)
{
  ke_model_t *m = open_tiny ();
  struct watch w;
  struct ke_gen_params p = small_params (m, &w);
  guint8 *px = g_malloc (120 * 60 * 3);
  for (int i = 0; i < 120 * 60 * 3; i++)
    px[i] = (guint8) (i * 7);
  struct ke_image im = { 120, 60, px };
  struct ke_video *v = NULL;
  struct ke_error err = { 0 };
  p.image = &im;
  p.width = 96;
  p.height = 64;
  p.preview = NULL;
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_OK);
  /* 2:1 in an area of 96*64: candidate 1, 96x64 (1.5:1), beats 192x32 (6:1); the public rule says the same */
  int ow, oh, of;
  g_assert_cmpint (ke_gen_output_size (p.task, p.width, p.height, p.n_frames, im.width, im.height, &ow, &oh, &of),
                   ==, KE_STATUS_OK);
  g_assert_cmpint (ow, ==, 96);
  g_assert_cmpint (oh, ==, 64);
  g_assert_cmpint (v->width, ==, ow);
  g_assert_cmpint (v->height, ==, oh);
  g_assert_cmpint (v->n_frames, ==, of);
  ke_video_free (v);
  g_free (px);
  ke_model_free (m);
}

static void
test_bad_input (void)
{
  ke_model_t *m = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_model_open (&m, "/nonexistent/model-folder", &err), ==, KE_STATUS_IO);
  g_assert_nonnull (strstr (err.msg, "/nonexistent/model-folder"));
  g_assert_null (m);
  m = open_tiny ();
  struct watch w;
  struct ke_gen_params p = small_params (m, &w);
  struct ke_video *v = NULL;
  memset (&err, 0, sizeof err);
  p.n_frames = 6;
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "4n+1"));
  g_assert_null (v);
  p = small_params (m, &w);
  p.task = KE_TASK_T2V_A14B;
  p.width = 832;
  p.height = 480;
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "ti2v-5B"));
  ke_model_free (m);
}

/* Issue 11 item 1: at one frame of 32x32 the timestep sinusoids (U x freq_dim floats) outgrew the DiT's
 * host staging buffer, sized from the latent and the RoPE table only (heap overflow: "malloc(): invalid
 * size", caught by the ASan build). The smallest size must simply work. */
static void
test_one_small_frame (void)
{
  ke_model_t *m = open_tiny ();
  struct watch w;
  struct ke_gen_params p = small_params (m, &w);
  struct ke_video *v = NULL;
  struct ke_error err = { 0 };
  p.width = 32;
  p.height = 32;
  p.n_frames = 1;
  p.steps = 1;
  p.preview = NULL;
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (v->width, ==, 32);
  g_assert_cmpint (v->height, ==, 32);
  g_assert_cmpint (v->n_frames, ==, 1);
  ke_video_free (v);
  ke_model_free (m);
}

/* Issue 11 item 9: a model that outputs NaN (eps NaN made every norm NaN) gave an all-NaN video with
 * success. Now generation fails naming the stage and step; a latent holding NaN is refused before
 * decoding. */
static void
test_non_finite (void)
{
  ke_model_t *m = open_tiny ();
  struct watch w;
  struct ke_gen_params p = small_params (m, &w);
  struct ke_video *v = NULL;
  struct ke_error err = { 0 };
  g_autofree char *path = test_tmp_path ("nan-latent.safetensors");
  struct ke_tensor *bias = ke_tset_get (m->dit_w[0], "head.head.bias");
  g_assert_nonnull (bias);
  g_assert_cmpint (bias->type, ==, KE_DTYPE_F32);
  /* a good run first, saving its latent */
  p.save_latent_path = path;
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_OK);
  ke_video_free (v);
  v = NULL;
  /* then a NaN in the DiT's output bias (the DiT is built from these weights when first used) */
  ke_model_free (m);
  m = open_tiny ();
  bias = ke_tset_get (m->dit_w[0], "head.head.bias");
  ((float *) bias->data)[0] = NAN;
  p = small_params (m, &w);
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_ERROR);
  g_assert_null (v);
  g_test_message ("%s", err.msg);
  g_assert_nonnull (strstr (err.msg, "the DiT (conditional pass) produced non-finite values (NaN at element"));
  g_assert_nonnull (strstr (err.msg, "at step 1 of 3"));
  ke_model_free (m);

  /* a saved latent with an infinity in it */
  m = open_tiny ();
  struct ke_io *io = NULL;
  g_assert_cmpint (ke_io_read (&io, path, &err), ==, KE_STATUS_OK);
  const struct ke_io_tensor *t = ke_io_get (io, "latent");
  g_assert_nonnull (t);
  g_assert_cmpint (t->type, ==, KE_DTYPE_F32);
  ((float *) t->data)[7] = INFINITY;   /* the file image is a private malloc'd copy */
  g_assert_cmpint (ke_io_write (io, path, &err), ==, KE_STATUS_OK);
  ke_io_free (io);
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_model_decode_latent (m, path, 0, &v, &err), ==, KE_STATUS_ERROR);
  g_assert_null (v);
  g_test_message ("%s", err.msg);
  g_assert_nonnull (strstr (err.msg, "the latent to decode holds a non-finite value (infinity at element 7)"));
  ke_model_free (m);
}

/* One run at a precision; the video's bytes, and the precision the DiT ran at in *used. */
static GBytes *
run_at (ke_model_t *m, enum ke_precision precision, enum ke_precision *used)
{
  struct ke_gen_params p = ke_model_params_default (m);
  struct ke_video *v = NULL;
  struct ke_error err = { 0 };
  p.prompt = "a fox";
  p.width = p.height = 32;
  p.n_frames = 5;
  p.steps = 3;
  p.seed = 7;
  p.precision = precision;
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (v->made_with->precision, ==, precision);   /* the setting asked, as recorded */
  *used = v->made_with->precision_used;
  GBytes *b = g_bytes_new (v->rgb, (size_t) v->n_frames * v->width * v->height * 3);
  ke_video_free (v);
  return b;
}

/* On the CPU fp8 is the fast (bf16) path: the same bytes as bf16, on the same model between runs (its
 * DiTs kept) and on a fresh one; fp32 stays the exact path. The tiny model runs exact fp32 whatever is
 * asked. */
static void
test_precision_fp8_on_cpu (void)
{
  ke_model_t *m = test_small_a14b ("small a14b"), *fresh = test_small_a14b ("small a14b");
  enum ke_precision used = KE_PRECISION_FP32;
  g_autoptr (GBytes) bf16 = run_at (m, KE_PRECISION_BF16, &used);
  g_assert_cmpint (used, ==, KE_PRECISION_BF16);
  g_autoptr (GBytes) fp8 = run_at (m, KE_PRECISION_FP8, &used);
  g_assert_cmpint (used, ==, KE_PRECISION_BF16);
  g_assert_cmpint (m->dit_form[0], ==, KE_PRECISION_BF16);
  g_assert_true (g_bytes_equal (bf16, fp8));
  g_autoptr (GBytes) bf16_again = run_at (m, KE_PRECISION_BF16, &used);
  g_assert_true (g_bytes_equal (bf16, bf16_again));
  g_autoptr (GBytes) fp8_fresh = run_at (fresh, KE_PRECISION_FP8, &used);
  g_assert_true (g_bytes_equal (bf16, fp8_fresh));
  /* exact: its own DiTs on the exact backend, recorded as fp32 */
  g_autoptr (GBytes) fp32 = run_at (m, KE_PRECISION_FP32, &used);
  g_assert_cmpint (used, ==, KE_PRECISION_FP32);
  g_assert_cmpint (m->dit_form[0], ==, KE_PRECISION_FP32);
  /* the fast path really ran in bf16 where the CPU has bf16 matmuls (elsewhere its VAE's bf16 caches
   * may still tell the two apart: no claim either way) */
  if (ke_cpu_bf16_matmul ())
    g_assert_false (g_bytes_equal (bf16, fp32));
  ke_model_free (fresh);
  ke_model_free (m);

  ke_model_t *tiny = open_tiny ();
  g_autoptr (GBytes) t8 = run_at (tiny, KE_PRECISION_FP8, &used);
  g_assert_cmpint (used, ==, KE_PRECISION_FP32);
  g_autoptr (GBytes) t32 = run_at (tiny, KE_PRECISION_FP32, &used);
  g_assert_true (g_bytes_equal (t8, t32));
  ke_model_free (tiny);
}

/* The names of the precisions, both ways */
static void
test_precision_names (void)
{
  static const struct
  {
    enum ke_precision p;
    const char *name;
  } names[] = { { KE_PRECISION_FP32, "fp32" }, { KE_PRECISION_BF16, "bf16" }, { KE_PRECISION_FP8, "fp8" } };
  for (size_t i = 0; i < G_N_ELEMENTS (names); i++)
    {
      enum ke_precision p = KE_PRECISION_FP32;
      g_assert_cmpstr (ke_precision_name (names[i].p), ==, names[i].name);
      g_assert_cmpint (ke_precision_from_name (names[i].name, &p), ==, 0);
      g_assert_cmpint (p, ==, names[i].p);
    }
  enum ke_precision p = KE_PRECISION_BF16;
  g_assert_cmpint (ke_precision_from_name ("FP8", &p), ==, -1);
  g_assert_cmpint (ke_precision_from_name ("fp16", &p), ==, -1);
  g_assert_cmpint (ke_precision_from_name (NULL, &p), ==, -1);
  g_assert_cmpint (p, ==, KE_PRECISION_BF16);
  g_assert_cmpstr (ke_precision_name ((enum ke_precision) 9), ==, "unknown");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/generate/run-and-repeat", test_run_and_repeat);
  g_test_add_func ("/generate/cancel-and-stop", test_cancel_and_stop);
  g_test_add_func ("/generate/save-and-decode-latent", test_save_and_decode_latent);
  g_test_add_func ("/generate/image-mode", test_image_mode);
  g_test_add_func ("/generate/bad-input", test_bad_input);
  g_test_add_func ("/generate/one-small-frame", test_one_small_frame);
  g_test_add_func ("/generate/non-finite", test_non_finite);
  g_test_add_func ("/generate/precision-fp8-on-cpu", test_precision_fp8_on_cpu);
  g_test_add_func ("/generate/precision-names", test_precision_names);
  return g_test_run ();
}
