// Kinora engine: reader of SentencePiece's spiece.model, a ModelProto message in protobuf wire
// format (schema: sentencepiece_model.proto, SentencePiece v0.1.97). Reads only what encoding needs.
// (libprotobuf-c would need protoc-c code generated from the .proto, which Debian does not ship.)
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer-impl.h"

// Field numbers of the schema.
enum {
    MODEL_PIECES = 1, MODEL_TRAINER_SPEC = 2, MODEL_NORMALIZER_SPEC = 3,
    PIECE_PIECE = 1, PIECE_SCORE = 2, PIECE_TYPE = 3,
    TRAINER_MODEL_TYPE = 3, TRAINER_WS_SUFFIX = 24, TRAINER_BYTE_FALLBACK = 35,
    NORM_CHARSMAP = 2, NORM_DUMMY_PREFIX = 3, NORM_REMOVE_WS = 4, NORM_ESCAPE_WS = 5,
};
enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

// A cursor over one message; `base` is the file start, for offsets in messages.
struct pb {
    const uint8_t * p;
    const uint8_t * end;
    const uint8_t * base;
    const char * path;
    struct ke_error * err;
};

struct pb_field {
    uint32_t num;
    int wire;
    uint64_t v;              // varint or fixed value
    const uint8_t * data;    // WIRE_LEN payload
    size_t len;
    size_t at;               // offset of the field in the file
};

static enum ke_status pb_fail(struct pb * b, size_t at, const char * what)
{
    return ke_err(b->err, KE_STATUS_FORMAT, "%s: bad SentencePiece model: %s at byte %zu", b->path, what, at);
}

static enum ke_status pb_varint(struct pb * b, uint64_t * v)
{
    uint64_t r = 0;
    size_t at = (size_t)(b->p - b->base);
    for (int i = 0; i < 10; i++) {
        if (b->p >= b->end) {
            return pb_fail(b, at, "truncated varint");
        }
        uint8_t c = *b->p++;
        r |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *v = r;
            return KE_STATUS_OK;
        }
    }
    return pb_fail(b, at, "varint longer than 10 bytes");
}

// Next field of the message; returns 1 with f filled, 0 at the end, <0 on error.
static int pb_next(struct pb * b, struct pb_field * f)
{
    if (b->p >= b->end) {
        return 0;
    }
    f->at = (size_t)(b->p - b->base);
    uint64_t key;
    if (pb_varint(b, &key) != KE_STATUS_OK) {
        return KE_STATUS_FORMAT;
    }
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    if (f->num == 0 || key >> 32) {
        return pb_fail(b, f->at, "invalid field number");
    }
    switch (f->wire) {
    case WIRE_VARINT:
        return pb_varint(b, &f->v) == KE_STATUS_OK ? 1 : KE_STATUS_FORMAT;
    case WIRE_I64:
    case WIRE_I32: {
        size_t n = f->wire == WIRE_I64 ? 8 : 4;
        if ((size_t)(b->end - b->p) < n) {
            return pb_fail(b, f->at, "truncated fixed-size field");
        }
        f->v = 0;
        for (size_t i = 0; i < n; i++) {
            f->v |= (uint64_t)b->p[i] << (8 * i);
        }
        b->p += n;
        return 1;
    }
    case WIRE_LEN: {
        uint64_t len;
        if (pb_varint(b, &len) != KE_STATUS_OK) {
            return KE_STATUS_FORMAT;
        }
        if (len > (uint64_t)(b->end - b->p)) {
            return pb_fail(b, f->at, "field length past the end of its message");
        }
        f->data = b->p;
        f->len = (size_t)len;
        b->p += len;
        return 1;
    }
    default:
        return pb_fail(b, f->at, "unsupported wire type (groups are not used by this schema)");
    }
}

static enum ke_status pb_expect(struct pb * b, const struct pb_field * f, int wire, const char * name)
{
    if (f->wire != wire) {
        char what[128];
        snprintf(what, sizeof(what), "field %s has wire type %d, expected %d", name, f->wire, wire);
        return pb_fail(b, f->at, what);
    }
    return KE_STATUS_OK;
}

static struct pb pb_sub(const struct pb * b, const struct pb_field * f)
{
    struct pb s = *b;
    s.p = f->data;
    s.end = f->data + f->len;
    return s;
}

static enum ke_status read_piece(struct ke_tokenizer * tok, struct pb * b, size_t at)
{
    const uint8_t * piece = NULL;
    size_t len = 0;
    float score = 0.0f;
    int type = KE_PIECE_NORMAL;
    bool have_piece = false;
    struct pb_field f;
    int r;
    while ((r = pb_next(b, &f)) > 0) {
        if (f.num == PIECE_PIECE) {
            if (pb_expect(b, &f, WIRE_LEN, "piece") != KE_STATUS_OK) {
                return KE_STATUS_FORMAT;
            }
            piece = f.data;
            len = f.len;
            have_piece = true;
        } else if (f.num == PIECE_SCORE) {
            if (pb_expect(b, &f, WIRE_I32, "score") != KE_STATUS_OK) {
                return KE_STATUS_FORMAT;
            }
            uint32_t u = (uint32_t)f.v;
            memcpy(&score, &u, 4);
        } else if (f.num == PIECE_TYPE) {
            if (pb_expect(b, &f, WIRE_VARINT, "type") != KE_STATUS_OK) {
                return KE_STATUS_FORMAT;
            }
            if (f.v < KE_PIECE_NORMAL || f.v > KE_PIECE_BYTE) {
                return pb_fail(b, f.at, "unknown piece type");
            }
            type = (int)f.v;
        }
    }
    if (r < 0) {
        return KE_STATUS_FORMAT;
    }
    if (!have_piece || len == 0) {
        return pb_fail(b, at, "empty piece");
    }
    int id = ke_tok_add_piece(tok, (const char *)piece, len, score, type, b->err);
    return id < 0 ? (enum ke_status)id : KE_STATUS_OK;
}

static enum ke_status read_trainer(struct ke_tokenizer * tok, struct pb * b)
{
    struct pb_field f;
    int r;
    while ((r = pb_next(b, &f)) > 0) {
        if (f.num == TRAINER_MODEL_TYPE) {
            if (pb_expect(b, &f, WIRE_VARINT, "model_type") != KE_STATUS_OK) {
                return KE_STATUS_FORMAT;
            }
            if (f.v != 1) {
                return ke_err(b->err, KE_STATUS_UNSUPPORTED,
                              "%s: SentencePiece model type %llu is not unigram (1)", b->path,
                              (unsigned long long)f.v);
            }
        } else if (f.num == TRAINER_WS_SUFFIX || f.num == TRAINER_BYTE_FALLBACK) {
            if (pb_expect(b, &f, WIRE_VARINT, "trainer flag") != KE_STATUS_OK) {
                return KE_STATUS_FORMAT;
            }
            if (f.num == TRAINER_WS_SUFFIX) {
                tok->treat_whitespace_as_suffix = f.v != 0;
            } else {
                tok->byte_fallback = f.v != 0;
            }
        }
    }
    return r < 0 ? KE_STATUS_FORMAT : KE_STATUS_OK;
}

static enum ke_status read_normalizer(struct ke_tokenizer * tok, struct pb * b)
{
    struct pb_field f;
    int r;
    while ((r = pb_next(b, &f)) > 0) {
        if (f.num == NORM_CHARSMAP) {
            if (pb_expect(b, &f, WIRE_LEN, "precompiled_charsmap") != KE_STATUS_OK) {
                return KE_STATUS_FORMAT;
            }
            enum ke_status st = ke_tok_set_charsmap(tok, f.data, f.len, b->err);
            if (st != KE_STATUS_OK) {
                return st;
            }
        } else if (f.num >= NORM_DUMMY_PREFIX && f.num <= NORM_ESCAPE_WS) {
            if (pb_expect(b, &f, WIRE_VARINT, "normalizer flag") != KE_STATUS_OK) {
                return KE_STATUS_FORMAT;
            }
            bool on = f.v != 0;
            if (f.num == NORM_DUMMY_PREFIX) {
                tok->add_dummy_prefix = on;
            } else if (f.num == NORM_REMOVE_WS) {
                tok->remove_extra_whitespaces = on;
            } else {
                tok->escape_whitespaces = on;
            }
        }
    }
    return r < 0 ? KE_STATUS_FORMAT : KE_STATUS_OK;
}

enum ke_status ke_spm_proto_read(struct ke_tokenizer * tok, const uint8_t * data, size_t n,
                                 struct ke_error * err)
{
    struct pb b = { .p = data, .end = data + n, .base = data, .path = tok->path, .err = err };
    // Schema defaults of NormalizerSpec.
    tok->add_dummy_prefix = true;
    tok->remove_extra_whitespaces = true;
    tok->escape_whitespaces = true;
    bool have_normalizer = false;
    struct pb_field f;
    int r;
    while ((r = pb_next(&b, &f)) > 0) {
        enum ke_status st = KE_STATUS_OK;
        if (f.num == MODEL_PIECES || f.num == MODEL_TRAINER_SPEC || f.num == MODEL_NORMALIZER_SPEC) {
            if (pb_expect(&b, &f, WIRE_LEN, "of ModelProto") != KE_STATUS_OK) {
                return KE_STATUS_FORMAT;
            }
            struct pb s = pb_sub(&b, &f);
            if (f.num == MODEL_PIECES) {
                st = read_piece(tok, &s, f.at);
            } else if (f.num == MODEL_TRAINER_SPEC) {
                st = read_trainer(tok, &s);
            } else {
                have_normalizer = true;
                st = read_normalizer(tok, &s);
            }
        }
        if (st != KE_STATUS_OK) {
            return st;
        }
    }
    if (r < 0) {
        return KE_STATUS_FORMAT;
    }
    if (tok->n_pieces == 0) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: not a SentencePiece model (no pieces)", tok->path);
    }
    if (!have_normalizer) {
        ke_log(1, "%s: SentencePiece model without normalizer_spec; using defaults", tok->path);
    }
    return KE_STATUS_OK;
}
