// Kinora engine: flow-matching solvers over the velocity prediction: UniPC (bh2, order 2, predict-x0,
// corrector from step 1), DPM-Solver++ 2M (midpoint) and Euler. Ports FlowUniPCMultistepScheduler and
// FlowDPMSolverMultistepScheduler of the official wan/utils/fm_solvers*.py (commit 42bf4cf).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"
#include "sampling/sampling.h"

struct ke_sampler {
    enum ke_solver solver;
    int n_steps;
    int64_t n;
    double * sigma;     // (n_steps + 1) the float32 sigmas, widened
    float * m1;         // (n) x0 prediction of step i-1
    float * m2;         // (n) x0 prediction of step i-2
    float * x_prev;     // (n) UniPC: the sample the previous predictor stepped from (after correction)
    float * m0;         // (n) scratch: this step's x0 prediction
    int n_stored;       // how many x0 predictions are held (0..2)
    int p_prev;         // UniPC: order of the previous predictor
    struct ke_backend * be;   // not NULL: m0, m1, m2 and x_prev are backend memory (ke_sampler_to_backend)
};

// alpha = 1 - sigma; lambda = ln(alpha) - ln(sigma) (-inf at sigma 1, +inf at sigma 0).
static double lambda_of(double sigma)
{
    return log(1.0 - sigma) - log(sigma);
}

enum ke_status ke_sampler_new(struct ke_sampler ** out, enum ke_solver solver, const struct ke_schedule * sched,
                              int64_t n, struct ke_error * err)
{
    *out = NULL;
    if (solver != KE_SOLVER_UNIPC && solver != KE_SOLVER_DPMPP && solver != KE_SOLVER_EULER &&
        solver != KE_SOLVER_EULER_LIGHTNING) {
        return ke_err(err, KE_STATUS_INVALID, "sampler: unknown solver %d", (int) solver);
    }
    if (!sched || sched->n_steps < 1 || n < 1) {
        return ke_err(err, KE_STATUS_INVALID, "sampler: empty schedule or sample");
    }
    struct ke_sampler * s = calloc(1, sizeof(*s));
    if (!s) {
        return ke_err(err, KE_STATUS_NOMEM, "sampler: out of memory");
    }
    s->solver = solver;
    s->n_steps = sched->n_steps;
    s->n = n;
    s->sigma = malloc(sizeof(double) * (size_t) (sched->n_steps + 1));
    s->m1 = malloc(sizeof(float) * (size_t) n);
    s->m2 = malloc(sizeof(float) * (size_t) n);
    s->x_prev = malloc(sizeof(float) * (size_t) n);
    s->m0 = malloc(sizeof(float) * (size_t) n);
    if (!s->sigma || !s->m1 || !s->m2 || !s->x_prev || !s->m0) {
        ke_sampler_free(s);
        return ke_err(err, KE_STATUS_NOMEM, "sampler: out of memory for %lld elements", (long long) n);
    }
    for (int i = 0; i <= sched->n_steps; i++) {
        s->sigma[i] = (double) sched->sigmas[i];
    }
    *out = s;
    return KE_STATUS_OK;
}

static void free_vectors(struct ke_sampler * s)
{
    float ** v[4] = { &s->m0, &s->m1, &s->m2, &s->x_prev };
    for (int j = 0; j < 4; j++) {
        if (s->be) {
            ke_be_free(s->be, *v[j]);
        } else {
            free(*v[j]);
        }
        *v[j] = NULL;
    }
}

void ke_sampler_free(struct ke_sampler * s)
{
    if (!s) {
        return;
    }
    free(s->sigma);
    free_vectors(s);
    free(s);
}

enum ke_status ke_sampler_to_backend(struct ke_sampler * s, struct ke_backend * be, struct ke_error * err)
{
    if (s->be || s->n_stored) {
        return ke_err(err, KE_STATUS_INVALID, "sampler: already stepped or on a backend");
    }
    if (!be->ops->lincomb || !be->ops->copy) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "sampler: the %s backend has no lincomb op", be->ops->name);
    }
    float * v[4];
    int got = 0;
    for (; got < 4; got++) {
        if (!(v[got] = ke_be_alloc(be, sizeof(float) * (size_t) s->n))) {
            break;
        }
    }
    if (got < 4) {
        for (int j = 0; j < got; j++) {
            ke_be_free(be, v[j]);
        }
        return ke_err(err, KE_STATUS_NOMEM, "sampler: out of %s memory for 4 x %lld floats", be->ops->name,
                      (long long) s->n);
    }
    free_vectors(s);
    s->be = be;
    s->m0 = v[0];
    s->m1 = v[1];
    s->m2 = v[2];
    s->x_prev = v[3];
    return KE_STATUS_OK;
}

// y = sum of the terms c[j] x[j] on the sampler's backend
static void be_comb(struct ke_sampler * s, float * y, int nt, const float * x0, double c0, const float * x1,
                    double c1, const float * x2, double c2, const float * x3, double c3)
{
    const float * x[4] = { x0, x1, x2, x3 };
    const double c[4] = { c0, c1, c2, c3 };
    s->be->ops->lincomb(s->be, y, nt, x, c, s->n);
}

// y = x (n floats) where the sampler's vectors live
static void copy_vec(struct ke_sampler * s, float * y, const float * x)
{
    if (s->be) {
        s->be->ops->copy(s->be, y, x, sizeof(float) * (size_t) s->n);
    } else {
        memcpy(y, x, sizeof(float) * (size_t) s->n);
    }
}

// Remember m0 as the newest x0 prediction (m1 -> m2, m0 -> m1).
static void push_x0(struct ke_sampler * s)
{
    float * t = s->m2;
    s->m2 = s->m1;
    s->m1 = s->m0;
    s->m0 = t;
    if (s->n_stored < 2) {
        s->n_stored++;
    }
}

// UniC corrector (bh2): refine the incoming sample x of step i with this step's x0 prediction m0.
static void unipc_correct(struct ke_sampler * s, int i, float * x)
{
    const double sig_t = s->sigma[i], sig_s0 = s->sigma[i - 1];
    const double alpha_t = 1.0 - sig_t;
    const double lam_t = lambda_of(sig_t), lam_s0 = lambda_of(sig_s0);
    const double h = lam_t - lam_s0;
    const double hh = -h;
    const double phi = expm1(hh);       // h_phi_1
    const double B = phi;               // bh2: B(h) = expm1(-h)
    double rho0 = 0.0, rho_last = 0.5, inv_r = 0.0;
    const int order = s->p_prev;
    if (order == 2) {
        const double lam_s1 = lambda_of(s->sigma[i - 2]);
        const double r = (lam_s1 - lam_s0) / h;
        const double k1 = phi / hh - 1.0;
        const double b1 = k1 / B;
        const double k2 = k1 / hh - 0.5;
        const double b2 = 2.0 * k2 / B;
        // [1 1; r 1] (rho0, rho_last) = (b1, b2)
        rho0 = (b1 - b2) / (1.0 - r);
        rho_last = b1 - rho0;
        inv_r = 1.0 / r;
    }
    const double c_x = sig_t / sig_s0;
    const double c_m = alpha_t * phi;
    const double c_b = alpha_t * B;
    const float * mt = s->m0;      // this step's prediction
    const float * ms0 = s->m1;     // step i-1
    const float * ms1 = s->m2;     // step i-2
    if (s->be) {
        // the loop's terms regrouped per vector (rho0 = 0 at order 1)
        const double a = c_b * rho0 * inv_r, b = c_b * rho_last;
        if (order == 2) {
            be_comb(s, x, 4, s->x_prev, c_x, ms0, -c_m + a + b, ms1, -a, mt, -b);
        } else {
            be_comb(s, x, 3, s->x_prev, c_x, ms0, -c_m + b, mt, -b, NULL, 0.0);
        }
        return;
    }
    for (int64_t k = 0; k < s->n; k++) {
        double corr = 0.0;
        if (order == 2) {
            corr = rho0 * (((double) ms1[k] - (double) ms0[k]) * inv_r);
        }
        double d1 = (double) mt[k] - (double) ms0[k];
        x[k] = (float) (c_x * (double) s->x_prev[k] - c_m * (double) ms0[k] - c_b * (corr + rho_last * d1));
    }
}

// UniP predictor (bh2) from sample x with prediction m0 (already pushed to m1): x <- x_{i+1}.
static void unipc_predict(struct ke_sampler * s, int i, float * x, int order)
{
    const double sig_t = s->sigma[i + 1], sig_s0 = s->sigma[i];
    const float * m0 = s->m1;
    if (sig_t == 0.0) {
        // lambda = +inf, expm1(-inf) = -1: the step lands on the x0 prediction.
        copy_vec(s, x, m0);
        return;
    }
    const double alpha_t = 1.0 - sig_t;
    const double h = lambda_of(sig_t) - lambda_of(sig_s0);
    const double phi = expm1(-h);
    const double c_x = sig_t / sig_s0;
    const double c_m = alpha_t * phi;
    if (order == 2) {
        const float * mp = s->m2;
        const double r = (lambda_of(s->sigma[i - 1]) - lambda_of(sig_s0)) / h;
        const double c_d = alpha_t * phi * 0.5 / r;   // B(h) = phi, rho = 0.5
        if (s->be) {
            be_comb(s, x, 3, x, c_x, m0, c_d - c_m, mp, -c_d, NULL, 0.0);
            return;
        }
        for (int64_t k = 0; k < s->n; k++) {
            double d1 = (double) mp[k] - (double) m0[k];
            x[k] = (float) (c_x * (double) x[k] - c_m * (double) m0[k] - c_d * d1);
        }
    } else if (s->be) {
        be_comb(s, x, 2, x, c_x, m0, -c_m, NULL, 0.0, NULL, 0.0);
    } else {
        for (int64_t k = 0; k < s->n; k++) {
            x[k] = (float) (c_x * (double) x[k] - c_m * (double) m0[k]);
        }
    }
}

static void dpmpp_step(struct ke_sampler * s, int i, float * x)
{
    const double sig_t = s->sigma[i + 1], sig_s0 = s->sigma[i];
    const float * m0 = s->m1;
    const int last = i == s->n_steps - 1;
    if (sig_t == 0.0) {
        copy_vec(s, x, m0);
        return;
    }
    const double alpha_t = 1.0 - sig_t;
    const double lam_t = lambda_of(sig_t), lam_s0 = lambda_of(sig_s0);
    const double h = lam_t - lam_s0;          // +inf at sigma_0 = 1: exp(-h) = 0
    const double e = exp(-h) - 1.0;
    const double c_x = sig_t / sig_s0;
    const double c_m = alpha_t * e;
    double c_d = 0.0;
    if (i > 0 && !last && s->n_stored >= 2) {
        const double r0 = (lam_s0 - lambda_of(s->sigma[i - 1])) / h;
        if (isfinite(r0) && r0 != 0.0) {       // r0 = inf after sigma 1: the term vanishes
            c_d = 0.5 * alpha_t * e / r0;
        }
    }
    const float * m1 = s->m2;
    if (s->be) {
        be_comb(s, x, 3, x, c_x, m0, -c_m - c_d, m1, c_d, NULL, 0.0);
        return;
    }
    for (int64_t k = 0; k < s->n; k++) {
        double v = c_x * (double) x[k] - c_m * (double) m0[k];
        if (c_d != 0.0) {
            v -= c_d * ((double) m0[k] - (double) m1[k]);
        }
        x[k] = (float) v;
    }
}

void ke_sampler_step(struct ke_sampler * s, int i, float * x, const float * v, float * x_corrected, float * x0)
{
    KE_ASSERT(i >= 0 && i < s->n_steps);
    const double sig = s->sigma[i];
    const int64_t n = s->n;
    // x0 prediction from the uncorrected sample (flow prediction: x0 = x - sigma * v).
    if (s->be) {
        be_comb(s, s->m0, 2, x, 1.0, v, -sig, NULL, 0.0, NULL, 0.0);
    } else {
        for (int64_t k = 0; k < n; k++) {
            s->m0[k] = (float) ((double) x[k] - sig * (double) v[k]);
        }
    }
    if (x0) {
        copy_vec(s, x0, s->m0);
    }
    if (s->solver == KE_SOLVER_EULER_LIGHTNING || s->solver == KE_SOLVER_EULER) {
        if (x_corrected) {
            copy_vec(s, x_corrected, x);
        }
        if (s->solver == KE_SOLVER_EULER_LIGHTNING) {
            // float32 as the reference: sample.to(float32) + (sigma_next - sigma) * model_output (on a
            // backend the product and sum are rounded once, in double: at most an ulp apart)
            const float d = (float) s->sigma[i + 1] - (float) sig;
            if (s->be) {
                be_comb(s, x, 2, x, 1.0, v, (double) d, NULL, 0.0, NULL, 0.0);
            } else {
                for (int64_t k = 0; k < n; k++) {
                    const float dv = d * v[k];
                    x[k] = x[k] + dv;
                }
            }
        } else {
            const double d = s->sigma[i + 1] - sig;
            if (s->be) {
                be_comb(s, x, 2, x, 1.0, v, d, NULL, 0.0, NULL, 0.0);
            } else {
                for (int64_t k = 0; k < n; k++) {
                    x[k] = (float) ((double) x[k] + d * (double) v[k]);
                }
            }
        }
        push_x0(s);
        return;
    }
    if (s->solver == KE_SOLVER_UNIPC && i >= 1 && s->n_stored >= 1) {
        unipc_correct(s, i, x);
    }
    if (x_corrected) {
        copy_vec(s, x_corrected, x);
    }
    push_x0(s);
    if (s->solver == KE_SOLVER_UNIPC) {
        int order = 2;
        if (s->n_steps - i < order) {
            order = s->n_steps - i;     // lower-order final step
        }
        if (i + 1 < order) {
            order = i + 1;              // warm-up
        }
        copy_vec(s, s->x_prev, x);
        unipc_predict(s, i, x, order);
        s->p_prev = order;
    } else {
        dpmpp_step(s, i, x);
    }
}
