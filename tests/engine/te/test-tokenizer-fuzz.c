/* test-tokenizer-fuzz.c: the spiece.model and tokenizer.json readers on truncated, bit-flipped
 * and hostile input: every file either loads and encodes, or is refused with a message that
 * names it; nothing crashes (run under the sanitizer build too).
 */
#include <stdio.h>
#include <string.h>

#include "test-util.h"
#include "ke.h"
#include "models/te/tokenizer-impl.h"

static const char *samples[] = {
  "A red fox runs through fresh snow at dawn.",
  "\xe8\x89\xb2\xe8\xb0\x83\xe8\x89\xb3\xe4\xb8\xbd\xef\xbc\x8c\xe8\xbf\x87\xe6\x9b\x9d",
  "  \xef\xbc\xa1\xef\xbc\xa2  \xf0\x9f\xa6\x8a \xe3\x90\x80 caf\xc3\xa9 \x01 \xff ",
  "",
};

static char *
te_path (const char *name)
{
  const char *root = g_getenv ("KINORA_SOURCE_ROOT");
  return g_build_filename (root ? root : ".", "tests", "engine", "te", name, NULL);
}

/* Open from memory; on success encode the samples in both modes. Returns TRUE if it loaded. */
static gboolean
try_open (const char *name, const char *data, size_t n)
{
  struct ke_error err = { 0 };
  struct ke_tokenizer *tok = NULL;
  enum ke_status st = ke_tok_open_memory (&tok, name, data, n, &err);
  if (st != KE_STATUS_OK)
    {
      g_assert_null (tok);
      g_assert_cmpint (st, <, 0);
      if (!strstr (err.msg, name))
        g_error ("error without the file name: %s", err.msg);
      return FALSE;
    }
  for (guint i = 0; i < G_N_ELEMENTS (samples); i++)
    {
      int32_t ids[512];
      int m = 0;
      g_assert_cmpint (ke_tokenizer_encode (tok, samples[i], ids, 512, &m, KE_TOKENIZE_RAW, NULL), ==, KE_STATUS_OK);
      for (int k = 0; k < m && k < 512; k++)
        g_assert_true (ids[k] >= 0 && ids[k] < ke_tokenizer_n_pieces (tok));
      if (ke_tokenizer_eos_id (tok) >= 0)
        g_assert_cmpint (ke_tokenizer_encode (tok, samples[i], ids, 512, &m, KE_TOKENIZE_PROMPT, NULL), ==,
                         KE_STATUS_OK);
    }
  ke_tokenizer_free (tok);
  return TRUE;
}

static void
fuzz_file (const char *name, const char *data, size_t n, int n_cuts, int n_flips, guint32 seed)
{
  char *buf = g_malloc (n + 1);
  int loaded = 0, refused = 0;
  GRand *rng = g_rand_new_with_seed (seed);
  /* Truncations: the first 64 lengths, then evenly spread ones. */
  for (int i = 0; i < 64 + n_cuts; i++)
    {
      size_t len = i < 64 ? (size_t) i : (size_t) ((double) (i - 64) / n_cuts * n);
      if (len >= n)
        continue;
      memcpy (buf, data, len);
      if (try_open (name, buf, len))
        loaded++;
      else
        refused++;
    }
  /* Bit flips, 1 to 8 per copy. */
  for (int i = 0; i < n_flips; i++)
    {
      memcpy (buf, data, n);
      int k = g_rand_int_range (rng, 1, 9);
      for (int j = 0; j < k; j++)
        {
          size_t at = (size_t) g_rand_int_range (rng, 0, (gint32) n);
          buf[at] ^= (char) (1 << g_rand_int_range (rng, 0, 8));
        }
      if (try_open (name, buf, n))
        loaded++;
      else
        refused++;
    }
  g_test_message ("%s: %d variants loaded and encoded, %d refused with an error", name, loaded, refused);
  g_assert_cmpint (refused, >, 0);
  g_rand_free (rng);
  g_free (buf);
}

static void
test_proto (void)
{
  char *path = te_path ("data/spm-b.model");
  char *data = NULL;
  gsize n = 0;
  g_assert_true (g_file_get_contents (path, &data, &n, NULL));
  g_assert_true (try_open (path, data, n));
  fuzz_file (path, data, n, 300, 1500, 7);
  g_free (data);
  g_free (path);
}

/* A hostile charsmap: a valid model whose double-array units and strings are random bytes. */
static void
test_hostile_charsmap (void)
{
  GRand *rng = g_rand_new_with_seed (11);
  for (int round = 0; round < 200; round++)
    {
      struct ke_tokenizer *tok = g_new0 (struct ke_tokenizer, 1);
      g_strlcpy (tok->path, "hostile.model", sizeof tok->path);
      g_assert_cmpint (ke_tok_add_piece (tok, "<unk>", 5, 0, KE_PIECE_UNKNOWN, NULL), ==, 0);
      g_assert_cmpint (ke_tok_add_piece (tok, "\xe2\x96\x81", 3, -1, KE_PIECE_NORMAL, NULL), ==, 1);
      g_assert_cmpint (ke_tok_add_piece (tok, "a", 1, -2, KE_PIECE_NORMAL, NULL), ==, 2);
      tok->add_dummy_prefix = tok->remove_extra_whitespaces = tok->escape_whitespaces = TRUE;
      size_t units = (size_t) g_rand_int_range (rng, 1, 64), strs = (size_t) g_rand_int_range (rng, 0, 64);
      size_t n = 4 + units * 4 + strs;
      guint8 *blob = g_malloc (n);
      for (size_t i = 0; i < n; i++)
        blob[i] = (guint8) g_rand_int (rng);
      guint32 ts = (guint32) (units * 4);
      memcpy (blob, &ts, 4);
      if (round % 2)
        for (size_t i = 4; i < 4 + units * 4; i += 4)
          blob[i + 1] |= 1;   /* many leaves */
      g_assert_cmpint (ke_tok_set_charsmap (tok, blob, n, NULL), ==, KE_STATUS_OK);
      g_assert_cmpint (ke_tok_finish (tok, NULL), ==, KE_STATUS_OK);
      for (guint i = 0; i < G_N_ELEMENTS (samples); i++)
        {
          int32_t ids[512];
          int m = 0;
          g_assert_cmpint (ke_tokenizer_encode (tok, samples[i], ids, 512, &m, KE_TOKENIZE_RAW, NULL), ==,
                           KE_STATUS_OK);
        }
      ke_tokenizer_free (tok);
      g_free (blob);
    }
  g_rand_free (rng);
  /* Framing errors are refused. */
  struct ke_tokenizer tok = { .path = "frame.model" };
  struct ke_error err = { 0 };
  const guint8 bad[8] = { 0xff, 0xff, 0, 0, 1, 2, 3, 4 };
  g_assert_cmpint (ke_tok_set_charsmap (&tok, bad, sizeof bad, &err), ==, KE_STATUS_FORMAT);
  g_assert_nonnull (strstr (err.msg, "frame.model"));
}

static const char small_json[] =
  "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":0,\"content\":\"<pad>\",\"special\":true},"
  "{\"id\":1,\"content\":\"</s>\",\"special\":true},{\"id\":2,\"content\":\"<unk>\",\"special\":true}],"
  "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Precompiled\",\"precompiled_charsmap\":"
  "\"CAAAAAAAAAAAAAAAYWJj\"},{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},\"content\":\" \"}]},"
  "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"add_prefix_space\":true},"
  "\"model\":{\"type\":\"Unigram\",\"unk_id\":2,\"vocab\":[[\"<pad>\",0.0],[\"</s>\",0.0],[\"<unk>\",0.0],"
  "[\"\xe2\x96\x81\",-1.5],[\"a\",-2.0],[\"\xe2\x96\x81" "a\",-1.0],[\"red\",-3.0],[\"<0x41>\",-9]],"
  "\"byte_fallback\":true}}";

static void
test_json (void)
{
  g_assert_true (try_open ("small.tokenizer.json", small_json, strlen (small_json)));
  fuzz_file ("small.tokenizer.json", small_json, strlen (small_json), 200, 3000, 5);

  /* Wrong shapes and values are refused with a message. */
  const char *bad[] = {
    "{}",
    "{\"model\":{\"type\":\"BPE\",\"vocab\":{}}}",
    "{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}",
    "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\"]]}}",
    "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",\"x\"]]}}",
    "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",1]],\"unk_id\":5}}",
    "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",1]]}}",
    "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"\",1]],\"unk_id\":0}}",
    ("{\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"!!!\"},"
     "\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"<unk>\",0]],\"unk_id\":0}}"),
    "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"<unk>\",0]],\"unk_id\":0}",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (try_open ("bad.tokenizer.json", bad[i], strlen (bad[i])));

  /* A piece listed twice: the later id wins, as in the Hugging Face tokenizer (a spiece.model
   * with duplicates is refused, as SentencePiece does). */
  const char *dup = "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1],[\"a\",-2],[\"<unk>\",0]],"
                    "\"unk_id\":2}}";
  struct ke_tokenizer *tok = NULL;
  g_assert_cmpint (ke_tok_open_memory (&tok, "dup.json", dup, strlen (dup), NULL), ==, KE_STATUS_OK);
  int32_t ids[4];
  int n = 0;
  g_assert_cmpint (ke_tokenizer_encode (tok, "a", ids, 4, &n, KE_TOKENIZE_RAW, NULL), ==, KE_STATUS_OK);
  g_assert_cmpint (n, ==, 1);
  g_assert_cmpint (ids[0], ==, 1);
  ke_tokenizer_free (tok);
}

static void
test_pegasus_truncated (void)
{
  char *path = test_fixture_path ("tokenizers/pegasus.tokenizer.json");
  char *data = NULL;
  gsize n = 0;
  g_assert_true (g_file_get_contents (path, &data, &n, NULL));
  /* Any cut of a JSON document leaves it unterminated. */
  for (int i = 1; i <= 8; i++)
    {
      size_t len = n / 9 * i;
      g_assert_false (try_open (path, data, len));
    }
  g_free (data);
  g_free (path);
}

/* Prompt cleaning on random text rich in '&', '#', ';', digits and broken UTF-8: it must return
 * valid UTF-8 without crashing. */
static void
test_clean_random (void)
{
  static const char alphabet[] = "&#;xX0123456789aAmplgt<>\n \t\x1b[mEACUTE\xc3\xa9\xef\xbc\xa1\xe2\x80\x9c\xff";
  GRand *rng = g_rand_new_with_seed (3);
  for (int round = 0; round < 3000; round++)
    {
      char text[96];
      int n = g_rand_int_range (rng, 0, (gint32) sizeof text);
      for (int i = 0; i < n; i++)
        text[i] = alphabet[g_rand_int_range (rng, 0, (gint32) sizeof alphabet - 1)];
      text[n] = '\0';
      size_t len;
      char *out = ke_tok_clean_prompt (text, (size_t) n, &len);
      g_assert_nonnull (out);
      g_assert_cmpuint (strlen (out), ==, len);
      g_assert_true (g_utf8_validate (out, (gssize) len, NULL));
      free (out);
    }
  g_rand_free (rng);
}

/* A spiece.model byte piece "<0x-F>": sscanf's %2X read "-F" as -15 and byte_ids[] was written far out of
 * bounds (found by the tokenizer fuzz target). Refused now, naming the piece. */
static void
test_signed_byte_piece (void)
{
  static const guint8 model[] = {
    0x0a, 14, 0x0a, 5, '<', 'u', 'n', 'k', '>', 0x15, 0, 0, 0, 0, 0x18, 2,
    0x0a, 15, 0x0a, 6, '<', '0', 'x', '-', 'F', '>', 0x15, 0, 0, 0, 0, 0x18, 6,
  };
  struct ke_tokenizer *tok = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_tok_open_memory (&tok, "signed.model", (const char *) model, sizeof model, &err), ==,
                   KE_STATUS_FORMAT);
  g_assert_null (tok);
  g_test_message ("%s", err.msg);
  g_assert_nonnull (strstr (err.msg, "signed.model: byte piece 1 is \"<0x-F>\", expected <0xXX>"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tokenizer-fuzz/spiece-model", test_proto);
  g_test_add_func ("/tokenizer-fuzz/hostile-charsmap", test_hostile_charsmap);
  g_test_add_func ("/tokenizer-fuzz/tokenizer-json", test_json);
  g_test_add_func ("/tokenizer-fuzz/pegasus-truncated", test_pegasus_truncated);
  g_test_add_func ("/tokenizer-fuzz/clean-random", test_clean_random);
  g_test_add_func ("/tokenizer-fuzz/signed-byte-piece", test_signed_byte_piece);
  return g_test_run ();
}
