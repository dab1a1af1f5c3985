// Kinora tests: backend lookup (engine/backends/cuda/backend-lookup.c). The CUDA backend is a module
// loaded on first use, so a CPU-only run never maps cudart, cuBLASLt or cuDNN (issue 11 item 5).
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/cuda/cuda.h"

static const char * const g_cuda_libs[] = { "libcudart", "libcublas", "libcudnn", "libkinora-cuda" };

// The first CUDA library mapped into this process, or NULL.
static const char * mapped_cuda_lib(void)
{
    FILE * f = fopen("/proc/self/maps", "r");
    g_assert_nonnull(f);
    char line[4096];
    const char * found = NULL;
    int n_lines = 0;
    while (!found && fgets(line, sizeof line, f)) {
        n_lines++;
        for (size_t i = 0; i < G_N_ELEMENTS(g_cuda_libs); i++) {
            if (strstr(line, g_cuda_libs[i])) {
                found = g_cuda_libs[i];
            }
        }
    }
    fclose(f);
    g_assert_cmpint(n_lines, >, 0);
    return found;
}

// A CPU backend op in this process leaves the CUDA libraries unmapped.
static void test_cpu_maps_no_cuda(void)
{
    struct ke_error err = { 0 };
    struct ke_backend * be = ke_backend_by_name("cpu", &err);
    g_assert_nonnull(be);
    float x[4] = { 1, 2, 3, 4 }, y[4];
    be->ops->scale(be, y, x, 2.0f, 4);
    g_assert_cmpfloat(y[3], ==, 8.0f);
    g_assert_null(mapped_cuda_lib());
}

// A whole CPU generation through kinora-cli loads no CUDA library (the dynamic loader's own log of
// every file it opens, LD_DEBUG=files; libopenblas must show up in it, so the log is known to work).
static void test_cli_loads_no_cuda(void)
{
    const char * cli = g_getenv("KINORA_CLI");
    g_assert_nonnull(cli);
    g_autofree char * dir = g_dir_make_tmp("kinora-lookup-XXXXXX", NULL);
    g_assert_nonnull(dir);
    g_autofree char * out = g_build_filename(dir, "clip.gif", NULL);
    g_autofree char * side = g_strdup_printf("%s.json", out);
    const char * argv[] = { cli, "generate", "--quiet", "--model", "tiny", "--backend", "cpu", "--prompt", "x",
                            "--size", "64x64", "--frames", "5", "--steps", "1", "-o", out, NULL };
    g_auto(GStrv) env = g_environ_setenv(g_get_environ(), "LD_DEBUG", "files", TRUE);
    g_autofree char * err_out = NULL;
    int status = -1;
    GError * error = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **) argv, env, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err_out,
                               &status, &error));
    g_assert_no_error(error);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    g_assert_nonnull(strstr(err_out, "file=libopenblas"));
    for (size_t i = 0; i < G_N_ELEMENTS(g_cuda_libs); i++) {
        g_autofree char * needle = g_strdup_printf("file=%s", g_cuda_libs[i]);
        if (strstr(err_out, needle)) {
            g_error("a CPU generation loaded %s", g_cuda_libs[i]);
        }
    }
    g_remove(side);
    g_remove(out);
    g_rmdir(dir);
}

// Asking for CUDA with a missing module is a clear error, never a crash; with the built module on a
// machine without a GPU it is "no usable GPU" (so the module loaded and found every engine service).
static void test_cuda_lookup_errors(void)
{
    struct ke_error err = { 0 };
#ifdef KE_HAVE_CUDA
    g_setenv("KINORA_CUDA_MODULE", "/nonexistent/libkinora-cuda.so", TRUE);
    g_assert_null(ke_backend_by_name("cuda", &err));
    g_assert_cmpint(err.code, ==, KE_STATUS_UNSUPPORTED);
    g_assert_nonnull(strstr(err.msg, "no usable GPU"));
    g_assert_nonnull(strstr(err.msg, "/nonexistent/libkinora-cuda.so"));
    // a file that is not a loadable module (this test's own source)
    g_autofree char * src = g_build_filename(g_getenv("KINORA_SOURCE_ROOT"), "tests", "engine", "backends",
                                             "test-backend-lookup.c", NULL);
    g_assert_true(g_file_test(src, G_FILE_TEST_IS_REGULAR));
    g_setenv("KINORA_CUDA_MODULE", src, TRUE);
    memset(&err, 0, sizeof err);
    g_assert_null(ke_backend_by_name("cuda", &err));
    g_assert_cmpint(err.code, ==, KE_STATUS_UNSUPPORTED);
    g_assert_nonnull(strstr(err.msg, "cannot load"));
    g_unsetenv("KINORA_CUDA_MODULE");
    memset(&err, 0, sizeof err);
    struct ke_backend * be = ke_backend_by_name("cuda", &err);
    if (be) {
        g_assert_cmpstr(be->ops->name, ==, "cuda");   // a machine with a GPU
    } else {
        g_test_message("%s", err.msg);
        g_assert_cmpint(err.code, ==, KE_STATUS_UNSUPPORTED);
        g_assert_nonnull(strstr(err.msg, "no usable GPU"));
        g_assert_null(strstr(err.msg, "cannot load"));
        g_assert_null(strstr(err.msg, "not found"));
    }
    // "auto" falls back to the CPU without an error when there is no GPU
    struct ke_backend * a = ke_backend_by_name("auto", NULL);
    g_assert_nonnull(a);
    g_assert_true(be ? a == be : strcmp(a->ops->name, "cpu") == 0);
#else
    g_assert_null(ke_backend_by_name("cuda", &err));
    g_assert_cmpint(err.code, ==, KE_STATUS_UNSUPPORTED);
    g_assert_nonnull(strstr(err.msg, "not available in this build"));
#endif
}

int main(int argc, char ** argv)
{
    g_test_init(&argc, &argv, NULL);
    // order matters: the mapping checks run before anything asks for the CUDA backend
    g_test_add_func("/backend-lookup/cpu-maps-no-cuda", test_cpu_maps_no_cuda);
    g_test_add_func("/backend-lookup/cli-loads-no-cuda", test_cli_loads_no_cuda);
    g_test_add_func("/backend-lookup/cuda-errors", test_cuda_lookup_errors);
    return g_test_run();
}
