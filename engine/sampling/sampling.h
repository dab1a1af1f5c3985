// Kinora engine: flow-matching sampling (schedules, UniPC / DPM++ 2M / Euler solvers, guidance, noise).
// Ports wan/utils/fm_solvers.py and fm_solvers_unipc.py of the official Wan2.2 code (commit 42bf4cf).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ke.h"

// --- schedules ---------------------------------------------------------------------------------
// sigmas[n_steps + 1] (float32, last = 0) for the solver, timesteps[n_steps] (int64) for the model.
// UniPC: linspace(0.999f, 0, N+1)[:N] in float64, shifted s*x/(1+(s-1)x), t = trunc(1000*sigma).
// DPM++ and Euler: linspace(1, 0, N+1)[:N], same shift and truncation (t_0 = 1000).
// Euler-Lightning: float32 throughout, the model's timestep not truncated (schedule.c).
struct ke_schedule {
    int n_steps;
    float * sigmas;         // (n_steps + 1)
    int64_t * timesteps;    // (n_steps) truncated (the integer timesteps of the official pipelines)
    float * t_model;        // (n_steps) the timesteps the model sees (= timesteps except euler-lightning)
};

enum ke_status ke_schedule_init(struct ke_schedule * s, enum ke_solver solver, int n_steps, double shift,
                                int n_train_timesteps, struct ke_error * err);
void ke_schedule_free(struct ke_schedule * s);
// ke_solver_name, ke_solver_from_name (schedule.c) and ke_random_seed (rng.c) are public: ke.h.

// --- solvers ------------------------------------------------------------------------------------
// The model predicts the flow velocity v; x0 = x - sigma_i * v. One solver per sampling run.
struct ke_sampler;

enum ke_status ke_sampler_new(struct ke_sampler ** out, enum ke_solver solver, const struct ke_schedule * sched,
                              int64_t n, struct ke_error * err);
void ke_sampler_free(struct ke_sampler * s);
// Euler-Lightning steps x + (sigma_{i+1} - sigma_i) * v in float32, as EulerScheduler.step of
// Wan2.2-Lightning (the difference rounded to float, then the product, then the sum).
// Step i (0-based, in order). x (n): in = the sample the model saw, out = the next sample.
// v (n): the guided velocity. x_corrected (n, may be NULL): the sample after the UniPC corrector
// (equal to the input for other solvers and step 0). x0 (n, may be NULL): the x0 estimate of this step.
void ke_sampler_step(struct ke_sampler * s, int i, float * x, const float * v, float * x_corrected, float * x0);
// Move the sampler's vectors into backend memory before its first step: from then on x, v, x_corrected
// and x0 of ke_sampler_step are backend memory too, and each update is one ops.lincomb (the same
// coefficients in double; the float results can differ from the host loops by an ulp). Fails, leaving
// the sampler on the host, when the backend lacks the op or the memory.
struct ke_backend;
enum ke_status ke_sampler_to_backend(struct ke_sampler * s, struct ke_backend * be, struct ke_error * err);

// --- guidance -----------------------------------------------------------------------------------
// out = uncond + g * (cond - uncond) (out may alias cond or uncond).
void ke_cfg_combine(float * out, const float * cond, const float * uncond, float g, int64_t n);

// --- noise ---------------------------------------------------------------------------------------
// Seed -> noise, the same numbers as PyTorch's CPU generator: torch.manual_seed(seed);
// torch.randn(n, dtype=float32). mt19937 seeded with the low 32 bits of the seed; for n >= 16 the
// 24-bit uniforms are drawn first and turned into normals 16 at a time by Box-Muller in float
// (the last partial block is redrawn), for n < 16 each normal comes from two 53-bit uniforms in double.
// PyTorch has two float kernels for n >= 16: the AVX2 one of x86-64 builds (Cephes log/sincos
// polynomials; ke_randn's default, bit-exact) and a portable one over libm (KE_RANDN_LIBM).
enum ke_randn_flavour {
    KE_RANDN_AVX2 = 0,
    KE_RANDN_LIBM,
};
struct ke_rng {
    uint32_t mt[624];
    int idx;
    int has_next_double;
    double next_double;
};
void ke_rng_seed(struct ke_rng * r, uint64_t seed);
uint32_t ke_rng_u32(struct ke_rng * r);
void ke_randn(struct ke_rng * r, float * out, int64_t n);
void ke_randn_kernel(struct ke_rng * r, float * out, int64_t n, enum ke_randn_flavour flavour);
// The per-element path PyTorch takes for a float tensor that is not C-contiguous (normal_distribution<double>
// for each element in memory order, whatever n), e.g. torch.randn_like of a permuted tensor.
void ke_randn_serial(struct ke_rng * r, float * out, int64_t n);
// A fresh random seed in [0, 2^63 - 1] from the system (for seed < 0).
