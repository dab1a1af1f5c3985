// Kinora engine: prompt cleaning before tokenisation, as the official Wan pipeline does it
// (wan/modules/tokenizers.py clean='whitespace': ftfy.fix_text, html.unescape twice, strip,
// collapse whitespace runs, strip), plus the UTF-8 helpers of the tokenizer.
#include <stdlib.h>
#include <string.h>

#include "tokenizer-impl.h"
#include "tokenizer-tables.h"

// --- UTF-8 ------------------------------------------------------------------------------------

static bool trail(unsigned char c)
{
    return (c & 0xc0) == 0x80;
}

static bool valid_cp(int32_t c)
{
    return c < 0xd800 || (c >= 0xe000 && c <= 0x10ffff);
}

int32_t ke_utf8_decode(const char * s, size_t len, int * n)
{
    const unsigned char * u = (const unsigned char *)s;
    *n = 1;
    if (len == 0) {
        return -1;
    }
    if (u[0] < 0x80) {
        return u[0];
    }
    int32_t c;
    if (len >= 2 && (u[0] & 0xe0) == 0xc0 && trail(u[1])) {
        c = (u[0] & 0x1f) << 6 | (u[1] & 0x3f);
        if (c >= 0x80) {
            *n = 2;
            return c;
        }
    } else if (len >= 3 && (u[0] & 0xf0) == 0xe0 && trail(u[1]) && trail(u[2])) {
        c = (u[0] & 0x0f) << 12 | (u[1] & 0x3f) << 6 | (u[2] & 0x3f);
        if (c >= 0x800 && valid_cp(c)) {
            *n = 3;
            return c;
        }
    } else if (len >= 4 && (u[0] & 0xf8) == 0xf0 && trail(u[1]) && trail(u[2]) && trail(u[3])) {
        c = (u[0] & 0x07) << 18 | (u[1] & 0x3f) << 12 | (u[2] & 0x3f) << 6 | (u[3] & 0x3f);
        if (c >= 0x10000 && valid_cp(c)) {
            *n = 4;
            return c;
        }
    }
    return -1;
}

int ke_utf8_encode(int32_t cp, char * out)
{
    unsigned char * o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

// --- code point buffers ---------------------------------------------------------------------

struct cps {
    int32_t * c;
    size_t n;
    size_t cap;
    bool oom;
};

static void put(struct cps * b, int32_t c)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        int32_t * p = realloc(b->c, cap * sizeof(int32_t));
        if (!p) {
            b->oom = true;
            return;
        }
        b->c = p;
        b->cap = cap;
    }
    b->c[b->n++] = c;
}

static void put_utf8(struct cps * b, const char * s)
{
    size_t len = strlen(s);
    while (len > 0) {
        int n;
        int32_t c = ke_utf8_decode(s, len, &n);
        put(b, c < 0 ? 0xfffd : c);
        s += n;
        len -= (size_t)n;
    }
}

// Python's str.isspace().
static bool is_space(int32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

// Windows-1252 for 0x80..0x9f, undefined bytes kept (ftfy's sloppy-windows-1252 and the
// replacement table of Python's html.unescape agree on this).
static const uint16_t k_cp1252[32] = {
    0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
    0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
    0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
    0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

static const char * ligature(int32_t c)
{
    switch (c) {
    case 0x0132: return "IJ";
    case 0x0133: return "ij";
    case 0x0149: return "\xca\xbcn";
    case 0x01f1: return "DZ";
    case 0x01f2: return "Dz";
    case 0x01f3: return "dz";
    case 0x01c4: return "D\xc5\xbd";
    case 0x01c5: return "D\xc5\xbe";
    case 0x01c6: return "d\xc5\xbe";
    case 0x01c7: return "LJ";
    case 0x01c8: return "Lj";
    case 0x01c9: return "lj";
    case 0x01ca: return "NJ";
    case 0x01cb: return "Nj";
    case 0x01cc: return "nj";
    case 0xfb00: return "ff";
    case 0xfb01: return "fi";
    case 0xfb02: return "fl";
    case 0xfb03: return "ffi";
    case 0xfb04: return "ffl";
    case 0xfb05: return "\xc5\xbft";
    case 0xfb06: return "st";
    }
    return NULL;
}

static const char * width_form(int32_t c)
{
    size_t lo = 0, hi = sizeof(k_width_map) / sizeof(k_width_map[0]);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (k_width_map[mid].cp == (unsigned)c) {
            return k_width_map[mid].value;
        }
        if (k_width_map[mid].cp < (unsigned)c) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

// ftfy's remove_control_chars set.
static bool is_removed_control(int32_t c)
{
    return (c <= 0x08) || c == 0x0b || (c >= 0x0e && c <= 0x1f) || c == 0x7f ||
           (c >= 0x206a && c <= 0x206f) || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffc);
}

// The ftfy.fix_text steps that matter for prompts: terminal escapes, C1 controls, Latin
// ligatures, character width, curly quotes, line breaks, control characters. (Mojibake repair
// and the final NFC are not ported; SentencePiece's NFKC charsmap does the composition.)
static void ftfy_fix(struct cps * out, const int32_t * c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int32_t x = c[i];
        if (x == 0x1b && i + 1 < n && c[i + 1] == '[') {
            size_t k = i + 2;
            while (k < n && ((c[k] >= '0' && c[k] <= '9') || c[k] == ';')) {
                k++;
            }
            if (k < n && ((c[k] >= 'a' && c[k] <= 'z') || (c[k] >= 'A' && c[k] <= 'Z'))) {
                i = k;
                continue;
            }
        }
        if (x >= 0x80 && x <= 0x9f) {
            x = k_cp1252[x - 0x80];
        }
        const char * rep = ligature(x);
        if (!rep) {
            rep = width_form(x);
        }
        if (rep) {
            put_utf8(out, rep);
            continue;
        }
        if (x == 0x02bc || (x >= 0x2018 && x <= 0x201b)) {
            x = '\'';
        } else if (x >= 0x201c && x <= 0x201f) {
            x = '"';
        }
        if (x == '\r' && i + 1 < n && c[i + 1] == '\n') {
            continue;   // \r\n -> \n
        }
        if (x == '\r' || x == 0x2028 || x == 0x2029 || x == 0x85) {
            x = '\n';
        }
        if (is_removed_control(x)) {
            continue;
        }
        put(out, x);
    }
}

static const char * entity_find(const struct ke_tok_entity * table, size_t count, const char * name, size_t len)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char * e = table[mid].name;
        int r = strncmp(e, name, len);
        if (r == 0 && e[len] != '\0') {
            r = 1;   // e is longer, so it sorts after
        }
        if (r == 0) {
            return table[mid].value;
        }
        if (r < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

static const char * entity_lookup(const char * name, size_t len)
{
    return entity_find(k_entities, sizeof(k_entities) / sizeof(k_entities[0]), name, len);
}

static bool is_hex(int32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static void put_charref(struct cps * out, uint32_t num, bool overflow)
{
    if (!overflow && num < 0xa0 && (num == 0 || num == 0x0d || num >= 0x80)) {
        put(out, num == 0 ? 0xfffd : num == 0x0d ? 0x0d : k_cp1252[num - 0x80]);
    } else if (overflow || num > 0x10ffff || (num >= 0xd800 && num <= 0xdfff)) {
        put(out, 0xfffd);
    } else if ((num >= 0x1 && num <= 0x8) || (num >= 0xe && num <= 0x1f) || (num >= 0x7f && num <= 0x9f) ||
               (num >= 0xfdd0 && num <= 0xfdef) || num == 0xb || (num & 0xfffe) == 0xfffe) {
        // Python drops these invalid code points
    } else {
        put(out, (int32_t)num);
    }
}

// Python's html.unescape.
static void html_unescape(struct cps * out, const int32_t * c, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (c[i] != '&') {
            put(out, c[i++]);
            continue;
        }
        size_t j = i + 1;
        if (j < n && c[j] == '#') {
            bool hex = j + 2 < n && (c[j + 1] == 'x' || c[j + 1] == 'X') && is_hex(c[j + 2]);
            bool dec = j + 1 < n && c[j + 1] >= '0' && c[j + 1] <= '9';
            if (!dec && !hex) {
                put(out, c[i++]);
                continue;
            }
            size_t k = dec ? j + 1 : j + 2;
            uint32_t num = 0;
            bool overflow = false;
            for (; k < n && (dec ? (c[k] >= '0' && c[k] <= '9') : is_hex(c[k])); k++) {
                uint32_t d = (uint32_t)(c[k] <= '9' ? c[k] - '0' : (c[k] | 0x20) - 'a' + 10);
                num = num * (dec ? 10 : 16) + d;
                if (num > 0x10ffff) {
                    overflow = true;
                    num = 0x110000;
                }
            }
            if (k < n && c[k] == ';') {
                k++;
            }
            put_charref(out, num, overflow);
            i = k;
            continue;
        }
        // Named: up to 32 characters outside "\t\n\f <&#;", then an optional ';'.
        size_t k = j;
        while (k < n && k - j < 32 && c[k] != '\t' && c[k] != '\n' && c[k] != '\f' && c[k] != ' ' &&
               c[k] != '<' && c[k] != '&' && c[k] != '#' && c[k] != ';') {
            k++;
        }
        if (k == j) {
            put(out, c[i++]);
            continue;
        }
        if (k < n && c[k] == ';') {
            k++;
        }
        char name[40];
        size_t len = k - j, ascii = 0;
        while (ascii < len && c[j + ascii] > 0 && c[j + ascii] < 0x80) {
            name[ascii] = (char)c[j + ascii];
            ascii++;
        }
        const char * value = NULL;
        size_t used = 0;
        if (ascii == len) {
            value = entity_lookup(name, len);
            used = len;
        }
        for (size_t x = len - 1; !value && x >= 2; x--) {
            if (x <= ascii) {
                value = entity_lookup(name, x);
                used = x;
            }
        }
        if (value) {
            put_utf8(out, value);
            for (size_t t = j + used; t < k; t++) {
                put(out, c[t]);
            }
        } else {
            for (size_t t = i; t < k; t++) {
                put(out, c[t]);
            }
        }
        i = k;
    }
}

static bool is_alnum_ascii(int32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// ftfy's unescape_html: only "&name;" / "&#num;" of at most 24 letters and digits, names from
// HTML5 plus upper-cased variants; a numeric reference must decode whole.
static void ftfy_unescape(struct cps * out, const int32_t * c, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = i + 1;
        bool num = k < n && c[i] == '&' && c[k] == '#';
        k += num;
        size_t s0 = k;
        while (k < n && k - s0 < 24 && is_alnum_ascii(c[k])) {
            k++;
        }
        if (c[i] != '&' || k == s0 || k >= n || c[k] != ';') {
            put(out, c[i++]);
            continue;
        }
        struct cps v = { 0 };
        bool replace = false;
        if (!num) {
            char name[32];
            size_t len = k + 1 - s0;
            for (size_t t = 0; t < len; t++) {
                name[t] = (char)c[s0 + t];
            }
            const char * val = entity_lookup(name, len);
            if (!val) {
                val = entity_find(k_entities_upper, sizeof(k_entities_upper) / sizeof(k_entities_upper[0]), name, len);
            }
            if (val) {
                put_utf8(&v, val);
                replace = true;
            }
        } else {
            bool hex = c[s0] == 'x' || c[s0] == 'X';
            size_t d0 = s0 + hex, d = d0;
            uint32_t val = 0;
            bool overflow = false;
            while (d < k && (hex ? is_hex(c[d]) : (c[d] >= '0' && c[d] <= '9'))) {
                val = val * (hex ? 16 : 10) + (uint32_t)(c[d] <= '9' ? c[d] - '0' : (c[d] | 0x20) - 'a' + 10);
                if (val > 0x10ffff) {
                    overflow = true;
                    val = 0x110000;
                }
                d++;
            }
            if (d == k && d > d0) {
                put_charref(&v, val, overflow);
                // ftfy keeps a reference whose decoding holds a ';'
                replace = !(v.n == 1 && v.c[0] == ';');
            }
        }
        if (replace) {
            for (size_t t = 0; t < v.n; t++) {
                put(out, v.c[t]);
            }
        } else {
            for (size_t t = i; t <= k; t++) {
                put(out, c[t]);
            }
        }
        free(v.c);
        i = k + 1;
    }
}

char * ke_tok_clean_prompt(const char * s, size_t len, size_t * out_len)
{
    struct cps a = { 0 }, b = { 0 }, line = { 0 }, tmp = { 0 };
    while (len > 0) {
        int n;
        int32_t c = ke_utf8_decode(s, len, &n);
        put(&a, c < 0 ? 0xfffd : c);
        s += n;
        len -= (size_t)n;
    }
    // ftfy.fix_text: line by line; HTML unescaping stops from the first line holding '<'; each
    // line is fixed again until nothing changes.
    bool unescape = true;
    for (size_t i = 0; i < a.n;) {
        size_t j = i;
        while (j < a.n && a.c[j] != '\n') {
            j++;
        }
        j += j < a.n;
        line.n = 0;
        for (size_t t = i; t < j; t++) {
            put(&line, a.c[t]);
            unescape = unescape && a.c[t] != '<';
        }
        for (int round = 0; round < 16 && !line.oom && !tmp.oom; round++) {
            tmp.n = 0;
            if (unescape) {
                ftfy_unescape(&tmp, line.c, line.n);
            } else {
                for (size_t t = 0; t < line.n; t++) {
                    put(&tmp, line.c[t]);
                }
            }
            size_t before = line.n;
            int32_t * old = line.c;
            line.n = 0;
            line.c = NULL;
            line.cap = 0;
            ftfy_fix(&line, tmp.c, tmp.n);
            bool same = line.n == before && (before == 0 || memcmp(line.c, old, before * sizeof(int32_t)) == 0);
            free(old);
            if (same) {
                break;
            }
        }
        for (size_t t = 0; t < line.n; t++) {
            put(&b, line.c[t]);
        }
        i = j;
    }
    free(line.c);
    free(tmp.c);
    a.n = 0;
    html_unescape(&a, b.c, b.n);
    b.n = 0;
    html_unescape(&b, a.c, a.n);
    // Collapse whitespace runs to one space and trim (the strip between the steps is implied).
    a.n = 0;
    bool pending = false;
    for (size_t i = 0; i < b.n; i++) {
        if (is_space(b.c[i])) {
            pending = a.n > 0;
            continue;
        }
        if (pending) {
            put(&a, ' ');
            pending = false;
        }
        put(&a, b.c[i]);
    }
    char * out = NULL;
    if (!a.oom && !b.oom && !line.oom && !tmp.oom) {
        out = malloc(a.n * 4 + 1);
    }
    if (out) {
        size_t o = 0;
        for (size_t i = 0; i < a.n; i++) {
            o += (size_t)ke_utf8_encode(a.c[i], out + o);
        }
        out[o] = '\0';
        *out_len = o;
    }
    free(a.c);
    free(b.c);
    return out;
}
