// Kinora engine: `eval t5` — run the UMT5 encoder over `ids`/`mask` [B, L] of an IO file exactly as the
// reference's padded run (key mask) and write `hidden`, `inter.*` and `rel_bucket` as listed in `outputs`.
// `eval t5xxl` (eval-t5xxl.c) runs the same over a T5 v1.1 encoder.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"
#include "eval/eval-io.h"
#include "eval/eval.h"
#include "loaders/loaders.h"
#include "loaders/name-map.h"
#include "models/te/umt5.h"

// An integer input as int64 (I64 or I32 stored), malloc'd.
static int64_t * input_i64(const struct ke_tensor_set * io, const char * name, const struct ke_tensor ** tp,
                           struct ke_error * err)
{
    const struct ke_tensor * t = ke_eval_input(io, "", name);
    if (!t) {
        ke_err(err, KE_STATUS_MISSING, "%s: missing input '%s'", ke_tset_path(io), name);
        return NULL;
    }
    int64_t n = ke_tensor_nelements(t);
    int64_t * v = malloc((size_t) (n ? n : 1) * sizeof(int64_t));
    if (!v) {
        ke_err(err, KE_STATUS_NOMEM, "out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        if (t->type == KE_DTYPE_I64) {
            v[i] = ((const int64_t *) t->data)[i];
        } else if (t->type == KE_DTYPE_I32) {
            v[i] = ((const int32_t *) t->data)[i];
        } else {
            free(v);
            ke_err(err, KE_STATUS_SHAPE, "%s: input '%s' has dtype %s (expected I64)", ke_tset_path(io), name,
                   ke_dtype_name(t->type));
            return NULL;
        }
    }
    *tp = t;
    return v;
}

// rel_bucket (and rel_pos when listed): buckets of the IO file's rel_pos, or of every distance a
// sequence of L tokens has when the file holds none.
static enum ke_status add_rel(struct ke_eval_out * out, const struct ke_tensor_set * io, const char * what,
                              const struct ke_umt5_config * c, int64_t L, struct ke_error * err)
{
    const struct ke_tensor * rp = NULL;
    int64_t * rel = NULL;
    int64_t n;
    if (ke_eval_input(io, "", "rel_pos")) {
        if (!(rel = input_i64(io, "rel_pos", &rp, err))) {
            return err ? err->code : KE_STATUS_MISSING;
        }
        n = ke_tensor_nelements(rp);
    } else {
        n = 2 * L - 1;
        rel = malloc((size_t) n * sizeof(int64_t));
        for (int64_t i = 0; rel && i < n; i++) {
            rel[i] = i - (L - 1);
        }
    }
    if (!rel) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    if (strcmp(what, "rel_bucket") == 0) {
        for (int64_t i = 0; i < n; i++) {
            rel[i] = ke_umt5_bucket(rel[i], c->n_buckets, c->max_dist);
        }
    }
    struct ke_tensor t;
    ke_tensor_init(&t, KE_DTYPE_I64, 1, (int64_t[]) { n }, rel);
    int rc = ke_eval_out_add_tensor(out, what, &t);
    free(rel);
    return rc < 0 ? ke_err(err, KE_STATUS_NOMEM, "out of memory") : KE_STATUS_OK;
}

enum ke_status ke_eval_t5_encoder(const struct ke_eval_args * a, struct ke_umt5 * m, const struct ke_tensor_set * io,
                                  struct ke_error * err)
{
    struct ke_eval_out * out = NULL;
    char ** names = NULL;
    int n_names = 0;
    int64_t * ids = NULL, * mask = NULL;
    float * hidden = NULL, * emb = NULL, * blocks = NULL, * bias = NULL;
    float ** block_ptr = NULL, ** bias_ptr = NULL;
    enum ke_status st;

    if ((st = ke_eval_outputs(io, &names, &n_names, err)) != KE_STATUS_OK) {
        goto done;
    }
    const struct ke_umt5_config * c = &m->cfg;
    const struct ke_tensor * tid = NULL, * tmask = NULL;
    if (!(ids = input_i64(io, "ids", &tid, err))) {
        st = err ? err->code : KE_STATUS_MISSING;
        goto done;
    }
    // [B, L] or [L]
    const int64_t L = tid->ne[0];
    const int64_t B = tid->n_dims >= 2 ? ke_tensor_nelements(tid) / (L ? L : 1) : 1;
    if (L <= 0 || tid->n_dims > 2) {
        st = ke_err(err, KE_STATUS_SHAPE, "%s: input 'ids' must be [B, L] with L > 0", a->in);
        goto done;
    }
    if (ke_eval_input(io, "", "mask")) {
        if (!(mask = input_i64(io, "mask", &tmask, err))) {
            st = err ? err->code : KE_STATUS_MISSING;
            goto done;
        }
        if (ke_tensor_nelements(tmask) != B * L) {
            st = ke_err(err, KE_STATUS_SHAPE, "%s: 'mask' has %lld elements, 'ids' %lld", a->in,
                        (long long) ke_tensor_nelements(tmask), (long long) (B * L));
            goto done;
        }
    }
    out = ke_eval_out_new();
    const int64_t D = c->dim, H = c->n_heads, NL = c->n_layers;
    hidden = malloc((size_t) (B * L * D) * sizeof(float));
    emb = malloc((size_t) (B * L * D) * sizeof(float));
    blocks = malloc((size_t) (NL * B * L * D) * sizeof(float) + 1);
    bias = malloc((size_t) (NL * H * L * L) * sizeof(float) + 1);
    block_ptr = calloc((size_t) NL + 1, sizeof(float *));
    bias_ptr = calloc((size_t) NL + 1, sizeof(float *));
    if (!out || !hidden || !emb || !blocks || !bias || !block_ptr || !bias_ptr) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory for %lld x %lld tokens", (long long) B, (long long) L);
        goto done;
    }
    for (int64_t b = 0; b < B && st == KE_STATUS_OK; b++) {
        for (int64_t l = 0; l < NL; l++) {
            block_ptr[l] = blocks + (l * B + b) * L * D;
            bias_ptr[l] = b == 0 ? bias + l * H * L * L : NULL;   // the bias depends on L only
        }
        struct ke_umt5_trace tr = { .token_embedding = emb + b * L * D, .pos_bias = bias_ptr, .block = block_ptr };
        st = ke_umt5_encode(m, hidden + b * L * D, ids + b * L, mask ? mask + b * L : NULL, L, &tr, err);
    }
    if (st != KE_STATUS_OK) {
        goto done;
    }
    int64_t sh3[3] = { B, L, D }, sh4[4] = { 1, H, L, L };
    for (int i = 0; i < n_names && st == KE_STATUS_OK; i++) {
        const char * nm = names[i];
        int rc = 0, li = -1;
        char tail[8];
        if (strcmp(nm, "hidden") == 0) {
            rc = ke_eval_out_add(out, nm, hidden, 3, sh3);
        } else if (strcmp(nm, "inter.token_embedding") == 0) {
            rc = ke_eval_out_add(out, nm, emb, 3, sh3);
        } else if (sscanf(nm, "inter.block%d%7s", &li, tail) == 1 && li >= 0 && li < NL) {
            rc = ke_eval_out_add(out, nm, blocks + li * B * L * D, 3, sh3);
        } else if (sscanf(nm, "inter.pos_bias%d%7s", &li, tail) == 1 && li >= 0 && li < NL) {
            rc = ke_eval_out_add(out, nm, bias + li * H * L * L, 4, sh4);
        } else if (strcmp(nm, "inter.pos_bias") == 0 && NL > 0) {
            rc = ke_eval_out_add(out, nm, bias, 4, sh4);   // shared_pos: the one bias (layer 0's)
        } else if (strcmp(nm, "rel_bucket") == 0 || strcmp(nm, "rel_pos") == 0) {
            st = add_rel(out, io, nm, c, L, err);
        } else {
            ke_log(1, "eval t5: cannot produce output '%s'; skipped", nm);
        }
        if (rc < 0) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        }
    }
    if (st == KE_STATUS_OK) {
        st = ke_eval_out_write(out, a->out, err);
    }
done:
    free(ids);
    free(mask);
    free(hidden);
    free(emb);
    free(blocks);
    free(bias);
    free(block_ptr);
    free(bias_ptr);
    ke_eval_out_free(out);
    ke_eval_names_free(names, n_names);
    return st;
}

enum ke_status ke_eval_t5(const struct ke_eval_args * a, struct ke_error * err)
{
    if (!a->weights) {
        return ke_err(err, KE_STATUS_INVALID, "eval t5 needs --weights");
    }
    struct ke_backend * be = ke_eval_backend(a, err);
    if (!be) {
        return err ? err->code : KE_STATUS_UNSUPPORTED;
    }
    struct ke_tensor_set * w = NULL, * io = NULL;
    struct ke_umt5 * m = NULL;
    enum ke_status st;
    if ((st = ke_weights_open(&w, a->weights, err)) == KE_STATUS_OK &&
        (st = ke_name_map_apply(w, KE_NAME_ROLE_T5, err)) == KE_STATUS_OK &&
        (st = ke_safetensors_open_file(&io, a->in, err)) == KE_STATUS_OK &&
        (st = ke_umt5_init(&m, w, be, err)) == KE_STATUS_OK) {
        st = ke_eval_t5_encoder(a, m, io, err);
    }
    ke_umt5_free(m);
    ke_tset_free(io);
    ke_tset_free(w);
    return st;
}
