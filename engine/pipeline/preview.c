// Kinora engine: live preview: the linear latent -> RGB projection (wan22-spec section 8; factors of
// ComfyUI comfy/latent_formats.py Wan21 / Wan22) applied to the x0 estimate at latent resolution; other
// latent widths (LTX-Video's 128 channels) in false colour from their principal directions (below).
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/preview-impl.h"

static const float wan21_rgb[16][3] = {
    {  -0.1299f,  -0.1692f,   0.2932f },
    {   0.0671f,   0.0406f,   0.0442f },
    {   0.3568f,   0.2548f,   0.1747f },
    {   0.0372f,   0.2344f,   0.1420f },
    {   0.0313f,   0.0189f,  -0.0328f },
    {   0.0296f,  -0.0956f,  -0.0665f },
    {  -0.3477f,  -0.4059f,  -0.2925f },
    {   0.0166f,   0.1902f,   0.1975f },
    {  -0.0412f,   0.0267f,  -0.1364f },
    {  -0.1293f,   0.0740f,   0.1636f },
    {   0.0680f,   0.3019f,   0.1128f },
    {   0.0032f,   0.0581f,   0.0639f },
    {  -0.1251f,   0.0927f,   0.1699f },
    {   0.0060f,  -0.0633f,   0.0005f },
    {   0.3477f,   0.2275f,   0.2950f },
    {   0.1984f,   0.0913f,   0.1861f },
};

static const float wan21_bias[3] = { -0.1835f, -0.0868f, -0.3360f };

static const float wan22_rgb[48][3] = {
    {   0.0119f,   0.0103f,   0.0046f },
    {  -0.1062f,  -0.0504f,   0.0165f },
    {   0.0140f,   0.0409f,   0.0491f },
    {  -0.0813f,  -0.0677f,   0.0607f },
    {   0.0656f,   0.0851f,   0.0808f },
    {   0.0264f,   0.0463f,   0.0912f },
    {   0.0295f,   0.0326f,   0.0590f },
    {  -0.0244f,  -0.0270f,   0.0025f },
    {   0.0443f,  -0.0102f,   0.0288f },
    {  -0.0465f,  -0.0090f,  -0.0205f },
    {   0.0359f,   0.0236f,   0.0082f },
    {  -0.0776f,   0.0854f,   0.1048f },
    {   0.0564f,   0.0264f,   0.0561f },
    {   0.0006f,   0.0594f,   0.0418f },
    {  -0.0319f,  -0.0542f,  -0.0637f },
    {  -0.0268f,   0.0024f,   0.0260f },
    {   0.0539f,   0.0265f,   0.0358f },
    {  -0.0359f,  -0.0312f,  -0.0287f },
    {  -0.0285f,  -0.1032f,  -0.1237f },
    {   0.1041f,   0.0537f,   0.0622f },
    {  -0.0086f,  -0.0374f,  -0.0051f },
    {   0.0390f,   0.0670f,   0.2863f },
    {   0.0069f,   0.0144f,   0.0082f },
    {   0.0006f,  -0.0167f,   0.0079f },
    {   0.0313f,  -0.0574f,  -0.0232f },
    {  -0.1454f,  -0.0902f,  -0.0481f },
    {   0.0714f,   0.0827f,   0.0447f },
    {  -0.0304f,  -0.0574f,  -0.0196f },
    {   0.0401f,   0.0384f,   0.0204f },
    {  -0.0758f,  -0.0297f,  -0.0014f },
    {   0.0568f,   0.1307f,   0.1372f },
    {  -0.0055f,  -0.0310f,  -0.0380f },
    {   0.0239f,  -0.0305f,   0.0325f },
    {  -0.0663f,  -0.0673f,  -0.0140f },
    {  -0.0416f,  -0.0047f,  -0.0023f },
    {   0.0166f,   0.0112f,  -0.0093f },
    {  -0.0211f,   0.0011f,   0.0331f },
    {   0.1833f,   0.1466f,   0.2250f },
    {  -0.0368f,   0.0370f,   0.0295f },
    {  -0.3441f,  -0.3543f,  -0.2008f },
    {  -0.0479f,  -0.0489f,  -0.0420f },
    {  -0.0660f,  -0.0153f,   0.0800f },
    {  -0.0101f,   0.0068f,   0.0156f },
    {  -0.0690f,  -0.0452f,  -0.0927f },
    {  -0.0145f,   0.0041f,   0.0015f },
    {   0.0421f,   0.0451f,   0.0373f },
    {   0.0504f,  -0.0483f,  -0.0356f },
    {  -0.0837f,   0.0168f,   0.0055f },
};

static const float wan22_bias[3] = { 0.0317f, -0.0878f, -0.1388f };

// --- latents without a published projection (LTX-Video's 128 channels) ------------------------------
// The two tables above are ComfyUI's, fitted by its authors from real VAE decodes; no such table is
// published for LTX-Video's 128-channel latent, and fitting one needs the real VAE (the random-weight
// models here decode noise). Such latents are shown in false colour instead: the three principal
// directions of the estimate's own channels (over all its frames, so the colours hold still across
// frames) become R, G and B, each centred and scaled to +-2 standard deviations. Shapes and motion show;
// hues are not the video's. Each direction's sign makes its largest loading positive, and the power
// iteration starts from the same vector every time, so the colours change little from step to step.

#define PCA_COMPONENTS 3
#define PCA_ITERATIONS 40
#define PCA_SAMPLES 4096

static void latent_to_rgb_pca(uint8_t * rgb, const float * latent, int z, int F, int H, int W)
{
    const size_t n = (size_t) F * H * W;
    double * mean = calloc((size_t) z, sizeof(double));
    double * cov = calloc((size_t) z * z, sizeof(double));
    double * v = malloc((size_t) z * PCA_COMPONENTS * sizeof(double));
    double * tmp = malloc((size_t) z * sizeof(double));
    float * xc = malloc((size_t) z * sizeof(float));
    if (!mean || !cov || !v || !tmp || !xc || n == 0) {
        memset(rgb, 128, n * 3);
        goto out;
    }
    for (int c = 0; c < z; c++) {
        double s = 0;
        for (size_t i = 0; i < n; i++) {
            s += latent[(size_t) c * n + i];
        }
        mean[c] = s / (double) n;
    }
    // covariance of the channels (upper triangle, then mirrored) over at most PCA_SAMPLES pixels evenly
    // spread: 128 channels at 1216x704x121 would otherwise cost 2e8 multiply-adds a preview
    const size_t stride = n > PCA_SAMPLES ? n / PCA_SAMPLES : 1;
    size_t n_used = 0;
    for (size_t i = 0; i < n; i += stride, n_used++) {
        for (int c = 0; c < z; c++) {
            xc[c] = (float) (latent[(size_t) c * n + i] - mean[c]);
        }
        for (int a = 0; a < z; a++) {
            const double xa = xc[a];
            double * row = cov + (size_t) a * z;
            for (int b = a; b < z; b++) {
                row[b] += xa * xc[b];
            }
        }
    }
    for (int a = 0; a < z; a++) {
        for (int b = a; b < z; b++) {
            cov[(size_t) a * z + b] /= (double) n_used;
            cov[(size_t) b * z + a] = cov[(size_t) a * z + b];
        }
    }
    // the leading eigenvectors by power iteration with deflation
    double var[PCA_COMPONENTS] = { 0 };
    for (int k = 0; k < PCA_COMPONENTS; k++) {
        double * e = v + (size_t) k * z;
        for (int c = 0; c < z; c++) {
            e[c] = 1.0 + 0.01 * ((c * 7 + k * 13) % 17);   // fixed start: the same answer every call
        }
        for (int it = 0; it < PCA_ITERATIONS; it++) {
            double norm = 0;
            for (int a = 0; a < z; a++) {
                double s = 0;
                for (int b = 0; b < z; b++) {
                    s += cov[(size_t) a * z + b] * e[b];
                }
                tmp[a] = s;
            }
            for (int j = 0; j < k; j++) {   // stay orthogonal to the directions found
                const double * f = v + (size_t) j * z;
                double d = 0;
                for (int c = 0; c < z; c++) {
                    d += tmp[c] * f[c];
                }
                for (int c = 0; c < z; c++) {
                    tmp[c] -= d * f[c];
                }
            }
            for (int c = 0; c < z; c++) {
                norm += tmp[c] * tmp[c];
            }
            norm = sqrt(norm);
            if (norm < 1e-20) {
                break;
            }
            var[k] = norm;
            for (int c = 0; c < z; c++) {
                e[c] = tmp[c] / norm;
            }
        }
        int big = 0;
        for (int c = 1; c < z; c++) {
            big = fabs(e[c]) > fabs(e[big]) ? c : big;
        }
        if (e[big] < 0) {
            for (int c = 0; c < z; c++) {
                e[c] = -e[c];
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < PCA_COMPONENTS; k++) {
            const double * e = v + (size_t) k * z;
            double s = 0;
            for (int c = 0; c < z; c++) {
                s += (latent[(size_t) c * n + i] - mean[c]) * e[c];
            }
            const double sd = sqrt(var[k]);
            double u = sd > 1e-12 ? 0.5 + s / (4.0 * sd) : 0.5;   // +-2 sd -> [0, 1]
            u = u < 0 ? 0 : u > 1 ? 1 : u;
            rgb[i * 3 + k] = (uint8_t) (u * 255.0 + 0.5);
        }
    }
out:
    free(mean);
    free(cov);
    free(v);
    free(tmp);
    free(xc);
}

void ke_latent_to_rgb(uint8_t * rgb, const float * latent, int z, int F, int H, int W)
{
    if (z != 16 && z != 48) {
        latent_to_rgb_pca(rgb, latent, z, F, H, W);
        return;
    }
    const float (*m)[3] = z == 48 ? wan22_rgb : wan21_rgb;
    const float * bias = z == 48 ? wan22_bias : wan21_bias;
    const int n_c = z == 48 ? 48 : 16;
    const size_t plane = (size_t) H * W, frame = (size_t) F * plane;
    for (int f = 0; f < F; f++) {
        for (size_t p = 0; p < plane; p++) {
            float acc[3] = { bias[0], bias[1], bias[2] };
            for (int c = 0; c < n_c && c < z; c++) {
                const float v = latent[(size_t) c * frame + (size_t) f * plane + p];
                acc[0] += v * m[c][0];
                acc[1] += v * m[c][1];
                acc[2] += v * m[c][2];
            }
            for (int j = 0; j < 3; j++) {
                float s = (acc[j] + 1.0f) * 0.5f;    // [-1, 1] -> [0, 1]
                s = s < 0.0f ? 0.0f : (s > 1.0f ? 1.0f : s);
                rgb[((size_t) f * plane + p) * 3 + j] = (uint8_t) (s * 255.0f + 0.5f);
            }
        }
    }
}
