// Kinora engine: `eval ltx-transformer` — run the LTX-Video transformer on the inputs of a golden IO file
// (hidden_states, indices_grid, encoder_hidden_states, encoder_attention_mask, timestep, as
// tests/ltx/gen_transformer.py writes them) and write every output its `outputs` list names.
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"
#include "eval/eval-io.h"
#include "eval/eval.h"
#include "loaders/loaders.h"
#include "models/ltx/ltx-transformer.h"

struct tap_ctx {
    struct ke_eval_out * out;
    char * const * names;
    int n_names;
    int64_t n_tok, n_text, n_t;
    int failed;
};

// Outputs as the reference reports them: [1, rows, width].
static void tap_cb(const char * name, const float * data, int64_t n, void * user)
{
    struct tap_ctx * c = user;
    if (!ke_eval_names_has(c->names, c->n_names, name)) {
        return;
    }
    int64_t rows = c->n_tok;
    if (strcmp(name, "inter.caption_projection") == 0) {
        rows = c->n_text;
    } else if (strcmp(name, "inter.timestep") == 0 || strcmp(name, "inter.embedded_timestep") == 0) {
        rows = c->n_t;
    }
    const int64_t shape[3] = { 1, rows, n / rows };
    if (ke_eval_out_add(c->out, name, data, 3, shape) < 0) {
        c->failed = 1;
    }
}

// The outputs this evaluator writes: "out", the taps, "inter.block<i>" for each block.
static bool known_output(const char * name, int n_layers)
{
    static const char * const fixed[] = {
        "out", "inter.timestep", "inter.embedded_timestep", "inter.caption_projection", "inter.rope_cos",
        "inter.rope_sin",
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (strcmp(name, fixed[i]) == 0) {
            return true;
        }
    }
    int b = -1, used = 0;
    return sscanf(name, "inter.block%d%n", &b, &used) == 1 && name[used] == 0 && b >= 0 && b < n_layers;
}

// The token count of a [1, rows, width] (or [rows, width]) input; -1 when it has another rank.
static int64_t rows_of(const struct ke_tensor * t)
{
    if (t->n_dims == 3 && t->ne[2] == 1) {
        return t->ne[1];
    }
    return t->n_dims == 2 ? t->ne[1] : -1;
}

enum ke_status ke_eval_ltx_transformer(const struct ke_eval_args * a, struct ke_error * err)
{
    if (!a->weights) {
        return ke_err(err, KE_STATUS_INVALID, "eval ltx-transformer needs --weights");
    }
    struct ke_backend * be = ke_eval_backend(a, err);
    if (!be) {
        return err ? err->code : KE_STATUS_UNSUPPORTED;
    }
    struct ke_tensor_set * w = NULL, * io = NULL;
    struct ke_ltx_dit * dit = NULL;
    struct ke_ltx_dit_context * ctx = NULL;
    struct ke_eval_out * out = NULL;
    char ** names = NULL;
    int n_names = 0;
    char * cfg_text = NULL;
    float * x = NULL, * grid = NULL, * text = NULL, * maskf = NULL, * t = NULL, * res = NULL;
    uint8_t * keep = NULL;
    const struct ke_tensor * tx, * tg, * tc, * tm = NULL, * tt;
    enum ke_status st;

    if ((st = ke_weights_open(&w, a->weights, err)) != KE_STATUS_OK) {
        goto done;
    }
    if (a->config && !(cfg_text = ke_eval_read_text(a->config, err))) {
        st = err ? err->code : KE_STATUS_IO;
        goto done;
    }
    // --precision fp8: the transformer's linears take their form when prepared (next)
    ke_eval_precision_begin(be, a, "ltx-transformer");
    if ((st = ke_safetensors_open_file(&io, a->in, err)) != KE_STATUS_OK ||
        (st = ke_eval_outputs(io, &names, &n_names, err)) != KE_STATUS_OK ||
        (st = ke_ltx_dit_init(&dit, w, cfg_text, be, err)) != KE_STATUS_OK) {
        goto done;
    }
    const struct ke_ltx_dit_config * cfg = ke_ltx_dit_get_config(dit);
    // parity with the reference: its RoPE angles are float32 (the float64 table moves the outputs by up
    // to 2e-4 at these sizes; tests/engine/ltx/test-ltx-transformer.c checks that table on its own)
    ke_ltx_dit_set_rope_angles(dit, KE_LTX_ROPE_F32);
    if (!(x = ke_eval_input_f32(io, "", "hidden_states", &tx, err)) ||
        !(grid = ke_eval_input_f32(io, "", "indices_grid", &tg, err)) ||
        !(text = ke_eval_input_f32(io, "", "encoder_hidden_states", &tc, err)) ||
        !(t = ke_eval_input_f32(io, "", "timestep", &tt, err))) {
        st = err ? err->code : KE_STATUS_MISSING;
        goto done;
    }
    const int64_t N = rows_of(tx), T = rows_of(tc), n_t = ke_tensor_nelements(tt);
    char sb[96];
    if (N <= 0 || tx->ne[0] != cfg->in_channels) {
        st = ke_err(err, KE_STATUS_SHAPE, "%s: input 'hidden_states' has shape %s, expected [1, tokens, %d]", a->in,
                    ke_tensor_shape_str(tx, sb, sizeof(sb)), cfg->in_channels);
        goto done;
    }
    if (ke_tensor_nelements(tg) != 3 * N || tg->ne[0] != N) {
        st = ke_err(err, KE_STATUS_SHAPE, "%s: input 'indices_grid' has shape %s, expected [1, 3, %lld]", a->in,
                    ke_tensor_shape_str(tg, sb, sizeof(sb)), (long long) N);
        goto done;
    }
    if (T <= 0 || tc->ne[0] != cfg->caption_channels) {
        st = ke_err(err, KE_STATUS_SHAPE, "%s: input 'encoder_hidden_states' has shape %s, expected [1, tokens, %d]",
                    a->in, ke_tensor_shape_str(tc, sb, sizeof(sb)), cfg->caption_channels);
        goto done;
    }
    if ((tm = ke_eval_input(io, "", "encoder_attention_mask"))) {
        if (ke_tensor_nelements(tm) != T || !(maskf = ke_eval_input_f32(io, "", "encoder_attention_mask", NULL, err))) {
            st = err && err->code ? err->code
                                  : ke_err(err, KE_STATUS_SHAPE, "%s: input 'encoder_attention_mask' has %lld values; "
                                           "the text has %lld tokens", a->in, (long long) ke_tensor_nelements(tm),
                                           (long long) T);
            goto done;
        }
        if (!(keep = malloc((size_t) T))) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
            goto done;
        }
        for (int64_t i = 0; i < T; i++) {
            keep[i] = maskf[i] != 0.0f;
        }
    }
    out = ke_eval_out_new();
    res = malloc(sizeof(float) * (size_t) (N * cfg->out_channels));
    if (!out || !res) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    struct tap_ctx tcx = { .out = out, .names = names, .n_names = n_names, .n_tok = N, .n_text = T, .n_t = n_t };
    ke_ltx_dit_set_tap(dit, tap_cb, &tcx);
    if ((st = ke_ltx_dit_context_new(dit, text, keep, (int) T, &ctx, err)) != KE_STATUS_OK ||
        (st = ke_ltx_dit_forward(dit, ctx, x, N, grid, t, n_t, res, NULL, NULL, err)) != KE_STATUS_OK) {
        goto done;
    }
    const int64_t shape[3] = { 1, N, cfg->out_channels };
    if (ke_eval_out_add(out, "out", res, 3, shape) < 0 || tcx.failed) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n_names; i++) {
        if (!known_output(names[i], cfg->num_layers)) {
            st = ke_err(err, KE_STATUS_MISSING, "%s: listed output '%s' is not one the LTX-Video transformer gives",
                        a->in, names[i]);
            goto done;
        }
    }
    st = ke_eval_out_write(out, a->out, err);
done:
    ke_ltx_dit_context_free(ctx);
    ke_eval_out_free(out);
    ke_eval_names_free(names, n_names);
    ke_ltx_dit_free(dit);
    ke_eval_precision_end(be, a);
    ke_tset_free(io);
    ke_tset_free(w);
    free(cfg_text);
    free(x);
    free(grid);
    free(text);
    free(maskf);
    free(keep);
    free(t);
    free(res);
    return st;
}
