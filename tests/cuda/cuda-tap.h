// Kinora tests: TAP output and the relative L2 comparison shared by the CUDA tests.
#pragma once

#include <stddef.h>

extern int tap_n, tap_fail;   // checks reported, and failed

// "ok N - ..." or "not ok N - ..." with the formatted text; counts the check.
void tap_report(int ok, const char * fmt, ...) __attribute__((format(printf, 2, 3)));
// ||a - ref|| / ||ref|| (||a - ref|| when ref is zero); *nonfinite = 1 when a holds a NaN or infinity.
double tap_rel_l2(const float * a, const float * ref, size_t n, int * nonfinite);
