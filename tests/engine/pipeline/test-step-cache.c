/* Tests for step caching (pipeline/step-cache.c, the DiT's residual hook) and the guidance-1 path of
 * sample.c, on the tiny built-in model (exact fp32 on the CPU, so equal runs are equal byte for byte). */
#include <math.h>
#include <string.h>

#include "test-util.h"
#include "backends/backend.h"
#include "core/tensor.h"
#include "models/dit/wan.h"
#include "pipeline/sample-impl.h"
#include "pipeline/tiny-impl.h"

struct seen
{
  int last_skipped;
  int sample_events;
};

static void
progress_cb (const struct ke_progress *p, void *user)
{
  struct seen *s = user;
  if (p->stage == KE_STAGE_SAMPLE)
    {
      s->last_skipped = p->forwards_skipped;
      s->sample_events++;
    }
}

static struct ke_gen_params
params (ke_model_t *m, enum ke_cache_mode mode, float thr, struct seen *s)
{
  struct ke_gen_params p = ke_model_params_default (m);
  p.prompt = "a paper boat on a pond";
  p.width = 64;
  p.height = 64;
  p.n_frames = 5;
  p.steps = 8;
  p.seed = 77;
  p.cache = mode;
  p.cache_threshold = thr;
  p.progress = progress_cb;
  p.user_data = s;
  memset (s, 0, sizeof *s);
  return p;
}

static struct ke_video *
run (ke_model_t *m, const struct ke_gen_params *p)
{
  struct ke_video *v = NULL;
  struct ke_error err = { 0 };
  if (ke_generate (m, p, &v, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  return v;
}

/* Threshold 0 measures but never skips: the video equals the uncached one exactly, for both modes. A large
 * threshold skips forwards, and the count is in the progress reports and in made_with. */
static void
test_threshold_zero_and_large (void)
{
  ke_model_t *m = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_model_open (&m, "tiny", &err), ==, KE_STATUS_OK);
  struct seen s;
  struct ke_gen_params p = params (m, KE_CACHE_OFF, -1, &s);
  struct ke_video *ref = run (m, &p);
  const size_t bytes = (size_t) ref->width * ref->height * ref->n_frames * 3;
  g_assert_cmpint (ref->made_with->cache, ==, KE_CACHE_OFF);
  g_assert_cmpint (ref->made_with->cache_skipped, ==, 0);

  const enum ke_cache_mode modes[] = { KE_CACHE_EASY, KE_CACHE_TEA, KE_CACHE_MAG };
  /* forwards skipped at a threshold of 1e6 (8 steps, 2 passes each):
   * EasyCache: sigma starts at 0.999 and 0.972 (> sigma(15%) = 0.966 at shift 5): not cached; step 2 measures
   * the first transformation rate; steps 3-7 skip (the end, sigma(95%) = 0.208, is not reached): 10.
   * TeaCache: the first and the last step compute; steps 1-6 skip: 12 (the tiny model's random time embedding
   * changes by 50-120 % a step, which the TI2V polynomial rescales to 2e4..2e5: their sum stays under 1e6).
   * MagCache: forwards 0-2 (step 0, step 1 cond) are retained (20 % of 16); then each pass skips at most
   * K = 2 steps in a row: cond skips steps 2, 3, 5, 6; uncond 1, 2, 4, 5, 7: 9. */
  const int expect[] = { 10, 12, 9 };
  for (size_t i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      p = params (m, modes[i], 0.0f, &s);
      struct ke_video *v = run (m, &p);
      g_assert_cmpmem (v->rgb, bytes, ref->rgb, bytes);
      g_assert_cmpint (v->made_with->cache, ==, modes[i]);
      g_assert_cmpfloat (v->made_with->cache_threshold, ==, 0.0f);
      g_assert_cmpint (v->made_with->cache_skipped, ==, 0);
      g_assert_cmpint (s.last_skipped, ==, 0);
      ke_video_free (v);

      p = params (m, modes[i], 1e6f, &s);
      v = run (m, &p);
      g_assert_cmpint (v->made_with->cache_skipped, ==, expect[i]);
      g_assert_cmpint (s.last_skipped, ==, expect[i]);
      g_assert_true (memcmp (v->rgb, ref->rgb, bytes) != 0);
      ke_video_free (v);

      /* the default threshold is recorded as the number used */
      p = params (m, modes[i], -1.0f, &s);
      v = run (m, &p);
      g_assert_cmpfloat (v->made_with->cache_threshold, ==, ke_cache_default_threshold (modes[i], KE_TASK_TI2V_5B));
      g_assert_cmpint (v->made_with->cache_skipped, ==, s.last_skipped);
      ke_video_free (v);
    }
  ke_video_free (ref);
  ke_model_free (m);
}

/* A saved latent carries the cache settings and count; decoding it restores them in made_with. */
static void
test_saved_latent (void)
{
  ke_model_t *m = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_model_open (&m, "tiny", &err), ==, KE_STATUS_OK);
  struct seen s;
  struct ke_gen_params p = params (m, KE_CACHE_EASY, 1e6f, &s);
  g_autofree char *path = test_tmp_path ("step-cache.latent.safetensors");
  p.save_latent_path = path;
  struct ke_video *v = run (m, &p), *d = NULL;
  g_assert_cmpint (v->made_with->cache_skipped, ==, 10);
  g_assert_cmpint (ke_model_decode_latent (m, path, 0, &d, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (d->made_with->cache, ==, KE_CACHE_EASY);
  g_assert_cmpfloat (d->made_with->cache_threshold, ==, 1e6f);
  g_assert_cmpint (d->made_with->cache_skipped, ==, 10);
  ke_video_free (v);
  ke_video_free (d);
  ke_model_free (m);
}

/* --- ke_sample directly: guidance 1 runs no unconditional pass ---------------------------------- */

struct rec
{
  int cond, uncond, noise_equal;
  const float *last_cond;
  int64_t n;
  float *cond_copy;
};

static void
record_cb (void *user, int step, const char *what, const float *data, int64_t n)
{
  struct rec *r = user;
  (void) step;
  if (strcmp (what, "pred_cond") == 0)
    {
      r->cond++;
      memcpy (r->cond_copy, data, sizeof (float) * n);
    }
  else if (strcmp (what, "pred_uncond") == 0)
    r->uncond++;
  else if (strcmp (what, "noise_pred") == 0 && memcmp (data, r->cond_copy, sizeof (float) * n) == 0)
    r->noise_equal++;
}

struct tiny_dit
{
  struct ke_tensor_set *w;
  struct ke_dit *dit;
  struct ke_expert ex;
};

static enum ke_status
expert_cb (void *user, int which, struct ke_expert **out, struct ke_error *err)
{
  struct tiny_dit *t = user;
  (void) which;
  (void) err;
  *out = &t->ex;
  return KE_STATUS_OK;
}

static void
test_guidance_one_skips_uncond (void)
{
  struct tiny_dit t = { 0 };
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_tiny_dit_weights (&t.w, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_dit_init (&t.dit, t.w, NULL, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  const struct ke_dit_config *c = ke_dit_get_config (t.dit);
  float *text = g_new0 (float, 3 * c->text_dim);
  for (int i = 0; i < 3 * c->text_dim; i++)
    text[i] = sinf ((float) i);
  g_assert_cmpint (ke_dit_context_new (t.dit, text, 3, &t.ex.cond, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_dit_context_new (t.dit, text, 2, &t.ex.uncond, &err), ==, KE_STATUS_OK);
  t.ex.dit = t.dit;
  const int z = c->in_dim, F = 2, H = 4, W = 4;
  const int64_t n = (int64_t) z * F * H * W;
  for (int pass = 0; pass < 2; pass++)
    {
      const float g = pass == 0 ? 1.0f : 3.0f;
      float *x = g_new (float, n);
      for (int64_t k = 0; k < n; k++)
        x[k] = cosf ((float) k * 0.37f);
      struct rec r = { 0 };
      r.cond_copy = g_new (float, n);
      struct ke_sample_args a = { 0 };
      a.z = z;
      a.F = F;
      a.H = H;
      a.W = W;
      a.patch_h = a.patch_w = 2;
      a.x = x;
      a.solver = KE_SOLVER_EULER_LIGHTNING;
      a.steps = 4;
      a.shift = 5.0;
      a.guide = a.guide_high = g;
      a.n_train = 1000;
      a.expert = expert_cb;
      a.expert_user = &t;
      a.record = record_cb;
      a.record_user = &r;
      g_assert_cmpint (ke_sample (&a, &err), ==, KE_STATUS_OK);
      g_assert_cmpint (r.cond, ==, 4);
      /* guidance 1: no unconditional pass, and the velocity is the conditional prediction itself */
      g_assert_cmpint (r.uncond, ==, pass == 0 ? 0 : 4);
      if (pass == 0)
        g_assert_cmpint (r.noise_equal, ==, 4);
      g_free (r.cond_copy);
      g_free (x);
    }
  g_free (text);
  ke_dit_context_free (t.ex.cond);
  ke_dit_context_free (t.ex.uncond);
  ke_dit_free (t.dit);
  ke_tset_free (t.w);
}

/* The DiT hook alone: a skipped forward at the same input and timestep as the stored one gives the stored
 * output again (x + (x_after - x_before) = x_after up to one rounding per element: 1e-5 abs on outputs of
 * order 1); a skip without a stored residual is an error, not a crash. */
static void
test_residual_hook (void)
{
  struct ke_tensor_set *w = NULL;
  struct ke_dit *dit = NULL;
  struct ke_dit_context *ctx = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_tiny_dit_weights (&w, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_dit_init (&dit, w, NULL, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  const struct ke_dit_config *c = ke_dit_get_config (dit);
  float *text = g_new0 (float, 2 * c->text_dim);
  g_assert_cmpint (ke_dit_context_new (dit, text, 2, &ctx, &err), ==, KE_STATUS_OK);
  const int z = c->in_dim, F = 1, H = 4, W = 4;
  const int64_t n = (int64_t) z * F * H * W;
  float *x = g_new (float, n), *a = g_new (float, n), *b = g_new (float, n), *e = g_new (float, c->dim);
  for (int64_t k = 0; k < n; k++)
    x[k] = sinf ((float) k);
  const float t = 500.0f;
  struct ke_dit_residual r = { 0 };
  r.skip = true;
  ke_dit_set_residual (dit, &r);
  g_assert_cmpint (ke_dit_forward (dit, ctx, x, z, NULL, 0, F, H, W, &t, 1, a, NULL, NULL, &err), ==,
                   KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "step cache"));
  memset (&err, 0, sizeof err);
  r.skip = false;
  g_assert_cmpint (ke_dit_forward (dit, ctx, x, z, NULL, 0, F, H, W, &t, 1, a, NULL, NULL, &err), ==, KE_STATUS_OK);
  r.skip = true;
  g_assert_cmpint (ke_dit_forward (dit, ctx, x, z, NULL, 0, F, H, W, &t, 1, b, NULL, NULL, &err), ==, KE_STATUS_OK);
  ke_dit_set_residual (dit, NULL);
  g_assert_true (test_allclose ("skipped forward", b, a, n, 1e-5, 0));
  /* the time embedding helper is finite and depends on t */
  g_assert_cmpint (ke_dit_time_embedding (dit, t, e, &err), ==, KE_STATUS_OK);
  float e0 = e[0];
  g_assert_cmpint (ke_dit_time_embedding (dit, 900.0f, e, &err), ==, KE_STATUS_OK);
  g_assert_true (isfinite (e[0]) && e[0] != e0);
  ke_dit_residual_free (&r);
  g_free (x);
  g_free (a);
  g_free (b);
  g_free (e);
  g_free (text);
  ke_dit_context_free (ctx);
  ke_dit_free (dit);
  ke_tset_free (w);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/step-cache/threshold-zero-and-large", test_threshold_zero_and_large);
  g_test_add_func ("/step-cache/saved-latent", test_saved_latent);
  g_test_add_func ("/step-cache/guidance-one", test_guidance_one_skips_uncond);
  g_test_add_func ("/step-cache/residual-hook", test_residual_hook);
  return g_test_run ();
}
