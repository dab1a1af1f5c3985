// Kinora engine: a streaming GGUF v3 writer (the layout ke_gguf_parse reads, ComfyUI-GGUF's conventions:
// general.architecture, the 5-D tensors stored natively, alignment 32). The tensor table is written
// first; the data follow tensor by tensor in table order, in pieces of any size, so a file of many GiB
// never needs more memory than one piece. Written to "<path>.tmp" and renamed into place when complete.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "loaders/loaders.h"

#define GGUF_ALIGN 32

struct ke_gguf_writer {
    FILE * f;
    char * path, * tmp;
    int n, cur;               // tensors in the table, the one being written
    uint64_t * nbytes;        // data bytes per tensor
    uint64_t written;         // bytes of the current tensor so far
    bool failed;
};

static int ggml_id(enum ke_dtype t)
{
    switch (t) {
    case KE_DTYPE_F32: return 0;
    case KE_DTYPE_F16: return 1;
    case KE_DTYPE_Q4_0: return 2;
    case KE_DTYPE_Q4_1: return 3;
    case KE_DTYPE_Q5_0: return 6;
    case KE_DTYPE_Q5_1: return 7;
    case KE_DTYPE_Q8_0: return 8;
    case KE_DTYPE_Q2_K: return 10;
    case KE_DTYPE_Q3_K: return 11;
    case KE_DTYPE_Q4_K: return 12;
    case KE_DTYPE_Q5_K: return 13;
    case KE_DTYPE_Q6_K: return 14;
    case KE_DTYPE_I32: return 26;
    case KE_DTYPE_I64: return 27;
    case KE_DTYPE_F64: return 28;
    case KE_DTYPE_BF16: return 30;
    default: return -1;
    }
}

static void w_u32(struct ke_gguf_writer * w, uint32_t v)
{
    unsigned char b[4] = { (unsigned char) v, (unsigned char) (v >> 8), (unsigned char) (v >> 16), (unsigned char) (v >> 24) };
    w->failed |= fwrite(b, 1, 4, w->f) != 4;
}

static void w_u64(struct ke_gguf_writer * w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char) (v >> (8 * i));
    }
    w->failed |= fwrite(b, 1, 8, w->f) != 8;
}

static void w_str(struct ke_gguf_writer * w, const char * s)
{
    size_t n = strlen(s);
    w_u64(w, n);
    w->failed |= fwrite(s, 1, n, w->f) != n;
}

static void w_pad(struct ke_gguf_writer * w)
{
    static const char zero[GGUF_ALIGN];
    long pos = ftell(w->f);
    if (pos < 0) {
        w->failed = true;
        return;
    }
    size_t pad = (GGUF_ALIGN - (size_t) pos % GGUF_ALIGN) % GGUF_ALIGN;
    w->failed |= fwrite(zero, 1, pad, w->f) != pad;
}

void ke_gguf_writer_abort(struct ke_gguf_writer * w)
{
    if (!w) {
        return;
    }
    if (w->f) {
        fclose(w->f);
        unlink(w->tmp);
    }
    free(w->path);
    free(w->tmp);
    free(w->nbytes);
    free(w);
}

enum ke_status ke_gguf_writer_open(struct ke_gguf_writer ** out, const char * path, const char * arch, int n,
                                   const struct ke_gguf_tensor_info * infos, struct ke_error * err)
{
    *out = NULL;
    struct ke_gguf_writer * w = calloc(1, sizeof(*w));
    if (!w || !(w->path = strdup(path)) || !(w->tmp = malloc(strlen(path) + 8)) ||
        !(w->nbytes = calloc((size_t) (n > 0 ? n : 1), sizeof(uint64_t)))) {
        ke_gguf_writer_abort(w);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    sprintf(w->tmp, "%s.tmp", path);
    w->n = n;
    for (int i = 0; i < n; i++) {
        const struct ke_gguf_tensor_info * t = &infos[i];
        int64_t nel = 1;
        for (int d = 0; d < t->n_dims; d++) {
            nel *= t->shape[d];
        }
        if (ggml_id(t->type) < 0 || t->n_dims < 1 || t->n_dims > KE_MAX_DIMS ||
            t->shape[t->n_dims - 1] % ke_dtype_block(t->type) != 0) {
            ke_gguf_writer_abort(w);
            return ke_err(err, KE_STATUS_INVALID, "%s: tensor '%s' (%s): not writable as GGUF (type or row size)", path,
                          t->name, ke_dtype_name(t->type));
        }
        w->nbytes[i] = ke_dtype_row_bytes(t->type, nel);
    }
    if (!(w->f = fopen(w->tmp, "wb"))) {
        enum ke_status st = ke_err(err, KE_STATUS_IO, "%s: cannot write: %s", w->tmp, strerror(errno));
        ke_gguf_writer_abort(w);
        return st;
    }
    w->failed |= fwrite("GGUF", 1, 4, w->f) != 4;
    w_u32(w, 3);
    w_u64(w, (uint64_t) n);
    w_u64(w, 1);
    w_str(w, "general.architecture");
    w_u32(w, 8);   // STRING
    w_str(w, arch);
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const struct ke_gguf_tensor_info * t = &infos[i];
        w_str(w, t->name);
        w_u32(w, (uint32_t) t->n_dims);
        for (int d = t->n_dims - 1; d >= 0; d--) {
            w_u64(w, (uint64_t) t->shape[d]);   // innermost first
        }
        w_u32(w, (uint32_t) ggml_id(t->type));
        w_u64(w, off);
        off += (w->nbytes[i] + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN;
    }
    w_pad(w);
    if (w->failed) {
        enum ke_status st = ke_err(err, KE_STATUS_IO, "%s: write failed: %s", w->tmp, strerror(errno));
        ke_gguf_writer_abort(w);
        return st;
    }
    *out = w;
    return KE_STATUS_OK;
}

enum ke_status ke_gguf_writer_data(struct ke_gguf_writer * w, const void * data, size_t n, struct ke_error * err)
{
    while (n > 0) {
        if (w->cur >= w->n) {
            return ke_err(err, KE_STATUS_INVALID, "%s: more data than the tensor table holds", w->path);
        }
        const uint64_t room = w->nbytes[w->cur] - w->written;
        const size_t k = n < room ? n : (size_t) room;
        w->failed |= fwrite(data, 1, k, w->f) != k;
        data = (const char *) data + k;
        n -= k;
        w->written += k;
        if (w->written == w->nbytes[w->cur]) {
            w_pad(w);
            w->cur++;
            w->written = 0;
        }
        if (w->failed) {
            return ke_err(err, KE_STATUS_IO, "%s: write failed: %s", w->tmp, strerror(errno));
        }
    }
    return KE_STATUS_OK;
}

enum ke_status ke_gguf_writer_close(struct ke_gguf_writer * w, struct ke_error * err)
{
    enum ke_status st = KE_STATUS_OK;
    if (w->cur != w->n) {
        st = ke_err(err, KE_STATUS_INVALID, "%s: closed after %d of %d tensors", w->path, w->cur, w->n);
    } else if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0 || w->failed) {
        st = ke_err(err, KE_STATUS_IO, "%s: write failed: %s", w->tmp, strerror(errno));
    }
    if (st != KE_STATUS_OK) {
        ke_gguf_writer_abort(w);
        return st;
    }
    int rc = fclose(w->f);
    w->f = NULL;
    if (rc != 0 || rename(w->tmp, w->path) != 0) {
        st = ke_err(err, KE_STATUS_IO, "%s: cannot complete the file: %s", w->path, strerror(errno));
        unlink(w->tmp);
    }
    ke_gguf_writer_abort(w);
    return st;
}
