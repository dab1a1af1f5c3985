// Kinora engine: flow-matching sigma/timestep schedules (FlowUniPCMultistepScheduler.set_timesteps and
// get_sampling_sigmas of the official wan/utils/fm_solvers*.py, commit 42bf4cf), plus classifier-free guidance.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sampling/sampling.h"

const char * ke_solver_name(enum ke_solver s)
{
    switch (s) {
    case KE_SOLVER_UNIPC: return "unipc";
    case KE_SOLVER_DPMPP: return "dpm++";
    case KE_SOLVER_EULER: return "euler";
    case KE_SOLVER_EULER_LIGHTNING: return "euler-lightning";
    }
    return "unknown";
}

int ke_solver_from_name(const char * name, enum ke_solver * out)
{
    if (!name) {
        return -1;
    }
    if (strcmp(name, "unipc") == 0) {
        *out = KE_SOLVER_UNIPC;
    } else if (strcmp(name, "dpm++") == 0 || strcmp(name, "dpmpp") == 0 || strcmp(name, "dpm") == 0) {
        *out = KE_SOLVER_DPMPP;
    } else if (strcmp(name, "euler") == 0) {
        *out = KE_SOLVER_EULER;
    } else if (strcmp(name, "euler-lightning") == 0) {
        *out = KE_SOLVER_EULER_LIGHTNING;
    } else {
        return -1;
    }
    return 0;
}

// The Lightning schedule: EulerScheduler.set_timesteps of ModelTC/Wan2.2-Lightning
// wan/utils/fm_solvers_euler.py (commit 92efeb4): t = float32(linspace(T, 0, N + 1)) (NumPy, float64
// then rounded), sigma = t / T, then shift * sigma / (1 + (shift - 1) * sigma), and the model's
// timestep sigma * T, every operation in float32 (torch tensors with Python scalars); the timestep is
// not truncated. LightX2V's WanStepDistillScheduler (ModelTC/LightX2V commit f8aee98,
// lightx2v/models/schedulers/wan/step_distill/scheduler.py) picks the same four sigmas for its
// denoising_step_list [1000, 750, 500, 250] (the shifted 1000-point grid at those indices).
static void lightning_schedule(struct ke_schedule * s, double shift, int n_train)
{
    const int n = s->n_steps;
    const float T = (float) n_train;
    const float sh = (float) shift, sh1 = (float) (shift - 1.0);
    const double start = (double) n_train, step = (0.0 - start) / (double) n;
    for (int i = 0; i <= n; i++) {
        const float t = i == n ? 0.0f : (float) ((double) i * step + start);
        const float sig = t / T;
        const float num = sh * sig;
        const float den = 1.0f + sh1 * sig;
        const float shifted = num / den;
        s->sigmas[i] = shifted;
        if (i < n) {
            s->t_model[i] = shifted * T;
            s->timesteps[i] = (int64_t) s->t_model[i];
        }
    }
}

enum ke_status ke_schedule_init(struct ke_schedule * s, enum ke_solver solver, int n_steps, double shift,
                                int n_train_timesteps, struct ke_error * err)
{
    memset(s, 0, sizeof(*s));
    if (n_steps < 1 || n_steps > 10000) {
        return ke_err(err, KE_STATUS_INVALID, "schedule: steps must be 1..10000, got %d", n_steps);
    }
    if (!(shift > 0) || !isfinite(shift)) {
        return ke_err(err, KE_STATUS_INVALID, "schedule: shift must be > 0, got %g", shift);
    }
    if (n_train_timesteps < 2) {
        return ke_err(err, KE_STATUS_INVALID, "schedule: num_train_timesteps must be >= 2, got %d",
                      n_train_timesteps);
    }
    s->sigmas = malloc(sizeof(float) * (size_t) (n_steps + 1));
    s->timesteps = malloc(sizeof(int64_t) * (size_t) n_steps);
    s->t_model = malloc(sizeof(float) * (size_t) n_steps);
    if (!s->sigmas || !s->timesteps || !s->t_model) {
        ke_schedule_free(s);
        return ke_err(err, KE_STATUS_NOMEM, "schedule: out of memory");
    }
    s->n_steps = n_steps;
    if (solver == KE_SOLVER_EULER_LIGHTNING) {
        lightning_schedule(s, shift, n_train_timesteps);
        return KE_STATUS_OK;
    }

    // UniPC starts at the largest training sigma, 1 - 1/T, as float32 (0.999f for T = 1000);
    // the DPM++ path of the pipelines (and our Euler) starts at exactly 1.
    double start = 1.0;
    if (solver == KE_SOLVER_UNIPC) {
        start = (double) (float) (1.0 - 1.0 / (double) n_train_timesteps);
    }
    // NumPy linspace(start, 0, N + 1): start + i * step with one precomputed float64 step.
    double step = (0.0 - start) / (double) n_steps;
    for (int i = 0; i < n_steps; i++) {
        double x = (double) i * step + start;
        double sig = shift * x / (1.0 + (shift - 1.0) * x);
        s->sigmas[i] = (float) sig;
        s->timesteps[i] = (int64_t) (sig * (double) n_train_timesteps);   // truncation, as .to(int64)
        s->t_model[i] = (float) s->timesteps[i];
    }
    s->sigmas[n_steps] = 0.0f;
    return KE_STATUS_OK;
}

void ke_schedule_free(struct ke_schedule * s)
{
    if (!s) {
        return;
    }
    free(s->sigmas);
    free(s->timesteps);
    free(s->t_model);
    memset(s, 0, sizeof(*s));
}

void ke_cfg_combine(float * out, const float * cond, const float * uncond, float g, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float u = uncond[i];
        out[i] = u + g * (cond[i] - u);
    }
}
