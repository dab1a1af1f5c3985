/* Out of memory is an error, not a crash or a hang (issue 10 item 1, issue 11 item 5): a generation of the
 * tiny model under a memory limit ends with KE_STATUS_NOMEM and a message naming what was being allocated
 * and how much, and the same process then makes a smaller video exactly as before (the backend's failure
 * record is cleared, nothing leaked into the next run). Each case runs in a subprocess with a timeout, so
 * a hang (OpenBLAS spinning on a failed mmap) fails the test instead of stalling the suite.
 *
 * The limit is RLIMIT_AS (what `ulimit -v` sets). AddressSanitizer reserves terabytes of address space
 * for its shadow memory, so under ASan no address-space limit can work: there the first case limits the
 * engine's allocations through its allocation hook instead (every allocation above 1 MiB fails), and the
 * OpenBLAS case, which is about the address space itself, is not built (the regular build runs it). */
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "test-util.h"
#define KE_ALLOC_NO_MACROS 1   /* the hook only: this file's own allocations stay plain */
#include "core/alloc.h"
#include "ke.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

#ifndef TEST_ASAN
/* Bytes of address space the process maps now. */
static rlim_t
mapped_bytes (void)
{
  g_autofree char *statm = NULL;
  g_assert_true (g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL));
  return (rlim_t) g_ascii_strtoull (statm, NULL, 10) * (rlim_t) sysconf (_SC_PAGESIZE);
}

/* Lower the soft limit only, so the case can lift it again. */
static void
limit_address_space (rlim_t bytes)
{
  struct rlimit r;
  g_assert_cmpint (getrlimit (RLIMIT_AS, &r), ==, 0);
  r.rlim_cur = bytes;
  g_assert_cmpint (setrlimit (RLIMIT_AS, &r), ==, 0);
}

static void
lift_limit (void)
{
  struct rlimit r;
  g_assert_cmpint (getrlimit (RLIMIT_AS, &r), ==, 0);
  r.rlim_cur = r.rlim_max;
  g_assert_cmpint (setrlimit (RLIMIT_AS, &r), ==, 0);
}
#endif

static struct ke_gen_params
params (ke_model_t *m, int size, int frames)
{
  struct ke_gen_params p = ke_model_params_default (m);
  p.prompt = "a fox in the snow";
  p.width = size;
  p.height = size;
  p.n_frames = frames;
  p.steps = 1;
  p.seed = 7;
  return p;
}

static ke_model_t *
open_tiny (void)
{
  ke_model_t *m = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_model_open (&m, "tiny", &err), ==, KE_STATUS_OK);
  return m;
}

#ifdef TEST_ASAN
static int
fail_large (size_t n, void *user)
{
  (void) user;
  return n > ((size_t) 1 << 20);
}
#endif

/* The subprocess: a small video, then a large one under the limit (NOMEM with a message naming the
 * allocation and its size), then the small one again, byte for byte the same. */
static void
limit_then_smaller (void)
{
  ke_model_t *m = open_tiny ();
  struct ke_gen_params small = params (m, 32, 5);
  struct ke_video *a = NULL, *b = NULL, *big = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_generate (m, &small, &a, &err), ==, KE_STATUS_OK);

  /* 512x512 with 9 frames needs well over 100 MiB more (VAE activations and caches); 32x32 fits in the
   * 96 MiB of headroom (OpenBLAS's work buffer exists by now). */
#ifdef TEST_ASAN
  ke_set_alloc_hook (fail_large, NULL);
#else
  limit_address_space (mapped_bytes () + ((rlim_t) 96 << 20));
#endif
  struct ke_gen_params large = params (m, 512, 9);
  enum ke_status st = ke_generate (m, &large, &big, &err);
  g_test_message ("under the limit: %s (%s)", ke_status_str (st), err.msg);
  g_assert_cmpint (st, ==, KE_STATUS_NOMEM);
  g_assert_null (big);
  g_assert_nonnull (strstr (err.msg, "out of memory for"));
  g_assert_true (strstr (err.msg, "bytes") != NULL || strstr (err.msg, "MiB") != NULL);
  /* and what to change */
  g_assert_nonnull (strstr (err.msg, "try a smaller size or fewer frames"));

  memset (&err, 0, sizeof err);
  st = ke_generate (m, &small, &b, &err);
  g_test_message ("smaller video after it: %s (%s)", ke_status_str (st), err.msg);
  g_assert_cmpint (st, ==, KE_STATUS_OK);
  g_assert_cmpint (b->n_frames, ==, a->n_frames);
  g_assert_cmpmem (a->rgb, (gsize) a->n_frames * a->width * a->height * 3, b->rgb,
                   (gsize) b->n_frames * b->width * b->height * 3);
#ifdef TEST_ASAN
  ke_set_alloc_hook (NULL, NULL);
#else
  lift_limit ();
#endif
  ke_video_free (a);
  ke_video_free (b);
  ke_model_free (m);
}

static void
test_limit_then_smaller (void)
{
  g_test_trap_subprocess ("/memory-limit/generate/subprocess", 150 * G_USEC_PER_SEC,
                          G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

#ifndef TEST_ASAN
/* OpenBLAS maps a 128 MiB work buffer at a thread's first GEMM and, when that mmap fails, retries
 * forever. With less than that left, the generation must end with NOMEM naming OpenBLAS (the engine
 * checks the address space before calling in), and work once the limit is lifted. */
static void
openblas_limit (void)
{
  ke_model_t *m = open_tiny ();
  struct ke_gen_params small = params (m, 32, 5);
  struct ke_video *v = NULL;
  struct ke_error err = { 0 };
  /* no GEMM has run in this process yet: its OpenBLAS buffer is still to be mapped */
  limit_address_space (mapped_bytes () + ((rlim_t) 96 << 20));
  enum ke_status st = ke_generate (m, &small, &v, &err);
  g_test_message ("under the limit: %s (%s)", ke_status_str (st), err.msg);
  g_assert_cmpint (st, ==, KE_STATUS_NOMEM);
  g_assert_null (v);
  g_assert_nonnull (strstr (err.msg, "OpenBLAS"));
  g_assert_nonnull (strstr (err.msg, "bytes"));
  lift_limit ();
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_generate (m, &small, &v, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (v->n_frames, ==, 5);
  ke_video_free (v);
  ke_model_free (m);
}

static void
test_openblas_limit (void)
{
  /* a hang shows as the subprocess running past the timeout */
  g_test_trap_subprocess ("/memory-limit/openblas/subprocess", 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}
#endif

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/memory-limit/generate", test_limit_then_smaller);
  g_test_add_func ("/memory-limit/generate/subprocess", limit_then_smaller);
#ifndef TEST_ASAN
  g_test_add_func ("/memory-limit/openblas", test_openblas_limit);
  g_test_add_func ("/memory-limit/openblas/subprocess", openblas_limit);
#endif
  return g_test_run ();
}
