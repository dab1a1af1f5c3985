// Kinora engine: the CPU backend's fused ops (backend.h, "fused ops"): each runs exactly the
// composition of plain ops its declaration names, through the backend's own table. A struct ke_xbuf
// on the CPU holds f32, so the results equal the separate ops bit for bit.
#include <string.h>

#include "backends/cpu/cpu-impl.h"

#define F(p) ((float *) (p))
#define CF(p) ((const float *) (p))

void ke_cpu_to_xbuf(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t n)
{
    be->ops->copy(be, y, x, (size_t) n * sizeof(float));
}

void ke_cpu_layer_norm_mod_x(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t M, int64_t D,
                             const float * w, const float * b, float eps, const float * shift, const float * scale,
                             int64_t mod_stride, const int32_t * sel)
{
    be->ops->layer_norm(be, F(y), x, M, D, w, b, eps);
    if (shift || scale) {
        be->ops->modulate(be, F(y), F(y), M, D, shift, scale, mod_stride, sel);
    }
}

void ke_cpu_rms_norm_rope_x(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t L, int n_heads,
                            int head_dim, const float * w, float eps, const float * cs)
{
    be->ops->rms_norm(be, F(y), x, L, (int64_t) n_heads * head_dim, w, eps);
    if (cs) {
        be->ops->rope(be, F(y), L, n_heads, head_dim, cs);
    }
}

void ke_cpu_linear_x(struct ke_backend * be, float * y, const struct ke_xbuf * x, int64_t M, const struct ke_linear * l)
{
    be->ops->linear(be, y, CF(x), M, l);
}

void ke_cpu_linear_gelu_x(struct ke_backend * be, struct ke_xbuf * y, const struct ke_xbuf * x, int64_t M,
                          const struct ke_linear * l)
{
    be->ops->linear(be, F(y), CF(x), M, l);
    be->ops->gelu_tanh(be, F(y), M * l->n_out);
}

void ke_cpu_linear_gated_add_x(struct ke_backend * be, float * r, const struct ke_xbuf * x, int64_t M,
                               const struct ke_linear * l, const float * gate, int64_t gate_stride,
                               const int32_t * sel, float * tmp)
{
    be->ops->linear(be, tmp, CF(x), M, l);
    be->ops->gated_add(be, r, tmp, M, l->n_out, gate, gate_stride, sel);
}

void ke_cpu_attention_x(struct ke_backend * be, struct ke_xbuf * o, const struct ke_xbuf * q, const struct ke_xbuf * k,
                        const struct ke_xbuf * v, int64_t Lq, int64_t Lk, int n_heads, int head_dim, float scale)
{
    be->ops->attention(be, F(o), CF(q), CF(k), CF(v), Lq, Lk, n_heads, head_dim, scale, NULL);
}

void ke_cpu_channel_l2norm_silu(struct ke_backend * be, float * y, const float * x, int C, int64_t N,
                                const float * gamma)
{
    be->ops->channel_l2norm(be, y, x, C, N, gamma);
    be->ops->silu(be, y, (int64_t) C * N);
}
