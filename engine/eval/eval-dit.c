// Kinora engine: `eval dit` — run the Wan DiT over every case of a golden IO file (x, y, t, context
// with optional case prefixes such as "a."/"b.") and write each listed output under its own name.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"
#include "eval/eval-io.h"
#include "eval/eval.h"
#include "loaders/loaders.h"
#include "models/common/lora.h"
#include "models/dit/wan.h"

struct tap_ctx {
    struct ke_eval_out * out;
    char * const * names;
    int n_names;
    const char * prefix;
    const struct ke_dit_config * cfg;
    int F, Hp, Wp;
    int failed;
};

static void tap_cb(const char * name, const float * data, int64_t n, void * user)
{
    struct tap_ctx * c = user;
    char full[256];
    snprintf(full, sizeof(full), "%s%s", c->prefix, name);
    if (!ke_eval_names_has(c->names, c->n_names, full)) {
        return;
    }
    const int64_t L = (int64_t) c->F * c->Hp * c->Wp;
    int64_t shape[5];
    int nd;
    if (strcmp(name, "inter.patch_embedding") == 0) {
        shape[0] = 1;
        shape[1] = c->cfg->dim;
        shape[2] = c->F;
        shape[3] = c->Hp;
        shape[4] = c->Wp;
        nd = 5;
    } else {
        // [1, rows, width]: token rows, or text_len rows for the text embedding
        const int64_t rows = strcmp(name, "inter.text_embedding") == 0 ? c->cfg->text_len : L;
        shape[0] = 1;
        shape[1] = rows;
        shape[2] = n / rows;
        nd = 3;
    }
    if (ke_eval_out_add(c->out, full, data, nd, shape) < 0) {
        c->failed = 1;
    }
}

// Case prefixes from the output names: "a.out" -> "a.", "out" -> "", "b.inter.head" -> "b.".
static int collect_prefixes(char * const * names, int n, char prefixes[][32], int max)
{
    int np = 0;
    for (int i = 0; i < n; i++) {
        const char * s = names[i];
        size_t len = strlen(s);
        size_t pl;
        const char * in = strstr(s, "inter.");
        if (len >= 3 && strcmp(s + len - 3, "out") == 0 && (len == 3 || s[len - 4] == '.')) {
            pl = len - 3;
        } else if (in && (in == s || in[-1] == '.')) {
            pl = (size_t) (in - s);
        } else {
            continue;
        }
        if (pl >= 32) {
            continue;
        }
        int seen = 0;
        for (int j = 0; j < np; j++) {
            seen |= strlen(prefixes[j]) == pl && strncmp(prefixes[j], s, pl) == 0;
        }
        if (!seen && np < max) {
            memcpy(prefixes[np], s, pl);
            prefixes[np][pl] = 0;
            np++;
        }
    }
    return np;
}

// Latent dims from a [C, F, H, W] tensor (a leading batch of 1 is allowed).
static int latent_dims(const struct ke_tensor * t, int * C, int * F, int * H, int * W)
{
    if (t->n_dims == 5 && t->ne[4] == 1) {
        *C = (int) t->ne[3];
    } else if (t->n_dims == 4) {
        *C = (int) t->ne[3];
    } else {
        return -1;
    }
    *F = (int) t->ne[2];
    *H = (int) t->ne[1];
    *W = (int) t->ne[0];
    return 0;
}

enum ke_status ke_eval_dit(const struct ke_eval_args * a, struct ke_error * err)
{
    if (!a->weights) {
        return ke_err(err, KE_STATUS_INVALID, "eval dit needs --weights");
    }
    struct ke_backend * be = ke_eval_backend(a, err);
    if (!be) {
        return err ? err->code : KE_STATUS_UNSUPPORTED;
    }
    struct ke_tensor_set * w = NULL, * io = NULL;
    struct ke_dit * dit = NULL;
    struct ke_eval_out * out = NULL;
    char ** names = NULL;
    int n_names = 0;
    char * cfg_text = NULL;
    struct ke_lora_file * lora_files[KE_MAX_LORAS] = { 0 };
    struct ke_lora_use uses[KE_MAX_LORAS];
    int n_uses = 0;
    enum ke_status st;

    if ((st = ke_weights_open(&w, a->weights, err)) != KE_STATUS_OK) {
        goto done;
    }
    if (a->config && !(cfg_text = ke_eval_read_text(a->config, err))) {
        st = err ? err->code : KE_STATUS_IO;
        goto done;
    }
    if ((st = ke_lora_open_specs(lora_files, a->loras, a->n_loras, err)) != KE_STATUS_OK) {
        goto done;
    }
    n_uses = ke_lora_uses_for(uses, lora_files, a->loras, a->n_loras, false);
    // --precision fp8: the DiT's linears take their form when prepared (next)
    ke_eval_precision_begin(be, a, "dit");
    if ((st = ke_safetensors_open_file(&io, a->in, err)) != KE_STATUS_OK ||
        (st = ke_eval_outputs(io, &names, &n_names, err)) != KE_STATUS_OK ||
        (st = ke_dit_init_lora(&dit, w, cfg_text, be, uses, n_uses, a->lora_merge, err)) != KE_STATUS_OK) {
        goto done;
    }
    const struct ke_dit_config * cfg = ke_dit_get_config(dit);
    out = ke_eval_out_new();
    if (!out) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    char prefixes[16][32];
    int np = collect_prefixes(names, n_names, prefixes, 16);
    if (np == 0) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: the outputs list names no DiT output ('out')", a->in);
        goto done;
    }
    for (int pi = 0; pi < np && st == KE_STATUS_OK; pi++) {
        const char * pre = prefixes[pi];
        const struct ke_tensor * tx = NULL, * ty = NULL, * tt = NULL, * tc = NULL;
        float * x = NULL, * y = NULL, * t = NULL, * ctx = NULL, * res = NULL;
        struct ke_dit_context * dctx = NULL;
        int C, F, H, W, Cy = 0, Fy, Hy, Wy;
        x = ke_eval_input_f32(io, pre, "x", &tx, err);
        t = x ? ke_eval_input_f32(io, pre, "t", &tt, err) : NULL;
        ctx = t ? ke_eval_input_f32(io, pre, "context", &tc, err) : NULL;
        if (!ctx) {
            st = err ? err->code : KE_STATUS_MISSING;
            goto case_done;
        }
        if (latent_dims(tx, &C, &F, &H, &W) < 0) {
            char sb[96];
            st = ke_err(err, KE_STATUS_SHAPE, "%s: input '%sx' has shape %s, expected [C, F, H, W]", a->in, pre,
                        ke_tensor_shape_str(tx, sb, sizeof(sb)));
            goto case_done;
        }
        if (ke_eval_input(io, pre, "y")) {
            y = ke_eval_input_f32(io, pre, "y", &ty, err);
            if (!y || latent_dims(ty, &Cy, &Fy, &Hy, &Wy) < 0 || Fy != F || Hy != H || Wy != W) {
                st = ke_err(err, KE_STATUS_SHAPE, "%s: input '%sy' does not match x's frames and size", a->in, pre);
                goto case_done;
            }
        }
        const int64_t text_dim = tc->ne[0];
        const int n_tok = (int) (ke_tensor_nelements(tc) / (text_dim ? text_dim : 1));
        if (text_dim != cfg->text_dim) {
            st = ke_err(err, KE_STATUS_SHAPE, "%s: context has width %lld; the model's text_dim is %d", a->in,
                        (long long) text_dim, cfg->text_dim);
            goto case_done;
        }
        struct tap_ctx tcx = {
            .out = out, .names = names, .n_names = n_names, .prefix = pre, .cfg = cfg,
            .F = F, .Hp = H / cfg->patch_h, .Wp = W / cfg->patch_w,
        };
        ke_dit_set_tap(dit, tap_cb, &tcx);   // also reports the text embedding
        if ((st = ke_dit_context_new(dit, ctx, n_tok, &dctx, err)) != KE_STATUS_OK) {
            goto case_done;
        }
        res = malloc(sizeof(float) * (size_t) cfg->out_dim * (size_t) F * (size_t) H * (size_t) W);
        if (!res) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
            goto case_done;
        }
        st = ke_dit_forward(dit, dctx, x, C, y, Cy, F, H, W, t, (int) ke_tensor_nelements(tt), res, NULL, NULL, err);
        ke_dit_set_tap(dit, NULL, NULL);
        if (st == KE_STATUS_OK) {
            char name[600];
            snprintf(name, sizeof(name), "%sout", pre);
            int64_t shape[4] = { cfg->out_dim, F, H, W };
            if (ke_eval_out_add(out, name, res, 4, shape) < 0 || tcx.failed) {
                st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
            }
        }
case_done:
        ke_dit_context_free(dctx);
        free(x);
        free(y);
        free(t);
        free(ctx);
        free(res);
    }
    if (st == KE_STATUS_OK) {
        st = ke_eval_out_write(out, a->out, err);
    }
done:
    ke_eval_out_free(out);
    ke_eval_names_free(names, n_names);
    ke_dit_free(dit);
    ke_eval_precision_end(be, a);
    ke_lora_files_free(lora_files, a->n_loras > 0 && a->n_loras <= KE_MAX_LORAS ? a->n_loras : 0);
    ke_tset_free(io);
    ke_tset_free(w);
    free(cfg_text);
    return st;
}
