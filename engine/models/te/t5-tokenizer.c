// Kinora engine: the T5 v1.1 XXL tokenizer as LTX-Video runs it (ltx_video/pipelines/pipeline_ltx_video.py,
// Lightricks/LTX-Video 5260738: `_text_preprocessing` strips, then transformers' T5Tokenizer with
// padding="max_length", truncation, add_special_tokens) over the SentencePiece code of tokenizer.c.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/te/tokenizer-impl.h"

#define T5_EXTRA_IDS 100   // T5Tokenizer's extra_ids

// Python's str.isspace() over one code point (Unicode White_Space plus the separators U+001C..001F).
static bool py_space(int32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

char * ke_tok_strip(const char * s, size_t len, size_t * out_len)
{
    size_t start = len, end = 0;
    for (size_t i = 0; i < len;) {
        int n;
        int32_t c = ke_utf8_decode(s + i, len - i, &n);
        if (!py_space(c)) {   // invalid bytes (-1) are kept
            if (start == len) {
                start = i;
            }
            end = i + (size_t) n;
        }
        i += (size_t) n;
    }
    size_t n = start < end ? end - start : 0;
    char * out = malloc(n + 1);
    if (!out) {
        return NULL;
    }
    memcpy(out, s + (n ? start : 0), n);
    out[n] = '\0';
    *out_len = n;
    return out;
}

// The id of a piece with this exact text, any type; -1 if none.
static int find_piece(const struct ke_tokenizer * tok, const char * s)
{
    size_t l = strlen(s);
    for (int id = 0; id < tok->n_pieces; id++) {
        if (tok->pieces[id].len == l && memcmp(tok->text + tok->pieces[id].off, s, l) == 0) {
            return id;
        }
    }
    return -1;
}

enum ke_status ke_t5xxl_tokenizer_open(ke_tokenizer_t ** out, const char * path, struct ke_error * err)
{
    if (!out) {
        return ke_err(err, KE_STATUS_INVALID, "ke_t5xxl_tokenizer_open: no output");
    }
    *out = NULL;
    struct ke_tokenizer * tok = NULL;
    enum ke_status st = ke_tokenizer_open(&tok, path, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    if (tok->eos_id < 0 || find_piece(tok, "<pad>") != 0) {
        st = ke_err(err, KE_STATUS_FORMAT, "%s: not a T5 tokenizer (needs <pad> at id 0 and a </s> piece)", tok->path);
        ke_tokenizer_free(tok);
        return st;
    }
    // T5Tokenizer: <extra_id_N> is id len(sp_model) + 99 - N, a special token matched whole in text;
    // a tokenizer.json already lists them
    if (find_piece(tok, "<extra_id_0>") < 0) {
        for (int i = 0; i < T5_EXTRA_IDS && st == KE_STATUS_OK; i++) {
            char name[24];
            int l = snprintf(name, sizeof(name), "<extra_id_%d>", T5_EXTRA_IDS - 1 - i);
            int id = ke_tok_add_piece(tok, name, (size_t) l, 0.0f, KE_PIECE_CONTROL, err);
            st = id < 0 ? (enum ke_status) id : KE_STATUS_OK;
        }
        if (st == KE_STATUS_OK) {
            st = ke_tok_finish(tok, err);
        }
        if (st != KE_STATUS_OK) {
            ke_tokenizer_free(tok);
            return st;
        }
    }
    *out = tok;
    return KE_STATUS_OK;
}

enum ke_status ke_t5xxl_tokenize(const ke_tokenizer_t * tok, const char * prompt, int32_t * ids, int32_t * mask,
                                 int max_len, int * n_real, struct ke_error * err)
{
    if (!tok || !prompt || !ids || !mask || !n_real || max_len < 1) {
        return ke_err(err, KE_STATUS_INVALID, "ke_t5xxl_tokenize: bad arguments");
    }
    *n_real = 0;
    int n = 0;
    enum ke_status st = ke_tokenizer_encode(tok, prompt, ids, max_len, &n, KE_TOKENIZE_PROMPT | KE_TOKENIZE_STRIP,
                                            err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    const int pad = 0;   // <pad>, checked at open
    for (int i = 0; i < max_len; i++) {
        mask[i] = i < n;
        if (i >= n) {
            ids[i] = pad;
        }
    }
    *n_real = n;
    return KE_STATUS_OK;
}
