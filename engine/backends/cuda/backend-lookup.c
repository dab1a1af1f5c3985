// Kinora engine: backend lookup by name ("cpu", "auto", "cuda"). The CUDA backend lives in a module
// (libkinora-cuda.so) loaded with dlopen on first use, so the CUDA libraries are mapped only then.
#include "backends/backend.h"
#include "backends/cuda/cuda.h"
#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef KE_HAVE_CUDA
#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include "backends/cuda/cuda-module.h"

// --- the engine side of the module interface ----------------------------------------------------

static void host_log(int level, const char * msg)
{
    ke_log(level, "%s", msg);
}

static enum ke_status host_err(struct ke_error * err, enum ke_status code, const char * msg)
{
    return ke_err(err, code, "%s", msg);
}

static enum ke_status host_be_fail(struct ke_backend * be, enum ke_status code, const char * msg)
{
    return ke_be_fail(be, code, "%s", msg);
}

static const struct ke_cuda_host g_host = {
    .abi = KE_CUDA_MODULE_ABI,
    .log = host_log,
    .err = host_err,
    .be_fail = host_be_fail,
    .convert_to_f32 = ke_convert_to_f32,
    .tensor_to_f32_alloc = ke_tensor_to_f32_alloc,
    .tensor_nelements = ke_tensor_nelements,
    .dtype_size = ke_dtype_size,
    .f32_to_bf16 = ke_f32_to_bf16,
};

static pthread_mutex_t g_mod_mu = PTHREAD_MUTEX_INITIALIZER;
static void * g_mod;   // kept loaded for the life of the process (the backend is a singleton)
static char g_mod_err[768];

// Try one path; 0 loaded, -1 not there (ENOENT), -2 there but not loadable (message in g_mod_err).
static int try_load(const char * path)
{
    if (access(path, F_OK) != 0) {
        return -1;
    }
    void * h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char * e = dlerror();
        snprintf(g_mod_err, sizeof g_mod_err, "cannot load %.400s: %.300s", path, e ? e : "unknown error");
        return -2;
    }
    g_mod = h;
    return 0;
}

// Find and load the module: $KINORA_CUDA_MODULE, then beside the executable, then the installed
// path, then the build tree (so uninstalled builds and `meson test` find it).
static void * load_module(void)
{
    if (g_mod) {
        return g_mod;
    }
    g_mod_err[0] = 0;
    const char * env = getenv("KINORA_CUDA_MODULE");
    if (env && *env) {
        if (try_load(env) == -1) {
            snprintf(g_mod_err, sizeof g_mod_err, "KINORA_CUDA_MODULE names %s, which does not exist", env);
        }
        return g_mod;
    }
    char exe[4096];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 64);
    if (n > 0) {
        exe[n] = 0;
        char * slash = strrchr(exe, '/');
        if (slash) {
            strcpy(slash + 1, "libkinora-cuda.so");
            if (try_load(exe) == 0) {
                return g_mod;
            }
        }
    }
    const char * paths[] = { KE_CUDA_MODULE_INSTALLED, KE_CUDA_MODULE_BUILD };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0] && !g_mod; i++) {
        try_load(paths[i]);
    }
    if (!g_mod && !g_mod_err[0]) {
        snprintf(g_mod_err, sizeof g_mod_err, "the CUDA module libkinora-cuda.so was not found (looked beside the "
                 "executable, in %s and %s; set KINORA_CUDA_MODULE to its path)", KE_CUDA_MODULE_INSTALLED,
                 KE_CUDA_MODULE_BUILD);
    }
    return g_mod;
}

struct ke_backend * ke_backend_cuda(struct ke_error * err)
{
    pthread_mutex_lock(&g_mod_mu);
    void * h = load_module();
    ke_cuda_module_create_fn create = h ? (ke_cuda_module_create_fn) dlsym(h, KE_CUDA_MODULE_CREATE) : NULL;
    if (!create) {
        ke_err(err, KE_STATUS_UNSUPPORTED, "backend 'cuda': no usable GPU (%s)",
               h ? "the CUDA module has no " KE_CUDA_MODULE_CREATE : g_mod_err);
        pthread_mutex_unlock(&g_mod_mu);
        return NULL;
    }
    pthread_mutex_unlock(&g_mod_mu);
    struct ke_error e = { 0 };
    struct ke_backend * be = create(&g_host, &e);
    if (!be) {
        if (e.code == KE_STATUS_OK) {
            // the module refused the service table without a word: built for another engine version
            ke_err(&e, KE_STATUS_UNSUPPORTED, "backend 'cuda': no usable GPU (the CUDA module was built for "
                   "another version of the engine, interface %d)", KE_CUDA_MODULE_ABI);
        }
        ke_err(err, e.code, "%s", e.msg);
    }
    return be;
}

void ke_backend_cuda_set_attention(struct ke_backend * be, int impl)
{
    ke_cuda_module_set_attention_fn f = g_mod ? (ke_cuda_module_set_attention_fn) dlsym(g_mod,
                                                                                        KE_CUDA_MODULE_SET_ATTENTION)
                                              : NULL;
    if (f && be && strcmp(be->ops->name, "cuda") == 0) {
        f(be, impl);
    }
}
#else
struct ke_backend * ke_backend_cuda(struct ke_error * err)
{
    ke_err(err, KE_STATUS_UNSUPPORTED, "backend 'cuda' is not available in this build (have: cpu)");
    return NULL;
}

void ke_backend_cuda_set_attention(struct ke_backend * be, int impl)
{
    (void) be;
    (void) impl;
}
#endif

struct ke_backend * ke_backend_by_name(const char * name, struct ke_error * err)
{
    if (!name || strcmp(name, "cpu") == 0) {
        return ke_backend_cpu();
    }
    if (strcmp(name, "auto") == 0) {
        // the GPU when one is usable, else the CPU (no error either way)
#ifdef KE_HAVE_CUDA
        struct ke_error probe = { 0 };
        struct ke_backend * gpu = ke_backend_cuda(&probe);
        if (gpu) {
            return gpu;
        }
        ke_log(2, "%s: using the CPU", probe.msg);
#endif
        return ke_backend_cpu();
    }
    if (strcmp(name, "cuda") == 0) {
        return ke_backend_cuda(err);
    }
#ifdef KE_HAVE_CUDA
    ke_err(err, KE_STATUS_UNSUPPORTED, "backend '%s' is not available (have: cpu, cuda)", name);
#else
    ke_err(err, KE_STATUS_UNSUPPORTED, "backend '%s' is not available in this build (have: cpu)", name);
#endif
    return NULL;
}
