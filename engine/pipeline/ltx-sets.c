// Kinora engine: an LTX-Video ke_model_t over tensor sets made in memory (benchmarks with random weights at
// the real shapes; the Wan counterpart is ke_model_from_sets in model.c): the transformer, VAE and upsampler
// sets with their "config" metadata, T5 v1.1 XXL under the Hugging Face T5EncoderModel names, and the
// fixed tokenizer below in place of spiece.model.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "loaders/name-map.h"
#include "models/ltx/ltx-checkpoint.h"
#include "models/ltx/ltx-transformer.h"
#include "models/te/tokenizer-impl.h"
#include "models/te/umt5.h"
#include "pipeline/ltx-impl.h"
#include "pipeline/model-impl.h"

// The tokenizer of a model without a tokenizer file: a Unigram vocabulary of <pad> (0), </s> (1), <unk>
// (2), the word boundary U+2581 (3) and the printable ASCII characters but '"' and '\' (4 up), one piece
// each at the same score. A prompt therefore becomes a deterministic sequence of ids: one per character
// (a space is the boundary piece; any other byte is <unk>), then </s>, at most 256 in all, so a
// benchmark's prompt of n characters runs n + 1 real tokens through T5 and the cross-attention.
static enum ke_status fixed_tokenizer(ke_tokenizer_t ** out, struct ke_error * err)
{
    char json[2048];
    int n = snprintf(json, sizeof(json), "{\"model\":{\"type\":\"Unigram\",\"unk_id\":2,\"vocab\":[[\"<pad>\",0],"
                     "[\"</s>\",0],[\"<unk>\",0],[\"\\u2581\",-1]");
    for (int ch = 0x21; ch < 0x7f; ch++) {
        if (ch != '"' && ch != '\\') {
            n += snprintf(json + n, sizeof(json) - (size_t) n, ",[\"%c\",-1]", ch);
        }
    }
    n += snprintf(json + n, sizeof(json) - (size_t) n, "]}}");
    return ke_tok_open_memory(out, "fixed tokenizer", json, (size_t) n, err);
}

enum ke_status ke_ltx_model_set_text_encoder(ke_model_t * m, struct ke_tensor_set * t5, struct ke_error * err)
{
    struct ke_ltx_model * l = m->ltx;
    ke_text_encoder_free(l->te);
    l->te = NULL;
    // Hugging Face T5EncoderModel names as a file's (ke_text_encoder_open); bf16 compute on the CPU as
    // ke_ltx_model_open asks for
    enum ke_status st = ke_name_map_apply(t5, KE_NAME_ROLE_T5, err);
    if (st != KE_STATUS_OK) {
        ke_tset_free(t5);
        return st;
    }
    return ke_text_encoder_from_set(&l->te, t5, ke_backend_cpu_fast(), true, err);
}

void ke_ltx_model_set_transformer_maker(ke_model_t * m, ke_ltx_weights_fn make, void * user)
{
    m->ltx->make_dit = make;
    m->ltx->make_dit_user = user;
}

void ke_ltx_model_drop_transformer(ke_model_t * m)
{
    struct ke_ltx_model * l = m->ltx;
    ke_ltx_dit_free(l->dit);
    l->dit = NULL;
    if (l->make_dit) {
        ke_tset_free(l->ckpt->part[KE_LTX_PART_TRANSFORMER]);
        l->ckpt->part[KE_LTX_PART_TRANSFORMER] = NULL;
    }
}

enum ke_status ke_ltx_model_from_sets(ke_model_t ** out, struct ke_tensor_set * transformer, struct ke_tensor_set * vae,
                                      struct ke_tensor_set * upsampler, struct ke_tensor_set * t5,
                                      const char * release, bool drop_text_encoder, struct ke_error * err)
{
    *out = NULL;
    ke_model_t * m = calloc(1, sizeof(*m));
    struct ke_ltx_model * l = calloc(1, sizeof(*l));
    struct ke_ltx_checkpoint * c = calloc(1, sizeof(*c));
    enum ke_status st = KE_STATUS_OK;
    if (!m || !l || !c) {
        ke_tset_free(transformer);
        ke_tset_free(vae);
        ke_tset_free(upsampler);
        ke_tset_free(t5);
        free(m);
        free(l);
        free(c);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    m->task = KE_TASK_LTXV;
    m->random = true;
    m->ltx = l;
    l->ckpt = c;
    c->layout = KE_LTX_LAYOUT_SINGLE_FILE;
    c->part[KE_LTX_PART_TRANSFORMER] = transformer;
    c->part[KE_LTX_PART_VAE] = vae;
    c->part[KE_LTX_PART_UPSAMPLER] = upsampler;
    c->size_b = 13;
    c->distilled = true;
    snprintf(c->release, sizeof(c->release), "%s", release ? release : "");
    if (!vae || !upsampler) {
        ke_tset_free(t5);
        st = ke_err(err, KE_STATUS_MISSING, "LTX-Video from memory: the VAE and the upsampler sets are required");
        goto fail;
    }
    // the transformer: given, or made on first use by the maker the caller sets
    // (ke_ltx_model_set_transformer_maker); its config is checked when it is built
    l->drop_text_encoder = drop_text_encoder;
    if ((st = ke_ltx_model_set_text_encoder(m, t5, err)) != KE_STATUS_OK ||
        (st = fixed_tokenizer(&l->tok, err)) != KE_STATUS_OK) {
        goto fail;
    }
    ke_ltx_pipe_config_distilled(&l->cfg, c->release);
    snprintf(m->name, sizeof(m->name), "LTX-Video %s distilled (random weights)",
             strcmp(c->release, "0.9.8") == 0 ? "0.9.8" : "0.9.7");
    *out = m;
    return KE_STATUS_OK;
fail:
    ke_model_free(m);
    return st;
}
