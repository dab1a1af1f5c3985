// Kinora engine: parity evaluator for the flow-matching solvers (scheduler.io of the golden fixtures).
// Cases come from the IO's `config` metadata; the stand-in model is the formula in its `model_output`.
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/error.h"
#include "core/tensor.h"
#include "eval/eval.h"
#include "pipeline/io-impl.h"
#include "sampling/sampling.h"

// --- a tiny arithmetic expression over x (sample element) and t (integer timestep) ---------------
// grammar: expr = term {(+|-) term}; term = unary {(*|/) unary}; unary = [-] atom;
// atom = number | x | t | ( expr )
enum { EX_NUM, EX_X, EX_T, EX_ADD, EX_SUB, EX_MUL, EX_DIV, EX_NEG };

struct ex_node {
    int op;
    double v;
    int a, b;
};

struct ex {
    struct ex_node n[64];
    int count;
    const char * s;
    int bad;
};

static int ex_new(struct ex * e, int op, double v, int a, int b)
{
    if (e->count >= 64) {
        e->bad = 1;
        return 0;
    }
    e->n[e->count] = (struct ex_node) { op, v, a, b };
    return e->count++;
}

static void ex_ws(struct ex * e)
{
    while (*e->s && isspace((unsigned char) *e->s)) {
        e->s++;
    }
}

static int ex_expr(struct ex * e);

static int ex_atom(struct ex * e)
{
    ex_ws(e);
    if (*e->s == '(') {
        e->s++;
        int r = ex_expr(e);
        ex_ws(e);
        if (*e->s != ')') {
            e->bad = 1;
            return r;
        }
        e->s++;
        return r;
    }
    if (*e->s == 'x' || *e->s == 't') {
        int op = *e->s == 'x' ? EX_X : EX_T;
        e->s++;
        return ex_new(e, op, 0, -1, -1);
    }
    char * end = NULL;
    double v = strtod(e->s, &end);
    if (end == e->s) {
        e->bad = 1;
        return 0;
    }
    e->s = end;
    return ex_new(e, EX_NUM, v, -1, -1);
}

static int ex_unary(struct ex * e)
{
    ex_ws(e);
    if (*e->s == '-') {
        e->s++;
        int a = ex_unary(e);
        return ex_new(e, EX_NEG, 0, a, -1);
    }
    return ex_atom(e);
}

static int ex_term(struct ex * e)
{
    int a = ex_unary(e);
    for (;;) {
        ex_ws(e);
        if (*e->s != '*' && *e->s != '/') {
            return a;
        }
        int op = *e->s == '*' ? EX_MUL : EX_DIV;
        e->s++;
        int b = ex_unary(e);
        a = ex_new(e, op, 0, a, b);
        if (e->bad) {
            return a;
        }
    }
}

static int ex_expr(struct ex * e)
{
    int a = ex_term(e);
    for (;;) {
        ex_ws(e);
        if (*e->s != '+' && *e->s != '-') {
            return a;
        }
        int op = *e->s == '+' ? EX_ADD : EX_SUB;
        e->s++;
        int b = ex_term(e);
        a = ex_new(e, op, 0, a, b);
        if (e->bad) {
            return a;
        }
    }
}

// Evaluated in float32, left to right, as the reference's tensor arithmetic.
static float ex_eval(const struct ex * e, int i, float x, float t)
{
    const struct ex_node * n = &e->n[i];
    switch (n->op) {
    case EX_NUM: return (float) n->v;
    case EX_X:   return x;
    case EX_T:   return t;
    case EX_NEG: return -ex_eval(e, n->a, x, t);
    case EX_ADD: return ex_eval(e, n->a, x, t) + ex_eval(e, n->b, x, t);
    case EX_SUB: return ex_eval(e, n->a, x, t) - ex_eval(e, n->b, x, t);
    case EX_MUL: return ex_eval(e, n->a, x, t) * ex_eval(e, n->b, x, t);
    case EX_DIV: return ex_eval(e, n->a, x, t) / ex_eval(e, n->b, x, t);
    }
    return 0;
}

static int ex_parse(struct ex * e, const char * s)
{
    memset(e, 0, sizeof(*e));
    e->s = s;
    int root = ex_expr(e);
    ex_ws(e);
    if (*e->s) {
        e->bad = 1;
    }
    return e->bad ? -1 : root;
}

// --- one case ------------------------------------------------------------------------------------

static enum ke_status add_schedule(struct ke_io * out, const char * prefix, const char * suffix,
                                   enum ke_solver solver, int steps, double shift, int n_train,
                                   struct ke_error * err)
{
    struct ke_schedule sc;
    enum ke_status st = ke_schedule_init(&sc, solver, steps, shift, n_train, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    char name[256];
    int64_t shape_t[1] = { steps }, shape_s[1] = { steps + 1 };
    snprintf(name, sizeof(name), "%stimesteps%s", prefix, suffix);
    int64_t * t = ke_io_add(out, name, KE_DTYPE_I64, 1, shape_t, err);
    snprintf(name, sizeof(name), "%ssigmas%s", prefix, suffix);
    float * s = t ? ke_io_add(out, name, KE_DTYPE_F32, 1, shape_s, err) : NULL;
    if (t && s) {
        memcpy(t, sc.timesteps, sizeof(int64_t) * (size_t) steps);
        memcpy(s, sc.sigmas, sizeof(float) * (size_t) (steps + 1));
    }
    ke_schedule_free(&sc);
    return (t && s) ? KE_STATUS_OK : KE_STATUS_NOMEM;
}

static enum ke_status run_case(struct ke_io * out, const struct ke_io_tensor * noise, const char * prefix,
                               enum ke_solver solver, double shift, int steps, int n_train,
                               const struct ex * model, int model_root, struct ke_error * err)
{
    const int64_t n = noise->n;
    // shapes: [steps, noise...]
    int64_t shape[KE_IO_MAX_DIMS];
    int nd = noise->n_dims;
    if (nd + 1 > KE_IO_MAX_DIMS || n < 1) {
        return ke_err(err, KE_STATUS_SHAPE, "noise: %d dimensions, %lld elements: unusable", nd, (long long) n);
    }
    shape[0] = steps;
    for (int d = 0; d < nd; d++) {
        shape[1 + d] = noise->shape[d];
    }
    char name[256];
    float * x_in, * m_out, * x_corr = NULL, * x_out, * fin;
    snprintf(name, sizeof(name), "%sx_in", prefix);
    if (!(x_in = ke_io_add(out, name, KE_DTYPE_F32, nd + 1, shape, err))) {
        return KE_STATUS_NOMEM;
    }
    snprintf(name, sizeof(name), "%smodel_out", prefix);
    if (!(m_out = ke_io_add(out, name, KE_DTYPE_F32, nd + 1, shape, err))) {
        return KE_STATUS_NOMEM;
    }
    if (solver == KE_SOLVER_UNIPC) {
        snprintf(name, sizeof(name), "%sx_corrected", prefix);
        if (!(x_corr = ke_io_add(out, name, KE_DTYPE_F32, nd + 1, shape, err))) {
            return KE_STATUS_NOMEM;
        }
    }
    snprintf(name, sizeof(name), "%sx_out", prefix);
    if (!(x_out = ke_io_add(out, name, KE_DTYPE_F32, nd + 1, shape, err))) {
        return KE_STATUS_NOMEM;
    }
    snprintf(name, sizeof(name), "%sfinal", prefix);
    if (!(fin = ke_io_add(out, name, KE_DTYPE_F32, nd, shape + 1, err))) {
        return KE_STATUS_NOMEM;
    }
    enum ke_status st = add_schedule(out, prefix, "", solver, steps, shift, n_train, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    struct ke_schedule sc;
    if ((st = ke_schedule_init(&sc, solver, steps, shift, n_train, err)) != KE_STATUS_OK) {
        return st;
    }
    struct ke_sampler * smp = NULL;
    float * x = malloc(sizeof(float) * (size_t) n);
    if (!x || (st = ke_sampler_new(&smp, solver, &sc, n, err)) != KE_STATUS_OK) {
        free(x);
        ke_schedule_free(&sc);
        return st != KE_STATUS_OK ? st : ke_err(err, KE_STATUS_NOMEM, "eval scheduler: out of memory");
    }
    ke_convert_to_f32(x, noise->data, (enum ke_dtype) noise->type, 1.0f, (size_t) n);
    for (int i = 0; i < steps; i++) {
        float * v = m_out + (size_t) i * (size_t) n;
        const float t = (float) sc.timesteps[i];
        memcpy(x_in + (size_t) i * (size_t) n, x, sizeof(float) * (size_t) n);
        for (int64_t k = 0; k < n; k++) {
            v[k] = ex_eval(model, model_root, x[k], t);
        }
        ke_sampler_step(smp, i, x, v, x_corr ? x_corr + (size_t) i * (size_t) n : NULL, NULL);
        memcpy(x_out + (size_t) i * (size_t) n, x, sizeof(float) * (size_t) n);
    }
    memcpy(fin, x, sizeof(float) * (size_t) n);
    ke_sampler_free(smp);
    ke_schedule_free(&sc);
    free(x);
    // the schedules of the real step counts (TI2V 50, A14B 40)
    if ((st = add_schedule(out, prefix, "40", solver, 40, shift, n_train, err)) != KE_STATUS_OK) {
        return st;
    }
    return add_schedule(out, prefix, "50", solver, 50, shift, n_train, err);
}

static const char * jstr(json_object * o, const char * key)
{
    json_object * v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) {
        return NULL;
    }
    return json_object_get_string(v);
}

enum ke_status ke_eval_scheduler(const struct ke_eval_args * a, struct ke_error * err)
{
    struct ke_io * io = NULL, * out = NULL;
    json_object * cfg = NULL;
    enum ke_status st = ke_io_read(&io, a->in, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    const char * cfg_s = ke_io_meta(io, "config");
    if (!cfg_s || !(cfg = json_tokener_parse(cfg_s))) {
        st = ke_err(err, KE_STATUS_FORMAT, "%s: metadata 'config' is missing or not JSON", a->in);
        goto done;
    }
    json_object * cases = NULL;
    if (!json_object_object_get_ex(cfg, "cases", &cases) || !json_object_is_type(cases, json_type_array)) {
        st = ke_err(err, KE_STATUS_FORMAT, "%s: config has no 'cases' list", a->in);
        goto done;
    }
    const struct ke_io_tensor * noise = ke_io_get(io, "noise");
    if (!noise) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: tensor 'noise' is missing", a->in);
        goto done;
    }
    if (!(out = ke_io_new(a->out))) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    const char * default_formula = ke_io_meta(io, "model_output");
    size_t nc = json_object_array_length(cases);
    for (size_t c = 0; c < nc; c++) {
        json_object * cs = json_object_array_get_idx(cases, c);
        json_object * v = NULL;
        const char * prefix = jstr(cs, "prefix");
        const char * solver_s = jstr(cs, "solver");
        const char * formula = jstr(cs, "model_output");
        if (!formula) {
            formula = default_formula;
        }
        enum ke_solver solver;
        if (!prefix || !solver_s || ke_solver_from_name(solver_s, &solver) != 0) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: case %zu needs 'prefix' and a known 'solver' (unipc, dpm++), got %s",
                        a->in, c, solver_s ? solver_s : "none");
            goto done;
        }
        double shift = 1.0;
        int steps = 0, n_train = 1000;
        if (json_object_object_get_ex(cs, "shift", &v)) {
            shift = json_object_get_double(v);
        }
        if (json_object_object_get_ex(cs, "steps", &v)) {
            steps = json_object_get_int(v);
        }
        if (json_object_object_get_ex(cs, "num_train_timesteps", &v)) {
            n_train = json_object_get_int(v);
        }
        struct ex model;
        int root = formula ? ex_parse(&model, formula) : -1;
        if (root < 0) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: case '%s': model_output '%s' is not an expression of x and t",
                        a->in, prefix, formula ? formula : "(none)");
            goto done;
        }
        st = run_case(out, noise, prefix, solver, shift, steps, n_train, &model, root, err);
        if (st != KE_STATUS_OK) {
            ke_err_prefix(err, "case '%s': ", prefix);
            goto done;
        }
    }
    ke_io_set_meta(out, "generator", "kinora eval scheduler");
    st = ke_io_write(out, a->out, err);
done:
    if (cfg) {
        json_object_put(cfg);
    }
    ke_io_free(out);
    ke_io_free(io);
    return st;
}
