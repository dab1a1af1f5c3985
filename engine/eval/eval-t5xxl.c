// Kinora engine: `eval t5xxl` — LTX-Video's T5 v1.1 XXL encoder (HF T5EncoderModel: one relative bias,
// in block 0, shared by all blocks) over `ids`/`mask` [B, L] of an IO file, as `eval t5` does; the
// weights' config (HF config.json fields, in the metadata or beside the file) is checked against the shapes.
#include "backends/backend.h"
#include "core/error.h"
#include "eval/eval-io.h"
#include "eval/eval.h"
#include "loaders/loaders.h"
#include "loaders/name-map.h"
#include "models/te/umt5.h"

enum ke_status ke_eval_t5xxl(const struct ke_eval_args * a, struct ke_error * err)
{
    if (!a->weights) {
        return ke_err(err, KE_STATUS_INVALID, "eval t5xxl needs --weights");
    }
    struct ke_backend * be = ke_eval_backend(a, err);
    if (!be) {
        return err ? err->code : KE_STATUS_UNSUPPORTED;
    }
    struct ke_tensor_set * w = NULL, * io = NULL;
    struct ke_umt5 * m = NULL;
    enum ke_status st;
    if ((st = ke_weights_open(&w, a->weights, err)) != KE_STATUS_OK ||
        (st = ke_name_map_apply(w, KE_NAME_ROLE_T5, err)) != KE_STATUS_OK ||
        (st = ke_umt5_init(&m, w, be, err)) != KE_STATUS_OK) {
        goto done;
    }
    if (!m->cfg.shared_pos && m->cfg.n_layers > 1) {
        st = ke_err(err, KE_STATUS_SHAPE, "%s: tensor 'blocks.1.pos_embedding.embedding.weight' (block 1's "
                    "relative_attention_bias) is present: a UMT5 encoder (eval t5), not T5 v1.1", a->weights);
        goto done;
    }
    const char * cfg = ke_tset_meta(w, "config");
    if (cfg && (st = ke_t5_config_apply(&m->cfg, cfg, a->weights, err)) != KE_STATUS_OK) {
        goto done;
    }
    if ((st = ke_safetensors_open_file(&io, a->in, err)) == KE_STATUS_OK) {
        st = ke_eval_t5_encoder(a, m, io, err);
    }
done:
    ke_umt5_free(m);
    ke_tset_free(io);
    ke_tset_free(w);
    return st;
}
