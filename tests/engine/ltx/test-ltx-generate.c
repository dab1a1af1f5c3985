/* ke_model_open + ke_generate on an LTX-Video model (engine/pipeline/ltx-model.c): the pipeline
 * fixture's tiny single-file checkpoint and upsampler (tests/ltx/fixtures/pipeline*.weights) with a
 * T5 v1.1 encoder of the transformer's caption width and a small unigram tokenizer written here (random
 * weights). What can fail: opening the "CHECKPOINT,UPSAMPLER,T5" spec, the task and defaults, the output
 * size (the requested one, cropped from the padded run), progress and a preview per step (7 + 3 steps of
 * the distilled config; the preview at each pass's latent size, every channel), the same seed giving the same frames and another seed others, image-to-video, cancel, and
 * "stop and keep" in either pass.
 * The numbers of the pipeline itself are test-ltx-pipeline's. */
#include <string.h>

#include "ke.h"
#include "pipeline/io-impl.h"
#include "test-util.h"

#define D 24    /* the fixture transformer's caption_channels */

static char *
fixture (const char *name)
{
  return g_build_filename (LTX_FIXTURES, name, NULL);
}

static void
add_rand (struct ke_io *io, const char *name, int n_dims, const int64_t *shape, float scale, guint32 seed,
          float offset)
{
  struct ke_error err = { 0 };
  float *d = ke_io_add (io, name, KE_DTYPE_F32, n_dims, shape, &err);
  g_assert_nonnull (d);
  int64_t n = 1;
  for (int i = 0; i < n_dims; i++)
    n *= shape[i];
  test_fill_random (d, (size_t) n, seed);
  for (int64_t i = 0; i < n; i++)
    d[i] = offset + scale * d[i];
}

/* A one-layer T5 v1.1 encoder (HF names, d_model 24, 4 heads x 6, d_ff 32, vocab 16) and its tokenizer. */
static char *
write_t5 (void)
{
  g_autofree char *dir = test_tmp_path ("t5");
  g_mkdir_with_parents (dir, 0755);
  char *path = g_build_filename (dir, "model.safetensors", NULL);
  struct ke_io *io = ke_io_new (path);
  const int64_t emb[2] = { 16, D }, sq[2] = { D, D }, wi[2] = { 32, D }, wo[2] = { D, 32 }, rb[2] = { 32, 4 },
                norm[1] = { D };
  add_rand (io, "shared.weight", 2, emb, 1.0f, 1, 0);
  const char *qkvo[4] = { "q", "k", "v", "o" };
  for (int i = 0; i < 4; i++)
    {
      g_autofree char *n = g_strdup_printf ("encoder.block.0.layer.0.SelfAttention.%s.weight", qkvo[i]);
      add_rand (io, n, 2, sq, 0.2f, 10 + i, 0);
    }
  add_rand (io, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 2, rb, 0.5f, 20, 0);
  add_rand (io, "encoder.block.0.layer.0.layer_norm.weight", 1, norm, 0.1f, 21, 1.0f);
  add_rand (io, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight", 2, wi, 0.2f, 22, 0);
  add_rand (io, "encoder.block.0.layer.1.DenseReluDense.wi_1.weight", 2, wi, 0.2f, 23, 0);
  add_rand (io, "encoder.block.0.layer.1.DenseReluDense.wo.weight", 2, wo, 0.2f, 24, 0);
  add_rand (io, "encoder.block.0.layer.1.layer_norm.weight", 1, norm, 0.1f, 25, 1.0f);
  add_rand (io, "encoder.final_layer_norm.weight", 1, norm, 0.1f, 26, 1.0f);
  g_assert_cmpint (ke_io_set_meta (io, "config", "{\"model_type\": \"t5\", \"d_model\": 24, \"num_heads\": 4, "
                                   "\"d_kv\": 6, \"d_ff\": 32, \"num_layers\": 1, \"vocab_size\": 16, "
                                   "\"relative_attention_num_buckets\": 32, \"relative_attention_max_distance\": 128, "
                                   "\"feed_forward_proj\": \"gated-gelu\"}"), ==, KE_STATUS_OK);
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_io_write (io, path, &err), ==, KE_STATUS_OK);
  ke_io_free (io);
  g_autofree char *tj = g_build_filename (dir, "tokenizer.json", NULL);
  const char *json = "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 2, \"vocab\": ["
                     "[\"<pad>\", 0], [\"</s>\", 0], [\"<unk>\", 0], [\"\u2581red\", -2], [\"\u2581fox\", -2],"
                     "[\"\u2581\", -3], [\"r\", -5], [\"e\", -5], [\"d\", -5], [\"f\", -5], [\"o\", -5], [\"x\", -5]]},"
                     "\"added_tokens\": [{\"id\": 0, \"content\": \"<pad>\", \"special\": true},"
                     "{\"id\": 1, \"content\": \"</s>\", \"special\": true}, {\"id\": 2, \"content\": \"<unk>\", "
                     "\"special\": true}]}";
  g_assert_true (g_file_set_contents (tj, json, -1, NULL));
  return path;
}

static ke_model_t *
open_model (void)
{
  g_autofree char *w = fixture ("pipeline.weights.safetensors");
  g_autofree char *u = fixture ("pipeline_upsampler.weights.safetensors");
  if (!test_require_fixture (w) || !test_require_fixture (u))
    return NULL;
  g_autofree char *t5 = write_t5 ();
  g_autofree char *spec = g_strdup_printf ("%s,%s,%s", w, u, t5);
  ke_model_t *m = NULL;
  struct ke_error err = { 0 };
  if (ke_model_open (&m, spec, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  return m;
}

struct counts
{
  int sample, last_step, n_steps, done;
  int cancel_at;
  int stop_at;                  /* "stop and keep" after this many steps */
  int previews, preview_bad;    /* previews seen; those with a wrong shape or step */
};

/* a preview per step: the pass's latent grid (first pass 2x1x1, second 2x2x2 for the padded 96x64x9) with
 * every channel, and RGB bytes that are not all one value */
static void
preview_cb (const struct ke_preview *pv, void *user)
{
  struct counts *c = user;
  c->previews++;
  const bool first = pv->step <= 7;
  const int h = first ? 1 : 2, w = first ? 1 : 2;
  bool ok = pv->step == c->previews && pv->n_steps == 10 && pv->n_frames == 2 && pv->height == h &&
            pv->width == w && pv->latent_channels == 8 && pv->latent && pv->rgb && !pv->full_rgb;
  if (ok && !first)
    {
      bool varied = false;
      for (int i = 1; i < pv->n_frames * h * w * 3; i++)
        varied |= pv->rgb[i] != pv->rgb[0];
      ok = varied;
    }
  c->preview_bad += !ok;
}

static void
progress_cb (const struct ke_progress *p, void *user)
{
  struct counts *c = user;
  if (p->stage == KE_STAGE_SAMPLE && p->step > 0)
    {
      c->sample++;
      c->last_step = p->step;
      c->n_steps = p->n_steps;
    }
  if (p->stage == KE_STAGE_DONE)
    c->done++;
}

static int
abort_cb (void *user)
{
  struct counts *c = user;
  if (c->stop_at > 0 && c->sample >= c->stop_at)
    return 2;
  return c->cancel_at > 0 && c->sample >= c->cancel_at ? 1 : 0;
}

static struct ke_gen_params
small_params (ke_model_t *m, struct counts *c, int64_t seed)
{
  struct ke_gen_params p = ke_model_params_default (m);
  p.prompt = "red fox";
  p.width = 90;
  p.height = 40;
  p.n_frames = 7;
  p.fps = 24;
  p.seed = seed;
  p.backend = "cpu";
  p.precision = KE_PRECISION_FP32;
  p.progress = progress_cb;
  p.abort = abort_cb;
  p.user_data = c;
  return p;
}

static void
test_t2v (void)
{
  ke_model_t *m = open_model ();
  if (!m)
    return;
  g_assert_cmpint (ke_model_task (m), ==, KE_TASK_LTXV);
  struct ke_gen_params d = ke_model_params_default (m);
  g_assert_cmpint (d.width, ==, 1216);
  g_assert_cmpint (d.height, ==, 704);
  g_assert_cmpint (d.n_frames, ==, 121);
  struct counts c = { 0 };
  struct ke_gen_params p = small_params (m, &c, 10);
  p.preview = preview_cb;
  struct ke_video *v = NULL, *v2 = NULL, *v3 = NULL;
  struct ke_error err = { 0 };
  if (ke_generate (m, &p, &v, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  /* the requested size, cropped from the padded 96 x 64 x 9 run */
  g_assert_cmpint (v->width, ==, 90);
  g_assert_cmpint (v->height, ==, 40);
  g_assert_cmpint (v->n_frames, ==, 7);
  g_assert_cmpint (c.sample, ==, 10);
  g_assert_cmpint (c.last_step, ==, 10);
  g_assert_cmpint (c.n_steps, ==, 10);
  g_assert_cmpint (c.done, ==, 1);
  g_assert_cmpint (c.previews, ==, 10);
  g_assert_cmpint (c.preview_bad, ==, 0);
  g_assert_nonnull (v->made_with);
  g_assert_cmpint (v->made_with->seed, ==, 10);
  g_assert_cmpint (v->made_with->steps, ==, 10);
  /* the same seed: the same frames; another seed: others */
  if (ke_generate (m, &p, &v2, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  g_assert_cmpmem (v->rgb, 90 * 40 * 7 * 3, v2->rgb, 90 * 40 * 7 * 3);
  p.seed = 11;
  if (ke_generate (m, &p, &v3, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  g_assert_true (memcmp (v->rgb, v3->rgb, 90 * 40 * 7 * 3) != 0);
  ke_video_free (v);
  ke_video_free (v2);
  ke_video_free (v3);
  ke_model_free (m);
}

static void
test_i2v_and_cancel (void)
{
  ke_model_t *m = open_model ();
  if (!m)
    return;
  uint8_t rgb[26 * 47 * 3];
  for (int i = 0; i < 26 * 47 * 3; i++)
    rgb[i] = (uint8_t) ((i * 37) % 251);
  const struct ke_image im = { 47, 26, rgb };
  struct counts c = { 0 };
  struct ke_gen_params p = small_params (m, &c, 11);
  p.image = &im;
  struct ke_video *v = NULL, *t = NULL;
  struct ke_error err = { 0 };
  if (ke_generate (m, &p, &v, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  g_assert_cmpint (v->width, ==, 90);
  g_assert_cmpint (v->n_frames, ==, 7);
  /* the image changes the result */
  p.image = NULL;
  if (ke_generate (m, &p, &t, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  g_assert_true (memcmp (v->rgb, t->rgb, 90 * 40 * 7 * 3) != 0);
  ke_video_free (v);
  ke_video_free (t);
  /* cancel after the third step: no video, KE_STATUS_ABORTED */
  struct counts c2 = { .cancel_at = 3 };
  p = small_params (m, &c2, 12);
  struct ke_video *x = NULL;
  g_assert_cmpint (ke_generate (m, &p, &x, &err), ==, KE_STATUS_ABORTED);
  g_assert_null (x);
  g_assert_cmpint (c2.last_step, ==, 3);
  /* stop and keep after the second step of the second pass: a video from the x0 estimate, 9 steps run */
  struct counts c3 = { .stop_at = 9 };
  p = small_params (m, &c3, 12);
  g_assert_cmpint (ke_generate (m, &p, &x, &err), ==, KE_STATUS_OK);
  g_assert_nonnull (x);
  g_assert_cmpint (x->n_frames, ==, 7);
  g_assert_cmpint (x->made_with->steps, ==, 9);
  ke_video_free (x);
  /* and in the first pass (the upsampled x0 estimate is decoded, the second pass skipped) */
  struct counts c4 = { .stop_at = 2 };
  p = small_params (m, &c4, 12);
  g_assert_cmpint (ke_generate (m, &p, &x, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (x->made_with->steps, ==, 2);
  g_assert_cmpint (c4.last_step, ==, 2);
  ke_video_free (x);
  ke_model_free (m);
}

/* On the CPU fp8 is the fast (bf16) path: the same frames as bf16 from one model kept between runs, the
 * transformer's precision in effect recorded as bf16 */
static void
test_precision_fp8_on_cpu (void)
{
  ke_model_t *m = open_model ();
  if (!m)
    return;
  struct counts c = { 0 };
  struct ke_gen_params p = small_params (m, &c, 3);
  struct ke_video *bf16 = NULL, *fp8 = NULL;
  struct ke_error err = { 0 };
  p.precision = KE_PRECISION_BF16;
  if (ke_generate (m, &p, &bf16, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  g_assert_cmpint (bf16->made_with->precision_used, ==, KE_PRECISION_BF16);
  p.precision = KE_PRECISION_FP8;
  if (ke_generate (m, &p, &fp8, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  g_assert_cmpint (fp8->made_with->precision, ==, KE_PRECISION_FP8);
  g_assert_cmpint (fp8->made_with->precision_used, ==, KE_PRECISION_BF16);
  g_assert_cmpmem (bf16->rgb, 90 * 40 * 7 * 3, fp8->rgb, 90 * 40 * 7 * 3);
  ke_video_free (bf16);
  ke_video_free (fp8);
  ke_model_free (m);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ltx-generate/t2v", test_t2v);
  g_test_add_func ("/ltx-generate/i2v-and-cancel", test_i2v_and_cancel);
  g_test_add_func ("/ltx-generate/precision-fp8-on-cpu", test_precision_fp8_on_cpu);
  return g_test_run ();
}
