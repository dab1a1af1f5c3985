// Kinora engine: helpers shared by the parity evaluators.
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"
#include "core/file.h"
#include "eval/eval-io.h"
#include "ke-debug.h"
#include "loaders/loaders.h"

struct ke_backend * ke_eval_backend(const struct ke_eval_args * a, struct ke_error * err)
{
    struct ke_backend * be = ke_backend_by_name(a->backend ? a->backend : "cpu", err);
    if (be && (a->fast || a->fp8) && be == ke_backend_cpu()) {
        be = ke_backend_cpu_fast();
    }
    return be;
}

void ke_eval_precision_begin(struct ke_backend * be, const struct ke_eval_args * a, const char * what)
{
    if (!a->fp8) {
        return;
    }
    const enum ke_precision p = ke_be_set_precision(be, KE_PRECISION_FP8);
    ke_log(p == KE_PRECISION_FP8 ? 2 : 1, "eval %s: precision %s on the %s backend%s", what, ke_precision_name(p),
           be->ops->name, p == KE_PRECISION_FP8 ? "" : " (fp8 not available there)");
}

void ke_eval_precision_end(struct ke_backend * be, const struct ke_eval_args * a)
{
    if (be && a->fp8) {
        ke_be_set_precision(be, KE_PRECISION_BF16);
    }
}

char * ke_eval_read_text(const char * path, struct ke_error * err)
{
    char * buf = NULL;
    ke_file_read_all(path, "config", 1 << 20, &buf, NULL, err);   // config files are a few hundred bytes
    return buf;
}

int ke_eval_outputs(const struct ke_tensor_set * io, char *** names, int * n, struct ke_error * err)
{
    *names = NULL;
    *n = 0;
    const char * js = ke_tset_meta(io, "outputs");
    if (!js) {
        return ke_err(err, KE_STATUS_MISSING, "%s: no 'outputs' metadata (not a golden IO file?)", ke_tset_path(io));
    }
    json_object * a = json_tokener_parse(js);
    if (!a || !json_object_is_type(a, json_type_array)) {
        if (a) {
            json_object_put(a);
        }
        return ke_err(err, KE_STATUS_FORMAT, "%s: 'outputs' metadata is not a JSON list", ke_tset_path(io));
    }
    int cnt = (int) json_object_array_length(a);
    char ** v = calloc((size_t) (cnt > 0 ? cnt : 1), sizeof(char *));
    if (!v) {
        json_object_put(a);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    for (int i = 0; i < cnt; i++) {
        const char * s = json_object_get_string(json_object_array_get_idx(a, i));
        if (!(v[i] = strdup(s ? s : ""))) {
            ke_eval_names_free(v, i);
            json_object_put(a);
            return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory for the output names", ke_tset_path(io));
        }
    }
    json_object_put(a);
    *names = v;
    *n = cnt;
    return KE_STATUS_OK;
}

void ke_eval_names_free(char ** names, int n)
{
    for (int i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

bool ke_eval_names_has(char * const * names, int n, const char * name)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

const struct ke_tensor * ke_eval_input(const struct ke_tensor_set * io, const char * prefix, const char * name)
{
    char buf[256];
    if (prefix && prefix[0]) {
        snprintf(buf, sizeof(buf), "%s%s", prefix, name);
        const struct ke_tensor * t = ke_tset_get(io, buf);
        if (t) {
            return t;
        }
    }
    return ke_tset_get(io, name);
}

float * ke_eval_input_f32(const struct ke_tensor_set * io, const char * prefix, const char * name,
                          const struct ke_tensor ** tout, struct ke_error * err)
{
    const struct ke_tensor * t = ke_eval_input(io, prefix, name);
    if (tout) {
        *tout = t;
    }
    if (!t) {
        ke_err(err, KE_STATUS_MISSING, "%s: missing input tensor '%s%s'", ke_tset_path(io), prefix ? prefix : "", name);
        return NULL;
    }
    float * p = ke_tensor_to_f32_alloc(t);
    if (!p) {
        ke_err(err, KE_STATUS_NOMEM, "out of memory reading '%s'", name);
    }
    return p;
}

struct ke_eval_out {
    struct ke_tensor * t;
    char ** names;
    int n, cap;
};

struct ke_eval_out * ke_eval_out_new(void)
{
    return calloc(1, sizeof(struct ke_eval_out));
}

static int add_raw(struct ke_eval_out * o, const char * name, enum ke_dtype type, const void * data, int n_dims,
                   const int64_t * shape)
{
    if (o->n == o->cap) {
        int nc = o->cap ? 2 * o->cap : 16;
        struct ke_tensor * nt = realloc(o->t, (size_t) nc * sizeof(*nt));
        if (!nt) {
            return -1;
        }
        o->t = nt;
        char ** nn = realloc(o->names, (size_t) nc * sizeof(char *));
        if (!nn) {
            return -1;
        }
        o->names = nn;
        o->cap = nc;
    }
    struct ke_tensor * t = &o->t[o->n];
    ke_tensor_init(t, type, n_dims, shape, NULL);
    size_t nb = ke_tensor_nbytes(t);
    void * copy = malloc(nb ? nb : 1);
    char * nm = strdup(name);
    if (!copy || !nm) {
        free(copy);
        free(nm);
        return -1;
    }
    memcpy(copy, data, nb);
    t->data = copy;
    o->names[o->n] = nm;
    t->name = nm;
    o->n++;
    return 0;
}

int ke_eval_out_add(struct ke_eval_out * o, const char * name, const float * data, int n_dims, const int64_t * shape)
{
    return add_raw(o, name, KE_DTYPE_F32, data, n_dims, shape);
}

int ke_eval_out_add_tensor(struct ke_eval_out * o, const char * name, const struct ke_tensor * t)
{
    int64_t shape[KE_MAX_DIMS];
    for (int i = 0; i < t->n_dims; i++) {
        shape[i] = t->ne[t->n_dims - 1 - i];
    }
    return add_raw(o, name, t->type, t->data, t->n_dims, shape);
}

enum ke_status ke_eval_out_write(struct ke_eval_out * o, const char * path, struct ke_error * err)
{
    const struct ke_tensor ** list = malloc(sizeof(*list) * (size_t) (o->n ? o->n : 1));
    if (!list) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    for (int i = 0; i < o->n; i++) {
        list[i] = &o->t[i];
    }
    const char * meta[2] = { "generator", "kinora-cli eval" };
    enum ke_status st = ke_safetensors_write(path, list, o->n, meta, 1, err);
    free(list);
    return st;
}

void ke_eval_out_free(struct ke_eval_out * o)
{
    if (!o) {
        return;
    }
    for (int i = 0; i < o->n; i++) {
        free(o->t[i].data);
        free(o->names[i]);
    }
    free(o->t);
    free(o->names);
    free(o);
}
