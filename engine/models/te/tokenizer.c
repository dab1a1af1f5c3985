// Kinora engine: SentencePiece unigram tokenizer (normaliser with a precompiled charsmap,
// Viterbi segmentation, unknown merging, byte fallback), ported from the behaviour of
// SentencePiece v0.1.97 (normalizer.cc, unigram_model.cc EncodeOptimized, sentencepiece_processor.cc).
#include <ctype.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/file.h"
#include "tokenizer-impl.h"

#define KE_TOK_MAX_FILE ((size_t)1 << 31)   // larger than any real tokenizer file

static const char k_space_symbol[] = "\xe2\x96\x81";   // U+2581, SentencePiece's whitespace
static const float k_unk_penalty = 10.0f;

// --- building the model -----------------------------------------------------------------------

enum ke_status ke_tok_add_piece(struct ke_tokenizer * tok, const char * s, size_t len, float score,
                                int type, struct ke_error * err)
{
    if (len > 0xffff) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: piece %d is %zu bytes long", tok->path, tok->n_pieces, len);
    }
    if (tok->n_pieces == tok->cap_pieces) {
        if (tok->cap_pieces >= (1 << 28)) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: more than %d pieces", tok->path, tok->cap_pieces);
        }
        int cap = tok->cap_pieces ? tok->cap_pieces * 2 : 1024;
        void * p = realloc(tok->pieces, (size_t)cap * sizeof(*tok->pieces));
        if (!p) {
            return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory for %d pieces", tok->path, cap);
        }
        tok->pieces = p;
        tok->cap_pieces = cap;
    }
    if (tok->n_text + len + 1 > tok->cap_text) {
        size_t cap = tok->cap_text ? tok->cap_text * 2 : 65536;
        while (cap < tok->n_text + len + 1) {
            cap *= 2;
        }
        if (cap > UINT32_MAX) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: piece text over 4 GiB", tok->path);
        }
        char * p = realloc(tok->text, cap);
        if (!p) {
            return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory for piece text", tok->path);
        }
        tok->text = p;
        tok->cap_text = cap;
    }
    struct ke_tok_piece * p = &tok->pieces[tok->n_pieces];
    p->off = (uint32_t)tok->n_text;
    p->len = (uint32_t)len;
    p->score = score;
    p->type = (uint8_t)type;
    memcpy(tok->text + tok->n_text, s, len);
    tok->text[tok->n_text + len] = '\0';
    tok->n_text += len + 1;
    return tok->n_pieces++;
}

enum ke_status ke_tok_set_charsmap(struct ke_tokenizer * tok, const uint8_t * blob, size_t n,
                                   struct ke_error * err)
{
    free(tok->charsmap);
    tok->charsmap = NULL;
    tok->trie = NULL;
    tok->n_trie = 0;
    tok->norm = NULL;
    tok->n_norm = 0;
    if (n == 0) {
        return KE_STATUS_OK;   // identity normalisation
    }
    // Layout: u32 LE trie size, the double-array units, then NUL-separated replacement strings.
    if (n <= 4) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: precompiled charsmap of %zu bytes is too short", tok->path, n);
    }
    uint32_t trie_size = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 |
                         (uint32_t)blob[3] << 24;
    if ((size_t)trie_size >= n - 4 + 1 || trie_size % 4 != 0) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: charsmap trie size %u does not fit its %zu-byte blob",
                      tok->path, trie_size, n);
    }
    tok->charsmap = malloc(n);
    if (!tok->charsmap) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory for the charsmap", tok->path);
    }
    memcpy(tok->charsmap, blob, n);
    tok->n_charsmap = n;
    tok->trie = (const uint32_t *)(tok->charsmap + 4);   // malloc'd, so 4-aligned
    tok->n_trie = trie_size / 4;
    tok->norm = (const char *)tok->charsmap + 4 + trie_size;
    tok->n_norm = n - 4 - trie_size;
    return KE_STATUS_OK;
}

static uint32_t fnv1a_step(uint32_t h, unsigned char c)
{
    return (h ^ c) * 16777619u;
}

static bool in_trie(int type)
{
    return type == KE_PIECE_NORMAL || type == KE_PIECE_USER_DEFINED || type == KE_PIECE_UNUSED;
}

// Id of a matchable piece (NORMAL, USER_DEFINED, UNUSED) with this text, or -1.
static int lookup(const struct ke_tokenizer * tok, const char * s, size_t len, uint32_t h)
{
    size_t mask = tok->n_table - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        int32_t id = tok->table[i];
        if (id < 0) {
            return -1;
        }
        const struct ke_tok_piece * p = &tok->pieces[id];
        if (p->len == len && memcmp(tok->text + p->off, s, len) == 0) {
            return id;
        }
    }
}

static uint32_t hash_bytes(const char * s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h = fnv1a_step(h, (unsigned char)s[i]);
    }
    return h;
}

enum ke_status ke_tok_finish(struct ke_tokenizer * tok, struct ke_error * err)
{
    // indexing again after pieces were appended (the T5 extra ids) starts from scratch
    free(tok->table);
    free(tok->special_ids);
    free(tok->user_ids);
    tok->table = NULL;
    tok->special_ids = tok->user_ids = NULL;
    tok->n_user = tok->n_special = tok->max_piece_len = 0;
    size_t n_table = 1024;
    while (n_table < (size_t)tok->n_pieces * 2) {
        n_table *= 2;
    }
    tok->table = malloc(n_table * sizeof(*tok->table));
    if (!tok->table) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory for the piece index", tok->path);
    }
    memset(tok->table, 0xff, n_table * sizeof(*tok->table));
    tok->n_table = n_table;
    tok->unk_id = -1;
    tok->eos_id = -1;
    tok->min_score = FLT_MAX;
    tok->max_score = FLT_MIN;
    for (int i = 0; i < 256; i++) {
        tok->byte_ids[i] = -1;
    }
    for (int id = 0; id < tok->n_pieces; id++) {
        struct ke_tok_piece * p = &tok->pieces[id];
        const char * s = tok->text + p->off;
        if (p->type == KE_PIECE_UNKNOWN) {
            if (tok->unk_id >= 0) {
                return ke_err(err, KE_STATUS_FORMAT, "%s: two unknown pieces (ids %d and %d)", tok->path,
                              tok->unk_id, id);
            }
            tok->unk_id = id;
        } else if (p->type == KE_PIECE_NORMAL) {
            if (p->score < tok->min_score) tok->min_score = p->score;
            if (p->score > tok->max_score) tok->max_score = p->score;
        } else if (p->type == KE_PIECE_BYTE) {
            // two hex digits exactly: sscanf's %2X also took "-F" (found by fuzzing: a write far out of
            // byte_ids)
            if (p->len != 6 || memcmp(s, "<0x", 3) != 0 || !isxdigit((unsigned char) s[3]) ||
                !isxdigit((unsigned char) s[4]) || s[5] != '>') {
                return ke_err(err, KE_STATUS_FORMAT, "%s: byte piece %d is \"%s\", expected <0xXX>", tok->path, id, s);
            }
            const char hex[3] = { s[3], s[4], 0 };
            tok->byte_ids[strtoul(hex, NULL, 16)] = id;
        } else if (p->type == KE_PIECE_CONTROL && tok->eos_id < 0 && strcmp(s, "</s>") == 0) {
            tok->eos_id = id;
        }
        if (p->type == KE_PIECE_USER_DEFINED) {
            tok->n_user++;
        }
        if (p->type == KE_PIECE_CONTROL || p->type == KE_PIECE_UNKNOWN) {
            tok->n_special++;
        }
        if (!in_trie(p->type)) {
            continue;
        }
        uint32_t h = hash_bytes(s, p->len);
        size_t mask = n_table - 1;
        int prev = lookup(tok, s, p->len, h);
        if (prev >= 0 && !tok->from_json) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: piece %d \"%s\" is already defined", tok->path, id, s);
        }
        if (prev >= 0) {
            // tokenizer.json: the later entry wins, as in the Hugging Face tokenizer
            ke_log(1, "%s: vocab entries %d and %d are both \"%s\"", tok->path, prev, id, s);
            size_t i = h & mask;
            while (tok->table[i] != prev) {
                i = (i + 1) & mask;
            }
            tok->table[i] = id;
            continue;
        }
        size_t i = h & mask;
        while (tok->table[i] >= 0) {
            i = (i + 1) & mask;
        }
        tok->table[i] = id;
        if ((int)p->len > tok->max_piece_len) {
            tok->max_piece_len = (int)p->len;
        }
    }
    if (tok->unk_id < 0) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: the model defines no unknown piece", tok->path);
    }
    for (int id = 0; id < tok->n_pieces && tok->eos_id < 0; id++) {
        if (tok->pieces[id].len == 4 && memcmp(tok->text + tok->pieces[id].off, "</s>", 4) == 0) {
            tok->eos_id = id;   // a tokenizer.json that lists no added tokens
        }
    }
    if (tok->min_score == FLT_MAX) {
        tok->min_score = 0.0f;   // no normal piece at all
    }
    if (tok->byte_fallback) {
        for (int b = 0; b < 256; b++) {
            if (tok->byte_ids[b] < 0) {
                tok->byte_ids[b] = tok->unk_id;   // as PieceToId of a missing piece
            }
        }
    }
    tok->special_ids = malloc(((size_t)tok->n_special + 1) * sizeof(int));
    if (!tok->special_ids) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", tok->path);
    }
    for (int id = 0, k = 0; id < tok->n_pieces; id++) {
        if (tok->pieces[id].type == KE_PIECE_CONTROL || tok->pieces[id].type == KE_PIECE_UNKNOWN) {
            tok->special_ids[k++] = id;
        }
    }
    if (tok->n_user > 0) {
        tok->user_ids = malloc((size_t)tok->n_user * sizeof(int));
        if (!tok->user_ids) {
            return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", tok->path);
        }
        int k = 0;
        for (int id = 0; id < tok->n_pieces; id++) {
            if (tok->pieces[id].type == KE_PIECE_USER_DEFINED) {
                tok->user_ids[k++] = id;
            }
        }
    }
    return KE_STATUS_OK;
}

// --- normaliser ---------------------------------------------------------------------------------

// Darts-clone double-array unit fields.
static bool unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static uint32_t unit_value(uint32_t u) { return u & 0x7fffffffu; }
static uint32_t unit_label(uint32_t u) { return u & (0x80000000u | 0xffu); }
static uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

// Longest charsmap rule that prefixes s (only the first 32 matches count, as in SentencePiece).
// Returns the matched length (0 if none) and the replacement in *rep / *rep_len.
static size_t charsmap_match(const struct ke_tokenizer * tok, const char * s, size_t len,
                             const char ** rep, size_t * rep_len)
{
    if (!tok->trie || tok->n_trie == 0) {
        return 0;
    }
    const uint32_t * a = tok->trie;
    size_t n = tok->n_trie;
    size_t best_len = 0;
    uint32_t best_value = 0;
    int n_results = 0;
    size_t pos = unit_offset(a[0]);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        pos ^= c;
        if (pos >= n) {
            break;
        }
        uint32_t u = a[pos];
        if (unit_label(u) != c) {
            break;
        }
        pos ^= unit_offset(u);
        if (unit_has_leaf(u)) {
            if (pos >= n) {
                break;
            }
            if (n_results < 32 && (best_len == 0 || i + 1 > best_len)) {
                best_len = i + 1;
                best_value = unit_value(a[pos]);
            }
            n_results++;
        }
    }
    if (best_len == 0) {
        return 0;
    }
    if (best_value >= tok->n_norm) {
        *rep = "";
        *rep_len = 0;   // a hostile charsmap: its rule points outside the strings
    } else {
        *rep = tok->norm + best_value;
        *rep_len = strnlen(*rep, tok->n_norm - best_value);
    }
    return best_len;
}

// One step of SentencePiece's NormalizePrefix: what the next bytes of s normalise to.
static size_t normalize_prefix(const struct ke_tokenizer * tok, const char * s, size_t len,
                               const char ** rep, size_t * rep_len)
{
    // User-defined symbols pass through whole (longest match).
    size_t best = 0;
    for (int k = 0; k < tok->n_user; k++) {
        const struct ke_tok_piece * p = &tok->pieces[tok->user_ids[k]];
        if (p->len <= len && p->len > best && memcmp(s, tok->text + p->off, p->len) == 0) {
            best = p->len;
        }
    }
    if (best > 0) {
        *rep = s;
        *rep_len = best;
        return best;
    }
    size_t m = charsmap_match(tok, s, len, rep, rep_len);
    if (m > 0) {
        return m;
    }
    int n;
    if (ke_utf8_decode(s, len, &n) < 0) {
        *rep = "\xef\xbf\xbd";   // U+FFFD for a malformed byte, which is consumed alone
        *rep_len = 3;
        return 1;
    }
    *rep = s;
    *rep_len = (size_t)n;
    return (size_t)n;
}

char * ke_tok_normalize(const struct ke_tokenizer * tok, const char * s, size_t len, size_t * out_len)
{
    size_t cap = len * 3 + 16;
    size_t o = 0;
    char * out = malloc(cap);
    if (!out) {
        return NULL;
    }
#define PUT(ptr, n) do {                                              \
        if (o + (n) + 1 > cap) {                                      \
            cap = (o + (n) + 1) * 2;                                  \
            char * np = realloc(out, cap);                            \
            if (!np) { free(out); return NULL; }                      \
            out = np;                                                 \
        }                                                             \
        memcpy(out + o, (ptr), (n));                                  \
        o += (n);                                                     \
    } while (0)

    const char * rep;
    size_t rep_len;
    // Leading whitespace goes.
    if (tok->remove_extra_whitespaces) {
        while (len > 0) {
            size_t m = normalize_prefix(tok, s, len, &rep, &rep_len);
            if (!(rep_len == 1 && rep[0] == ' ')) {
                break;
            }
            s += m;
            len -= m;
        }
    }
    if (len == 0) {
        out[0] = '\0';
        *out_len = 0;
        return out;
    }
    const char * ws = tok->escape_whitespaces ? k_space_symbol : " ";
    size_t ws_len = tok->escape_whitespaces ? 3 : 1;
    if (!tok->treat_whitespace_as_suffix && tok->add_dummy_prefix) {
        PUT(ws, ws_len);
    }
    bool prev_space = tok->remove_extra_whitespaces;
    while (len > 0) {
        size_t m = normalize_prefix(tok, s, len, &rep, &rep_len);
        const char * sp = rep;
        size_t sp_len = rep_len;
        while (prev_space && sp_len > 0 && sp[0] == ' ') {
            sp++;
            sp_len--;
        }
        if (sp_len > 0) {
            for (size_t i = 0; i < sp_len; i++) {
                if (tok->escape_whitespaces && sp[i] == ' ') {
                    PUT(k_space_symbol, 3);
                } else {
                    PUT(&sp[i], 1);
                }
            }
            prev_space = sp[sp_len - 1] == ' ';
        }
        s += m;
        len -= m;
        if (!tok->remove_extra_whitespaces) {
            prev_space = false;
        }
    }
    if (tok->remove_extra_whitespaces) {
        while (o >= ws_len && memcmp(out + o - ws_len, ws, ws_len) == 0) {
            o -= ws_len;
        }
    }
    if (tok->treat_whitespace_as_suffix && tok->add_dummy_prefix) {
        PUT(ws, ws_len);
    }
#undef PUT
    out[o] = '\0';
    *out_len = o;
    return out;
}

// --- segmentation ---------------------------------------------------------------------------------

struct best_node {
    float score;     // total score of the best path ending here
    int start;       // byte where its last piece starts, -1 if unreached
    int id;
};

static int one_char_len(unsigned char c)
{
    static const int8_t t[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
    return t[c >> 4];
}

// Viterbi over the normalised bytes (SentencePiece's EncodeOptimized, including its arithmetic:
// piece candidates are summed and compared in double, unknown candidates in float).
// Emits ids with unknown runs merged (or spelt as bytes with byte fallback). Returns the count
// or -1 when out of memory; at most max ids are stored.
static long segment(const struct ke_tokenizer * tok, const char * s, int size, int32_t * ids, long max)
{
    if (size == 0) {
        return 0;
    }
    struct best_node * best = malloc((size_t)(size + 1) * sizeof(*best));
    int * path = malloc((size_t)(size + 1) * sizeof(int));
    if (!best || !path) {
        free(best);
        free(path);
        return -1;
    }
    for (int i = 0; i <= size; i++) {
        best[i] = (struct best_node){ 0.0f, -1, -1 };
    }
    const float unk_score = tok->min_score - k_unk_penalty;
    for (int start = 0; start < size;) {
        const float till_here = best[start].score;
        int mblen = one_char_len((unsigned char)s[start]);
        if (mblen > size - start) {
            mblen = size - start;
        }
        bool has_single = false;
        int max_len = size - start < tok->max_piece_len ? size - start : tok->max_piece_len;
        uint32_t h = 2166136261u;
        for (int len = 1; len <= max_len; len++) {
            h = fnv1a_step(h, (unsigned char)s[start + len - 1]);
            int id = lookup(tok, s + start, (size_t)len, h);
            if (id < 0 || tok->pieces[id].type == KE_PIECE_UNUSED) {
                continue;
            }
            double score = tok->pieces[id].type == KE_PIECE_USER_DEFINED
                           ? (double)((float)len * tok->max_score) - 0.1
                           : (double)tok->pieces[id].score;
            double cand = score + (double)till_here;
            struct best_node * t = &best[start + len];
            if (t->start == -1 || cand > (double)t->score) {
                t->score = (float)cand;
                t->start = start;
                t->id = id;
            }
            if (len == mblen) {
                has_single = true;
            }
        }
        if (!has_single) {
            struct best_node * t = &best[start + mblen];
            float cand = unk_score + till_here;
            if (t->start == -1 || cand > t->score) {
                t->score = cand;
                t->start = start;
                t->id = tok->unk_id;
            }
        }
        start += mblen;
    }
    // Backtrack: path holds the end positions of the best pieces, last first.
    int n_path = 0;
    for (int end = size; end > 0; end = best[end].start) {
        path[n_path++] = end;
    }
    long n = 0;
    bool prev_unk = false;
    for (int k = n_path - 1; k >= 0; k--) {
        const struct best_node * b = &best[path[k]];
        bool is_unk = b->id == tok->unk_id;
        if (is_unk && tok->byte_fallback) {
            for (int i = b->start; i < path[k]; i++) {
                if (n < max) {
                    ids[n] = tok->byte_ids[(unsigned char)s[i]];
                }
                n++;
            }
        } else if (!(is_unk && prev_unk)) {
            if (n < max) {
                ids[n] = b->id;
            }
            n++;
        }
        prev_unk = is_unk;
    }
    free(best);
    free(path);
    return n;
}

// --- files and the public API ---------------------------------------------------------------------

static enum ke_status read_file(const char * path, char ** data, size_t * n, struct ke_error * err)
{
    FILE * f = ke_file_fopen_read(path, err);   // refuses FIFOs and devices without blocking
    if (!f) {
        ke_err_prefix(err, "tokenizer: ");
        return err ? err->code : KE_STATUS_IO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > KE_TOK_MAX_FILE) {
        fclose(f);
        return ke_err(err, KE_STATUS_IO, "%s: not a regular file of a tokenizer's size", path);
    }
    size_t size = (size_t)st.st_size;
    char * buf = malloc(size + 1);
    if (!buf) {
        fclose(f);
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory reading %zu bytes", path, size);
    }
    size_t got = fread(buf, 1, size, f);
    fclose(f);
    if (got != size) {
        free(buf);
        return ke_err(err, KE_STATUS_IO, "%s: short read (%zu of %zu bytes)", path, got, size);
    }
    buf[size] = '\0';
    *data = buf;
    *n = size;
    return KE_STATUS_OK;
}

static bool is_dir(const char * path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char * path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

enum ke_status ke_tokenizer_open(ke_tokenizer_t ** out, const char * path, struct ke_error * err)
{
    if (!out || !path) {
        return ke_err(err, KE_STATUS_INVALID, "ke_tokenizer_open: no path");
    }
    *out = NULL;
    char file[sizeof(((struct ke_tokenizer *)0)->path)];
    if (is_dir(path)) {
        // tokenizer.json first: the official pipeline loads it (Hugging Face fast tokenizer).
        static const char * names[] = { "tokenizer.json", "spiece.model" };
        file[0] = '\0';
        for (int i = 0; i < 2 && !file[0]; i++) {
            snprintf(file, sizeof(file), "%s/%s", path, names[i]);
            if (!is_file(file)) {
                file[0] = '\0';
            }
        }
        if (!file[0]) {
            return ke_err(err, KE_STATUS_MISSING, "%s: folder holds neither tokenizer.json nor spiece.model", path);
        }
    } else if ((size_t)snprintf(file, sizeof(file), "%s", path) >= sizeof(file)) {
        return ke_err(err, KE_STATUS_INVALID, "%.200s...: path too long", path);
    }
    char * data = NULL;
    size_t n = 0;
    enum ke_status st = read_file(file, &data, &n, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    st = ke_tok_open_memory(out, file, data, n, err);
    free(data);
    return st;
}

enum ke_status ke_tok_open_memory(struct ke_tokenizer ** out, const char * name, const char * data, size_t n,
                                  struct ke_error * err)
{
    *out = NULL;
    struct ke_tokenizer * tok = calloc(1, sizeof(*tok));
    if (!tok) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", name);
    }
    snprintf(tok->path, sizeof(tok->path), "%s", name);
    size_t i = 0;
    while (i < n && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t')) {
        i++;
    }
    enum ke_status st;
    if (i < n && data[i] == '{') {
        tok->from_json = true;
        st = ke_tok_json_read(tok, data, n, err);
    } else {
        st = ke_spm_proto_read(tok, (const uint8_t *)data, n, err);
    }
    if (st == KE_STATUS_OK) {
        st = ke_tok_finish(tok, err);
    }
    if (st != KE_STATUS_OK) {
        ke_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return KE_STATUS_OK;
}

void ke_tokenizer_free(ke_tokenizer_t * tok)
{
    if (!tok) {
        return;
    }
    free(tok->pieces);
    free(tok->text);
    free(tok->charsmap);
    free(tok->table);
    free(tok->user_ids);
    free(tok->special_ids);
    free(tok);
}

// Normalise and segment len bytes; stores ids from ids[n0] up to ids[room - 1] and returns the
// number of pieces (stored or not), -1 when out of memory, -2 when the text is too long.
static long encode_span(const struct ke_tokenizer * tok, const char * text, size_t len, int32_t * ids,
                        long n0, long room)
{
    size_t norm_len;
    char * norm = ke_tok_normalize(tok, text, len, &norm_len);
    if (!norm) {
        return -1;
    }
    if (norm_len > INT32_MAX / 2) {
        free(norm);
        return -2;
    }
    long n = segment(tok, norm, (int)norm_len, ids ? ids + (n0 < room ? n0 : room) : NULL,
                     n0 < room ? room - n0 : 0);
    free(norm);
    return n;
}

// The special token (control or unknown piece) that starts at s, longest first; -1 if none.
// The pipeline's Hugging Face tokenizer takes these out of a prompt before segmenting it.
static int special_at(const struct ke_tokenizer * tok, const char * s, size_t len, size_t * n)
{
    int best = -1;
    *n = 0;
    for (int k = 0; k < tok->n_special; k++) {
        const struct ke_tok_piece * p = &tok->pieces[tok->special_ids[k]];
        if (p->len <= len && p->len > *n && memcmp(s, tok->text + p->off, p->len) == 0) {
            best = tok->special_ids[k];
            *n = p->len;
        }
    }
    return best;
}

enum ke_status ke_tokenizer_encode(const ke_tokenizer_t * tok, const char * text, int32_t * ids,
                                   int max_ids, int * n_ids, unsigned flags, struct ke_error * err)
{
    if (n_ids) {
        *n_ids = 0;
    }
    if (!tok || !text || !n_ids || max_ids < 0 || (max_ids > 0 && !ids)) {
        return ke_err(err, KE_STATUS_INVALID, "ke_tokenizer_encode: bad arguments");
    }
    if (flags & KE_TOKENIZE_RAW) {
        long n = encode_span(tok, text, strlen(text), ids, 0, max_ids);
        if (n < 0) {
            return n == -1 ? ke_err(err, KE_STATUS_NOMEM, "ke_tokenizer_encode: out of memory")
                           : ke_err(err, KE_STATUS_INVALID, "ke_tokenizer_encode: text too long");
        }
        *n_ids = n > INT32_MAX ? INT32_MAX : (int)n;
        return KE_STATUS_OK;
    }
    if (max_ids < 1) {
        return ke_err(err, KE_STATUS_INVALID, "ke_tokenizer_encode: prompt mode needs room for EOS");
    }
    if (tok->eos_id < 0) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: the model has no </s> piece to end a prompt", tok->path);
    }
    size_t len;
    char * cleaned = (flags & KE_TOKENIZE_STRIP) ? ke_tok_strip(text, strlen(text), &len)
                                                 : ke_tok_clean_prompt(text, strlen(text), &len);
    if (!cleaned) {
        return ke_err(err, KE_STATUS_NOMEM, "ke_tokenizer_encode: out of memory");
    }
    // Text between special tokens is segmented piece by piece; truncation keeps text_len - 1
    // ids, then EOS.
    long room = max_ids - 1, n = 0;
    size_t seg = 0;
    for (size_t i = 0; i <= len && n < room;) {
        size_t m = 0;
        int sp = i < len ? special_at(tok, cleaned + i, len - i, &m) : -1;
        if (sp < 0 && i < len) {
            i++;
            continue;
        }
        long k = encode_span(tok, cleaned + seg, i - seg, ids, n, room);
        if (k < 0) {
            free(cleaned);
            return k == -1 ? ke_err(err, KE_STATUS_NOMEM, "ke_tokenizer_encode: out of memory")
                           : ke_err(err, KE_STATUS_INVALID, "ke_tokenizer_encode: text too long");
        }
        n += k;
        if (sp >= 0 && n < room) {
            ids[n++] = sp;
        }
        i += m > 0 ? m : 1;
        seg = i;
    }
    free(cleaned);
    int k = n < room ? (int)n : (int)room;
    ids[k] = tok->eos_id;
    *n_ids = k + 1;
    return KE_STATUS_OK;
}

const char * ke_tokenizer_piece(const ke_tokenizer_t * tok, int32_t id)
{
    if (!tok || id < 0 || id >= tok->n_pieces) {
        return NULL;
    }
    return tok->text + tok->pieces[id].off;
}

int ke_tokenizer_n_pieces(const ke_tokenizer_t * tok)
{
    return tok ? tok->n_pieces : 0;
}

int ke_tokenizer_eos_id(const ke_tokenizer_t * tok)
{
    return tok ? tok->eos_id : -1;
}

int ke_tokenizer_unk_id(const ke_tokenizer_t * tok)
{
    return tok ? tok->unk_id : -1;
}
