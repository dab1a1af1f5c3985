// Kinora engine: reader of a Hugging Face tokenizer.json holding a SentencePiece unigram model
// (as converted for T5/UMT5: Unigram vocab + scores, Precompiled charsmap, Replace, Metaspace).
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <json-c/json.h>

#include "core/error.h"
#include "tokenizer-impl.h"

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

// Decode base64 (padding optional); returns a malloc'd buffer or NULL on bad input.
static uint8_t * b64_decode(const char * s, size_t n, size_t * out_n, bool * bad)
{
    *bad = false;
    uint8_t * out = malloc(n / 4 * 3 + 3);
    if (!out) {
        return NULL;
    }
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    size_t i = 0;
    for (; i < n && s[i] != '='; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            *bad = true;
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    for (; i < n; i++) {
        if (s[i] != '=') {
            *bad = true;
            free(out);
            return NULL;
        }
    }
    *out_n = o;
    return out;
}

static json_object * get(json_object * o, const char * key)
{
    json_object * v = NULL;
    if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v)) {
        return v;
    }
    return NULL;
}

static const char * get_str(json_object * o, const char * key)
{
    json_object * v = get(o, key);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

// Visit a normaliser or pre-tokeniser and its Sequence children.
static enum ke_status visit_normalizer(struct ke_tokenizer * tok, json_object * n, int depth,
                                       struct ke_error * err)
{
    const char * type = get_str(n, "type");
    if (!type || depth > 8) {
        return KE_STATUS_OK;
    }
    if (strcmp(type, "Sequence") == 0) {
        json_object * list = get(n, "normalizers");
        if (!list) {
            list = get(n, "pretokenizers");
        }
        if (list && json_object_is_type(list, json_type_array)) {
            size_t m = json_object_array_length(list);
            for (size_t i = 0; i < m; i++) {
                enum ke_status st = visit_normalizer(tok, json_object_array_get_idx(list, i), depth + 1, err);
                if (st != KE_STATUS_OK) {
                    return st;
                }
            }
        }
    } else if (strcmp(type, "Precompiled") == 0) {
        const char * b64 = get_str(n, "precompiled_charsmap");
        if (b64 && b64[0]) {
            bool bad;
            size_t len = 0;
            uint8_t * blob = b64_decode(b64, strlen(b64), &len, &bad);
            if (!blob) {
                return bad ? ke_err(err, KE_STATUS_FORMAT, "%s: precompiled_charsmap is not valid base64", tok->path)
                           : ke_err(err, KE_STATUS_NOMEM, "%s: out of memory decoding the charsmap", tok->path);
            }
            enum ke_status st = ke_tok_set_charsmap(tok, blob, len, err);
            free(blob);
            if (st != KE_STATUS_OK) {
                return st;
            }
        }
    } else if (strcmp(type, "Replace") == 0) {
        // Runs of spaces collapsed: SentencePiece's remove_extra_whitespaces.
        json_object * pat = get(n, "pattern");
        const char * re = get_str(pat, "Regex");
        const char * str = get_str(pat, "String");
        if ((re && strncmp(re, " {2,}", 5) == 0) || (str && strcmp(str, "  ") == 0)) {
            tok->remove_extra_whitespaces = true;
        }
    } else if (strcmp(type, "Strip") == 0 || strcmp(type, "WhitespaceSplit") == 0) {
        tok->remove_extra_whitespaces = true;
    } else if (strcmp(type, "Metaspace") == 0) {
        tok->escape_whitespaces = true;
        json_object * aps = get(n, "add_prefix_space");
        const char * scheme = get_str(n, "prepend_scheme");
        if (scheme) {
            tok->add_dummy_prefix = strcmp(scheme, "never") != 0;
        } else if (aps) {
            tok->add_dummy_prefix = json_object_get_boolean(aps);
        } else {
            tok->add_dummy_prefix = true;
        }
    }
    return KE_STATUS_OK;
}

static bool parse_byte_piece(const char * s, size_t len, int * byte)
{
    static const char hex[] = "0123456789ABCDEF";
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') {
        return false;
    }
    const char * h = strchr(hex, s[3]);
    const char * l = strchr(hex, s[4]);
    if (!h || !l || !s[3] || !s[4]) {
        return false;
    }
    *byte = (int)((h - hex) * 16 + (l - hex));
    return true;
}

// --- fast path for model.vocab ------------------------------------------------------------------
// json-c builds an object per value, which makes a 256k-piece vocabulary slow to load. The vocab
// array is found by a structural scan, read here, and json-c parses the rest of the document.

struct scan {
    const char * p;
    const char * end;
};

static void skip_ws(struct scan * s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t')) {
        s->p++;
    }
}

static bool skip_string(struct scan * s)
{
    if (s->p >= s->end || *s->p != '"') {
        return false;
    }
    for (s->p++; s->p < s->end; s->p++) {
        if (*s->p == '\\') {
            s->p++;
        } else if (*s->p == '"') {
            s->p++;
            return true;
        }
    }
    return false;
}

static bool is_delim(char c)
{
    switch (c) {
    case ',': case ':': case '{': case '}': case '[': case ']': case '"':
    case ' ': case '\t': case '\r': case '\n':
        return true;
    }
    return false;
}

// Skip one value of any kind (nesting tracked by a counter: brackets are matched loosely, which
// is enough to find spans; json-c validates the document afterwards).
static bool skip_value(struct scan * s)
{
    int depth = 0;
    do {
        skip_ws(s);
        if (s->p >= s->end) {
            return false;
        }
        char c = *s->p;
        if (c == '"') {
            if (!skip_string(s)) {
                return false;
            }
        } else if (c == '{' || c == '[') {
            depth++;
            s->p++;
        } else if (c == '}' || c == ']') {
            if (--depth < 0) {
                return false;
            }
            s->p++;
        } else if (c == ',' || c == ':') {
            s->p++;
        } else {
            // A number or literal: up to the next delimiter.
            while (s->p < s->end && !is_delim(*s->p)) {
                s->p++;
            }
        }
    } while (depth > 0);
    return true;
}

static bool key_is(const char * k0, const char * k1, const char * name)
{
    size_t n = strlen(name);
    return (size_t)(k1 - k0) == n + 2 && memcmp(k0 + 1, name, n) == 0;
}

// Find the value span of key `name` in the object starting at s->p; false if absent.
static bool find_key(struct scan * s, const char * name, const char ** v0, const char ** v1)
{
    skip_ws(s);
    if (s->p >= s->end || *s->p != '{') {
        return false;
    }
    s->p++;
    for (;;) {
        skip_ws(s);
        if (s->p >= s->end || *s->p == '}') {
            return false;
        }
        const char * k0 = s->p;
        if (!skip_string(s)) {
            return false;
        }
        const char * k1 = s->p;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':') {
            return false;
        }
        s->p++;
        skip_ws(s);
        const char * start = s->p;
        if (!skip_value(s)) {
            return false;
        }
        if (key_is(k0, k1, name)) {
            *v0 = start;
            *v1 = s->p;
            return true;
        }
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
        }
    }
}

static int hex4(const char * p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
                c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

// Decode the JSON string at s->p into buf (grown as needed); false on bad input.
static bool read_string(struct scan * s, char ** buf, size_t * cap, size_t * len)
{
    if (s->p >= s->end || *s->p != '"') {
        return false;
    }
    s->p++;
    size_t o = 0;
    while (s->p < s->end && *s->p != '"') {
        if (o + 8 > *cap) {
            size_t nc = *cap * 2 + 64;
            char * nb = realloc(*buf, nc);
            if (!nb) {
                return false;
            }
            *buf = nb;
            *cap = nc;
        }
        unsigned char c = (unsigned char)*s->p++;
        if (c < 0x20) {
            return false;
        }
        if (c != '\\') {
            (*buf)[o++] = (char)c;
            continue;
        }
        if (s->p >= s->end) {
            return false;
        }
        char e = *s->p++;
        switch (e) {
        case '"': case '\\': case '/': (*buf)[o++] = e; break;
        case 'b': (*buf)[o++] = '\b'; break;
        case 'f': (*buf)[o++] = '\f'; break;
        case 'n': (*buf)[o++] = '\n'; break;
        case 'r': (*buf)[o++] = '\r'; break;
        case 't': (*buf)[o++] = '\t'; break;
        case 'u': {
            if (s->end - s->p < 4) {
                return false;
            }
            int32_t cp = hex4(s->p);
            if (cp < 0) {
                return false;
            }
            s->p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && s->end - s->p >= 6 && s->p[0] == '\\' && s->p[1] == 'u') {
                int lo = hex4(s->p + 2);
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    s->p += 6;
                }
            }
            if (cp >= 0xd800 && cp <= 0xdfff) {
                cp = 0xfffd;   // a lone surrogate
            }
            o += (size_t)ke_utf8_encode(cp, *buf + o);
            break;
        }
        default:
            return false;
        }
    }
    if (s->p >= s->end) {
        return false;
    }
    s->p++;
    *len = o;
    return true;
}

// strtod must not follow the application's LC_NUMERIC.
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static enum ke_status read_vocab_fast(struct ke_tokenizer * tok, const char * v0, const char * v1,
                                      struct ke_error * err)
{
    pthread_once(&c_locale_once, make_c_locale);
    if (!c_locale) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: cannot create the C locale", tok->path);
    }
    struct scan s = { v0, v1 };
    char * buf = NULL;
    size_t cap = 0, len = 0;
    enum ke_status st = KE_STATUS_OK;
    size_t i = 0;
    skip_ws(&s);
    if (s.p >= s.end || *s.p++ != '[') {
        return ke_err(err, KE_STATUS_FORMAT, "%s: model.vocab is not an array", tok->path);
    }
    skip_ws(&s);
    if (s.p < s.end && *s.p == ']') {
        return ke_err(err, KE_STATUS_FORMAT, "%s: model.vocab is empty", tok->path);
    }
    for (;; i++) {
        skip_ws(&s);
        bool ok = s.p < s.end && *s.p++ == '[';
        if (ok) {
            skip_ws(&s);
            ok = read_string(&s, &buf, &cap, &len);
        }
        if (ok) {
            skip_ws(&s);
            ok = s.p < s.end && *s.p++ == ',';
            skip_ws(&s);
        }
        double score = 0;
        if (ok) {
            ok = s.p < s.end && (*s.p == '-' || (*s.p >= '0' && *s.p <= '9'));
            char num[64];
            size_t k = 0;
            while (ok && s.p < s.end && k + 1 < sizeof(num) && !is_delim(*s.p)) {
                num[k++] = *s.p++;
            }
            num[k] = '\0';
            char * e = NULL;
            score = ok ? strtod_l(num, &e, c_locale) : 0;
            ok = ok && e == num + k;
            skip_ws(&s);
            ok = ok && s.p < s.end && *s.p++ == ']';
        }
        if (!ok || len == 0) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: model.vocab[%zu] is not a [piece, score] pair", tok->path, i);
            break;
        }
        int byte;
        int type = tok->byte_fallback && parse_byte_piece(buf, len, &byte) ? KE_PIECE_BYTE : KE_PIECE_NORMAL;
        int id = ke_tok_add_piece(tok, buf, len, (float)score, type, err);
        if (id < 0) {
            st = (enum ke_status)id;
            break;
        }
        skip_ws(&s);
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            continue;
        }
        if (s.p < s.end && *s.p == ']') {
            break;
        }
        st = ke_err(err, KE_STATUS_FORMAT, "%s: model.vocab: expected ',' or ']' after entry %zu", tok->path, i);
        break;
    }
    free(buf);
    return st;
}

static enum ke_status read_vocab(struct ke_tokenizer * tok, json_object * model, const char * v0,
                                 const char * v1, struct ke_error * err)
{
    const char * type = get_str(model, "type");
    if (!type || strcmp(type, "Unigram") != 0) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: model type is %s, expected Unigram", tok->path,
                      type ? type : "missing");
    }
    json_object * vocab = get(model, "vocab");
    if (!vocab || !json_object_is_type(vocab, json_type_array)) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: model.vocab is missing or not an array", tok->path);
    }
    json_object * bf = get(model, "byte_fallback");
    tok->byte_fallback = bf && json_object_get_boolean(bf);
    if (v0) {
        enum ke_status st = read_vocab_fast(tok, v0, v1, err);
        if (st != KE_STATUS_OK) {
            return st;
        }
        goto unk;
    }
    size_t n = json_object_array_length(vocab);
    if (n == 0 || n > (1u << 30)) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: model.vocab has %zu entries", tok->path, n);
    }
    for (size_t i = 0; i < n; i++) {
        json_object * e = json_object_array_get_idx(vocab, i);
        json_object * p = e && json_object_is_type(e, json_type_array) && json_object_array_length(e) == 2
                          ? json_object_array_get_idx(e, 0) : NULL;
        json_object * s = p ? json_object_array_get_idx(e, 1) : NULL;
        if (!p || !json_object_is_type(p, json_type_string) ||
            !(json_object_is_type(s, json_type_double) || json_object_is_type(s, json_type_int))) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: model.vocab[%zu] is not a [piece, score] pair", tok->path, i);
        }
        size_t len = (size_t)json_object_get_string_len(p);
        const char * str = json_object_get_string(p);
        if (len == 0) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: model.vocab[%zu] is an empty piece", tok->path, i);
        }
        int byte;
        int ptype = tok->byte_fallback && parse_byte_piece(str, len, &byte) ? KE_PIECE_BYTE : KE_PIECE_NORMAL;
        int id = ke_tok_add_piece(tok, str, len, (float)json_object_get_double(s), ptype, err);
        if (id < 0) {
            return (enum ke_status)id;
        }
    }
unk:;
    json_object * unk = get(model, "unk_id");
    if (unk && json_object_is_type(unk, json_type_int)) {
        int64_t u = json_object_get_int64(unk);
        if (u < 0 || u >= tok->n_pieces) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: model.unk_id %lld is outside the vocab (%d pieces)",
                          tok->path, (long long)u, tok->n_pieces);
        }
        tok->pieces[u].type = KE_PIECE_UNKNOWN;
    }
    return KE_STATUS_OK;
}

// Added tokens: special ones are control symbols (never matched in text by SentencePiece),
// the others user-defined symbols.
static enum ke_status read_added(struct ke_tokenizer * tok, json_object * added, struct ke_error * err)
{
    if (!added || !json_object_is_type(added, json_type_array)) {
        return KE_STATUS_OK;
    }
    size_t n = json_object_array_length(added);
    for (size_t i = 0; i < n; i++) {
        json_object * a = json_object_array_get_idx(added, i);
        json_object * idj = get(a, "id");
        const char * content = get_str(a, "content");
        if (!idj || !json_object_is_type(idj, json_type_int) || !content) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: added_tokens[%zu] lacks id or content", tok->path, i);
        }
        int64_t id = json_object_get_int64(idj);
        if (id < 0 || id >= tok->n_pieces || strcmp(tok->text + tok->pieces[id].off, content) != 0) {
            continue;   // a token outside the unigram vocab: SentencePiece never produces it
        }
        struct ke_tok_piece * p = &tok->pieces[id];
        if (p->type != KE_PIECE_NORMAL) {
            continue;
        }
        json_object * sp = get(a, "special");
        p->type = sp && json_object_get_boolean(sp) ? KE_PIECE_CONTROL : KE_PIECE_USER_DEFINED;
    }
    return KE_STATUS_OK;
}

enum ke_status ke_tok_json_read(struct ke_tokenizer * tok, const char * data, size_t n,
                                struct ke_error * err)
{
    if (n > INT32_MAX) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: tokenizer.json larger than 2 GiB", tok->path);
    }
    // Cut model.vocab out (replaced by []) when the scan finds it; json-c reads the rest.
    const char * v0 = NULL, * v1 = NULL;
    char * rest = NULL;
    struct scan sc = { data, data + n };
    const char * m0, * m1;
    if (find_key(&sc, "model", &m0, &m1)) {
        struct scan sm = { m0, m1 };
        if (find_key(&sm, "vocab", &v0, &v1)) {
            size_t head = (size_t)(v0 - data), tail = n - (size_t)(v1 - data);
            rest = malloc(head + 2 + tail);
            if (!rest) {
                return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", tok->path);
            }
            memcpy(rest, data, head);
            memcpy(rest + head, "[]", 2);
            memcpy(rest + head + 2, v1, tail);
            data = rest;
            n = head + 2 + tail;
        } else {
            v0 = v1 = NULL;
        }
    }
    json_tokener * jt = json_tokener_new_ex(64);
    if (!jt) {
        free(rest);
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", tok->path);
    }
    json_object * root = json_tokener_parse_ex(jt, data, (int)n);
    enum json_tokener_error je = json_tokener_get_error(jt);
    if (!root || je != json_tokener_success) {
        size_t at = json_tokener_get_parse_end(jt);
        if (rest && at > (size_t)(v0 - rest)) {
            at += (size_t)(v1 - v0) - 2;   // offsets in the original file
        }
        json_object_put(root);
        json_tokener_free(jt);
        free(rest);
        return ke_err(err, KE_STATUS_FORMAT, "%s: invalid JSON near byte %zu: %s", tok->path, at,
                      je == json_tokener_continue ? "unexpected end of file" : json_tokener_error_desc(je));
    }
    json_tokener_free(jt);

    enum ke_status st = KE_STATUS_OK;
    json_object * model = get(root, "model");
    if (!model) {
        st = ke_err(err, KE_STATUS_FORMAT, "%s: no \"model\" object (not a tokenizer.json)", tok->path);
        goto done;
    }
    st = read_vocab(tok, model, v0, v1, err);
    if (st == KE_STATUS_OK) {
        st = read_added(tok, get(root, "added_tokens"), err);
    }
    if (st == KE_STATUS_OK) {
        st = visit_normalizer(tok, get(root, "normalizer"), 0, err);
    }
    if (st == KE_STATUS_OK) {
        st = visit_normalizer(tok, get(root, "pre_tokenizer"), 0, err);
    }
done:
    json_object_put(root);
    free(rest);
    return st;
}
