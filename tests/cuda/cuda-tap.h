// Kinora tests: TAP output, the relative L2 comparison and random values shared by the CUDA tests.
#pragma once

#include <stddef.h>
#include <stdint.h>

extern int tap_n, tap_fail;   // checks reported, and failed

// "ok N - ..." or "not ok N - ..." with the formatted text; counts the check.
void tap_report(int ok, const char * fmt, ...) __attribute__((format(printf, 2, 3)));
// ||a - ref|| / ||ref|| (||a - ref|| when ref is zero); *nonfinite = 1 when a holds a NaN or infinity.
double tap_rel_l2(const float * a, const float * ref, size_t n, int * nonfinite);
// A value close to a unit normal (the centred sum of 4 uniforms, each of 24 random bits, from the LCG
// state *rng): full f32 precision, so scaled values almost never fall on a rounding tie.
float tap_nrand(uint64_t * rng);
