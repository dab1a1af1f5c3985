// Kinora engine: helpers shared by the parity evaluators: read IO inputs, collect and write outputs.
#pragma once

#include <stdbool.h>

#include "core/tensor.h"

struct ke_backend;
struct ke_eval_args;
// The backend the arguments ask for (--backend, default cpu; --fast picks the CPU's bf16 path).
struct ke_backend * ke_eval_backend(const struct ke_eval_args * a, struct ke_error * err);
// For a transformer's eval (dit, ltx-transformer), before the model is prepared on be: --precision fp8
// (a->fp8) asks be for fp8 (logged with the precision in effect: bf16 on the CPU and on GPUs without fp8
// units); without it nothing changes. ke_eval_precision_end sets bf16 again once the model is freed.
void ke_eval_precision_begin(struct ke_backend * be, const struct ke_eval_args * a, const char * what);
void ke_eval_precision_end(struct ke_backend * be, const struct ke_eval_args * a);
// A whole small text file (config.json) as a malloc'd string (free()); NULL + err on failure.
char * ke_eval_read_text(const char * path, struct ke_error * err);

// The names listed in the IO file's `outputs` metadata (JSON list). Free with ke_eval_names_free.
int ke_eval_outputs(const struct ke_tensor_set * io, char *** names, int * n, struct ke_error * err);
void ke_eval_names_free(char ** names, int n);
bool ke_eval_names_has(char * const * names, int n, const char * name);

// Look up `prefix`+name, falling back to plain `name`; NULL if neither exists.
const struct ke_tensor * ke_eval_input(const struct ke_tensor_set * io, const char * prefix, const char * name);
// The same, converted to a malloc'd f32 array (free()); err set when missing (required).
float * ke_eval_input_f32(const struct ke_tensor_set * io, const char * prefix, const char * name,
                          const struct ke_tensor ** t, struct ke_error * err);

// Collected outputs (f32), written in one go.
struct ke_eval_out;
struct ke_eval_out * ke_eval_out_new(void);
// Copies data; shape outermost first.
int ke_eval_out_add(struct ke_eval_out * o, const char * name, const float * data, int n_dims, const int64_t * shape);
// Add a tensor of any dtype as is (copied).
int ke_eval_out_add_tensor(struct ke_eval_out * o, const char * name, const struct ke_tensor * t);
enum ke_status ke_eval_out_write(struct ke_eval_out * o, const char * path, struct ke_error * err);
void ke_eval_out_free(struct ke_eval_out * o);
