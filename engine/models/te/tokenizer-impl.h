// Kinora engine: internals of the SentencePiece unigram tokenizer shared by its readers
// (spm-proto.c for spiece.model, tokenizer-json.c for tokenizer.json) and tokenizer.c.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "ke.h"

// Piece types, numbered as SentencePiece's ModelProto.SentencePiece.Type.
enum ke_piece_type {
    KE_PIECE_NORMAL       = 1,
    KE_PIECE_UNKNOWN      = 2,
    KE_PIECE_CONTROL      = 3,
    KE_PIECE_USER_DEFINED = 4,
    KE_PIECE_UNUSED       = 5,
    KE_PIECE_BYTE         = 6,
};

struct ke_tok_piece {
    uint32_t off;    // start of the piece text in ke_tokenizer.text
    uint32_t len;    // bytes
    float score;
    uint8_t type;    // enum ke_piece_type
};

// The model as both file forms describe it; readers fill it, ke_tok_finish() indexes it.
struct ke_tokenizer {
    char path[512];                  // the file it came from (for messages)
    bool from_json;                  // read from a tokenizer.json (else a spiece.model)

    // --- vocabulary ---
    struct ke_tok_piece * pieces;    // (n_pieces)
    int n_pieces;
    int cap_pieces;
    char * text;                     // piece bytes, each followed by a NUL
    size_t n_text;
    size_t cap_text;

    int unk_id;                      // -1 until known
    int eos_id;                      // -1 if the model has none
    bool byte_fallback;
    int byte_ids[256];               // id of <0xXX>, -1 if absent

    // --- normaliser (SentencePiece NormalizerSpec) ---
    uint8_t * charsmap;              // owned copy of precompiled_charsmap, may be NULL
    size_t n_charsmap;
    const uint32_t * trie;           // double-array units inside charsmap (n_trie)
    size_t n_trie;
    const char * norm;               // NUL-separated replacement strings (n_norm bytes)
    size_t n_norm;
    bool add_dummy_prefix;
    bool remove_extra_whitespaces;
    bool escape_whitespaces;
    bool treat_whitespace_as_suffix;

    // --- index, built by ke_tok_finish ---
    int32_t * table;                 // open-addressing hash: piece text -> id, -1 empty (n_table)
    size_t n_table;
    int max_piece_len;               // longest matchable piece in bytes
    int * user_ids;                  // USER_DEFINED piece ids (n_user), for the normaliser
    int n_user;
    int * special_ids;               // CONTROL and UNKNOWN ids (n_special), matched in prompts
    int n_special;
    float min_score;                 // over NORMAL pieces, as SentencePiece computes them
    float max_score;
};

// Append one piece; returns its id or a negative status.
enum ke_status ke_tok_add_piece(struct ke_tokenizer * tok, const char * s, size_t len, float score,
                                int type, struct ke_error * err);
// Take a copy of a precompiled charsmap and check its framing.
enum ke_status ke_tok_set_charsmap(struct ke_tokenizer * tok, const uint8_t * blob, size_t n,
                                   struct ke_error * err);
// Validate the vocabulary and build the lookup index (after a reader has filled the model).
enum ke_status ke_tok_finish(struct ke_tokenizer * tok, struct ke_error * err);

// Open from a file's bytes (a ModelProto, or JSON when it starts with '{'); name is for messages.
enum ke_status ke_tok_open_memory(struct ke_tokenizer ** out, const char * name, const char * data, size_t n,
                                  struct ke_error * err);

// Readers. `data` is the whole file; they fill tok (already zeroed, path set).
enum ke_status ke_spm_proto_read(struct ke_tokenizer * tok, const uint8_t * data, size_t n,
                                 struct ke_error * err);
enum ke_status ke_tok_json_read(struct ke_tokenizer * tok, const char * data, size_t n,
                                struct ke_error * err);

// Normalise `len` bytes the way SentencePiece's Normalizer does (charsmap, whitespace rules).
// Returns a malloc'd string (*out_len bytes, NUL-terminated) or NULL when out of memory.
char * ke_tok_normalize(const struct ke_tokenizer * tok, const char * s, size_t len, size_t * out_len);

// Prompt cleaning as the official pipeline does before tokenising (HTML unescape twice, the
// listed ftfy steps, whitespace collapse and trim). Returns a malloc'd string or NULL.
char * ke_tok_clean_prompt(const char * s, size_t len, size_t * out_len);

// The text without leading and trailing whitespace, as Python's str.strip() (LTX-Video's only prompt
// preprocessing): the code points str.isspace() accepts. Returns a malloc'd string or NULL.
char * ke_tok_strip(const char * s, size_t len, size_t * out_len);

// UTF-8 helpers (SentencePiece's rules: invalid bytes decode as one byte).
// Decode one code point; *n gets the bytes used (1 for invalid input, which returns -1).
int32_t ke_utf8_decode(const char * s, size_t len, int * n);
int ke_utf8_encode(int32_t cp, char * out);
