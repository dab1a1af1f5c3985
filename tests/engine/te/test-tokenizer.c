/* test-tokenizer.c: the SentencePiece unigram tokenizer (engine/models/te/tokenizer.c).
 *
 * Ids are compared exactly with Debian's spm_encode on held-apart lines (committed ids for a
 * committed model, and models trained at test time by make-oracle.py, in both the spiece.model
 * and the tokenizer.json form); the real Pegasus tokenizer.json is checked for load time and
 * for segmentations derived independently from its vocabulary.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test-util.h"
#include "ke.h"
#include "models/te/tokenizer-impl.h"

static char *
te_path (const char *name)
{
  const char *root = g_getenv ("KINORA_SOURCE_ROOT");
  return g_build_filename (root ? root : ".", "tests", "engine", "te", name, NULL);
}

static ke_tokenizer_t *
open_ok (const char *path)
{
  struct ke_error err = { 0 };
  ke_tokenizer_t *tok = NULL;
  enum ke_status st = ke_tokenizer_open (&tok, path, &err);
  if (st != KE_STATUS_OK)
    g_test_message ("open %s: %s", path, err.msg);
  g_assert_cmpint (st, ==, KE_STATUS_OK);
  return tok;
}

/* Raw ids of text as "1 2 3", the form spm_encode prints. */
static char *
raw_ids_str (const ke_tokenizer_t *tok, const char *text)
{
  struct ke_error err = { 0 };
  int n = 0;
  g_assert_cmpint (ke_tokenizer_encode (tok, text, NULL, 0, &n, KE_TOKENIZE_RAW, &err), ==, KE_STATUS_OK);
  int32_t *ids = g_new (int32_t, n + 1);
  int m = 0;
  g_assert_cmpint (ke_tokenizer_encode (tok, text, ids, n, &m, KE_TOKENIZE_RAW, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (m, ==, n);
  GString *s = g_string_new (NULL);
  for (int i = 0; i < n; i++)
    g_string_append_printf (s, i ? " %d" : "%d", ids[i]);
  g_free (ids);
  return g_string_free (s, FALSE);
}

/* Every line of lines_path against the same line of ids_path; returns the lines compared. */
static int
check_ids (const ke_tokenizer_t *tok, const char *lines_path, const char *ids_path, const char *what)
{
  char *lines_txt = NULL, *ids_txt = NULL;
  g_assert_true (g_file_get_contents (lines_path, &lines_txt, NULL, NULL));
  g_assert_true (g_file_get_contents (ids_path, &ids_txt, NULL, NULL));
  char **lines = g_strsplit (lines_txt, "\n", -1);
  char **ids = g_strsplit (ids_txt, "\n", -1);
  guint n_lines = g_strv_length (lines), n_ids = g_strv_length (ids);
  g_assert_cmpuint (n_lines, ==, n_ids);
  int bad = 0, n = 0;
  for (guint i = 0; i + 1 < n_lines; i++)   /* the last field follows the final newline */
    {
      char *got = raw_ids_str (tok, lines[i]);
      if (strcmp (got, ids[i]) != 0)
        {
          if (bad < 5)
            g_test_message ("%s line %u: %s\n  got      %s\n  expected %s", what, i + 1, lines[i], got, ids[i]);
          bad++;
        }
      g_free (got);
      n++;
    }
  g_test_message ("%s: %d lines, %d differ from spm_encode", what, n, bad);
  g_assert_cmpint (bad, ==, 0);
  g_strfreev (lines);
  g_strfreev (ids);
  g_free (lines_txt);
  g_free (ids_txt);
  return n;
}

static void
test_oracle_committed (void)
{
  char *model = te_path ("data/spm-b.model");
  char *lines = te_path ("data/heldout.txt");
  char *ids = te_path ("data/spm-b.ids");
  ke_tokenizer_t *tok = open_ok (model);
  g_assert_cmpint (check_ids (tok, lines, ids, "spm-b.model"), >=, 1000);
  ke_tokenizer_free (tok);
  g_free (model);
  g_free (lines);
  g_free (ids);
}

static gboolean
run (const char *cmd)
{
  char *out = NULL, *err = NULL;
  int status = 0;
  GError *e = NULL;
  gboolean ok = g_spawn_command_line_sync (cmd, &out, &err, &status, &e) && g_spawn_check_wait_status (status, &e);
  if (!ok)
    g_test_message ("%s failed: %s\n%s", cmd, e ? e->message : "", err ? err : "");
  g_clear_error (&e);
  g_free (out);
  g_free (err);
  return ok;
}

/* Train three models now (spm_train), take spm_encode's ids, convert each model to the
 * tokenizer.json form, and require the same ids from both forms. */
static void
test_oracle_trained (void)
{
  char *dir = test_tmp_path ("oracle");
  char *script = te_path ("make-oracle.py");
  char *conv = te_path ("spm-to-json.py");
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  char *cmd = g_strdup_printf ("/usr/bin/python3 %s --out %s", script, dir);
  if (!run (cmd))
    g_error ("make-oracle.py failed: the oracle needs Debian's sentencepiece and python3-sentencepiece "
             "with python3-protobuf");
  g_free (cmd);
  char *lines = g_build_filename (dir, "heldout.txt", NULL);
  const char *names[] = { "spm-a", "spm-b", "spm-c" };
  for (int i = 0; i < 3; i++)
    {
      char *model = g_strdup_printf ("%s/%s.model", dir, names[i]);
      char *json = g_strdup_printf ("%s/%s.tokenizer.json", dir, names[i]);
      char *ids = g_strdup_printf ("%s/%s.ids", dir, names[i]);
      cmd = g_strdup_printf ("/usr/bin/python3 %s %s %s", conv, model, json);
      g_assert_true (run (cmd));
      g_free (cmd);
      ke_tokenizer_t *a = open_ok (model);
      ke_tokenizer_t *b = open_ok (json);
      g_assert_cmpint (check_ids (a, lines, ids, model), >=, 1000);
      g_assert_cmpint (check_ids (b, lines, ids, json), >=, 1000);
      /* The JSON form lists <extra_id_*> after the vocabulary; they are never produced. */
      g_assert_cmpint (ke_tokenizer_n_pieces (b), ==, ke_tokenizer_n_pieces (a) + 5);
      ke_tokenizer_free (a);
      ke_tokenizer_free (b);
      g_free (model);
      g_free (json);
      g_free (ids);
    }
  g_free (lines);
  g_free (script);
  g_free (conv);
  g_free (dir);
}

/* --- the real Pegasus tokenizer.json -------------------------------------------------------- */

static ke_tokenizer_t *pegasus;

static ke_tokenizer_t *
get_pegasus (void)
{
  if (pegasus)
    return pegasus;
  char *path = test_fixture_path ("tokenizers/pegasus.tokenizer.json");
  struct timespec t0, t1;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  pegasus = open_ok (path);
  clock_gettime (CLOCK_MONOTONIC, &t1);
  double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
  g_test_message ("loaded %s (3.5 MB, %d pieces) in %.1f ms", path, ke_tokenizer_n_pieces (pegasus), ms);
  /* Generous bound (sanitizer builds are several times slower); a release build takes ~0.1 s. */
  g_assert_cmpfloat (ms, <, 3000.0);
  g_free (path);
  return pegasus;
}

/* Best total score of any segmentation of s into pieces, by exhaustive dynamic programming in
 * double over the vocabulary (an independent check of the Viterbi search); -INFINITY if none. */
static double
best_score (const struct ke_tokenizer *tok, GHashTable *vocab, const char *s)
{
  size_t n = strlen (s);
  double *best = g_new (double, n + 1);
  best[0] = 0;
  for (size_t e = 1; e <= n; e++)
    {
      best[e] = -INFINITY;
      for (size_t b = 0; b < e; b++)
        {
          if (best[b] == -INFINITY)
            continue;
          char *sub = g_strndup (s + b, e - b);
          gpointer v = g_hash_table_lookup (vocab, sub);
          g_free (sub);
          if (v)
            {
              int id = GPOINTER_TO_INT (v) - 1;
              double sc = best[b] + tok->pieces[id].score;
              if (sc > best[e])
                best[e] = sc;
            }
        }
    }
  double r = best[n];
  g_free (best);
  return r;
}

static void
test_pegasus (void)
{
  ke_tokenizer_t *tok = get_pegasus ();
  g_assert_cmpint (ke_tokenizer_n_pieces (tok), ==, 96103);
  g_assert_cmpint (ke_tokenizer_unk_id (tok), ==, 105);
  g_assert_cmpint (ke_tokenizer_eos_id (tok), ==, 1);
  g_assert_cmpstr (ke_tokenizer_piece (tok, 1), ==, "</s>");
  g_assert_cmpstr (ke_tokenizer_piece (tok, 0), ==, "<pad>");
  g_assert_null (ke_tokenizer_piece (tok, 96103));
  g_assert_null (ke_tokenizer_piece (tok, -1));

  /* A common word is one piece "▁word" when the vocabulary has it. */
  char *hello = raw_ids_str (tok, "Hello");
  g_assert_cmpint (atoi (hello), >, 105);
  g_assert_cmpstr (ke_tokenizer_piece (tok, atoi (hello)), ==, "\xe2\x96\x81Hello");
  /* Full-width letters fold to ASCII (NFKC charsmap); spaces are squeezed and trimmed. */
  char *wide = raw_ids_str (tok, "\xef\xbc\xa8\xef\xbd\x85\xef\xbd\x8c\xef\xbd\x8c\xef\xbd\x8f");
  g_assert_cmpstr (wide, ==, hello);
  char *a = raw_ids_str (tok, "Hello world");
  char *b = raw_ids_str (tok, "   Hello \t  world   ");
  g_assert_cmpstr (a, ==, b);
  /* Special tokens in text are plain text to SentencePiece, never the control id. */
  int32_t ids[64];
  int n = 0;
  g_assert_cmpint (ke_tokenizer_encode (tok, "</s><pad>", ids, 64, &n, KE_TOKENIZE_RAW, NULL), ==, KE_STATUS_OK);
  for (int i = 0; i < n; i++)
    g_assert_true (ids[i] != 1 && ids[i] != 0);
  /* Unknown characters: a run becomes a single <unk>. */
  g_assert_cmpint (ke_tokenizer_encode (tok, "x \xea\x99\xae\xea\x99\xae\xea\x99\xae y", ids, 64, &n,
                                        KE_TOKENIZE_RAW, NULL), ==, KE_STATUS_OK);
  int n_unk = 0;
  for (int i = 0; i < n; i++)
    n_unk += ids[i] == 105;
  g_assert_cmpint (n_unk, ==, 1);
  /* Prompt mode: cleaned, EOS appended. */
  g_assert_cmpint (ke_tokenizer_encode (tok, " Hello&amp;amp;  world ", ids, 64, &n, KE_TOKENIZE_PROMPT, NULL),
                   ==, KE_STATUS_OK);
  char *c = raw_ids_str (tok, "Hello& world");
  GString *p = g_string_new (NULL);
  for (int i = 0; i < n; i++)
    g_string_append_printf (p, i ? " %d" : "%d", ids[i]);
  g_string_append (p, "");
  char *want = g_strdup_printf ("%s 1", c);
  g_assert_cmpstr (p->str, ==, want);
  g_string_free (p, TRUE);
  g_free (want);
  g_free (c);
  g_free (hello);
  g_free (wide);
  g_free (a);
  g_free (b);
}

static void
test_pegasus_viterbi (void)
{
  ke_tokenizer_t *tok = get_pegasus ();
  GHashTable *vocab = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (int id = 0; id < tok->n_pieces; id++)
    if (tok->pieces[id].type == KE_PIECE_NORMAL)
      g_hash_table_insert (vocab, g_strdup (ke_tokenizer_piece (tok, id)), GINT_TO_POINTER (id + 1));
  const char *texts[] = {
    "Hello world", "The quick brown fox jumps over the lazy dog.", "unbelievably", "internationalization",
    "cafe resume", "Reuters reported on Tuesday that shares fell 3.5%",
    "antidisestablishmentarianism", "summarisation summarization", "ZXQWV", "12345678",
    "Strasse Munich", "e-mail: someone@example.org",
  };
  for (guint k = 0; k < G_N_ELEMENTS (texts); k++)
    {
      size_t norm_len;
      char *norm = ke_tok_normalize (tok, texts[k], strlen (texts[k]), &norm_len);
      int32_t ids[256];
      int n = 0;
      g_assert_cmpint (ke_tokenizer_encode (tok, texts[k], ids, 256, &n, KE_TOKENIZE_RAW, NULL), ==, KE_STATUS_OK);
      /* Round trip: the pieces spell the normalised text. */
      GString *spelt = g_string_new (NULL);
      double ours = 0;
      for (int i = 0; i < n; i++)
        {
          g_assert_true (ids[i] != tok->unk_id);
          g_string_append (spelt, ke_tokenizer_piece (tok, ids[i]));
          ours += tok->pieces[ids[i]].score;
        }
      g_assert_cmpstr (spelt->str, ==, norm);
      /* Scores are float32 summed in float/double by SentencePiece: 1e-4 covers the rounding of
       * a few dozen additions of values below 20. */
      double ref = best_score (tok, vocab, norm);
      g_test_message ("%s: %d pieces, score %.6f, exhaustive best %.6f", texts[k], n, ours, ref);
      g_assert_cmpfloat (fabs (ours - ref), <=, 1e-4);
      g_string_free (spelt, TRUE);
      free (norm);
    }
  g_hash_table_unref (vocab);
}

/* --- prompt cleaning and the API --------------------------------------------------------------- */

static void
test_clean (void)
{
  const char *cases[][2] = {
    { "a&amp;amp;b", "a&b" },
    { "&lt;b&gt;bold&lt;/b&gt;", "<b>bold</b>" },
    { "&#x4F60;&#22909;", "\xe4\xbd\xa0\xe5\xa5\xbd" },
    { "&eacute;t&eacute;", "\xc3\xa9t\xc3\xa9" },
    { "&notit;", "\xc2\xacit;" },
    { "&#128;", "\xe2\x82\xac" },
    { "&#0;", "\xef\xbf\xbd" },
    { "&amp", "&" },
    { "&ampx", "&x" },
    { "&unknown;", "&unknown;" },
    { "&#xZZ", "&#xZZ" },
    { "&#99999999999;", "\xef\xbf\xbd" },
    { "&AMP;&Amp;", "&&Amp;" },
    { "&#65&#66", "AB" },
    { "&amp;#65;", "A" },
    { "\xe2\x80\x9c" "curly" "\xe2\x80\x9d \xe2\x80\x98single\xe2\x80\x99", "\"curly\" 'single'" },
    { "\xef\xac\x81ne \xef\xac\x82ow", "fine flow" },
    { "\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3\xe3\x80\x80\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93", "ABC 123" },
    { "a\x01" "b\x1b[31mc\x7f", "abc" },
    { "  multiple \t\n spaces\xe3\x80\x80here  ", "multiple spaces here" },
    { "\xc2\xa0x\xe2\x80\xa8y\r\nz", "x y z" },
    { "\xef\xbb\xbfzero\xe2\x81\xaawidth", "zerowidth" },
    { "", "" },
    { " \t ", "" },
    { "\xff\xfe bad", "\xef\xbf\xbd\xef\xbf\xbd bad" },
    /* ftfy unescapes "&name;" forms until nothing changes, unless the line holds a '<' (then
     * only the two html.unescape passes apply); it also knows upper-cased names. */
    { "&amp;amp;amp;amp;", "&" },
    { "<b>&amp;amp;amp;</b>", "<b>&amp;</b>" },
    { "&lt;i&gt; &amp;lt;", "<i> <" },
    { "x\n<y> &amp;amp;amp;", "x <y> &amp;" },
    { "&EACUTE;t&EACUTE;", "\xc3\x89t\xc3\x89" },
    { "&#59;&#x3B;", ";;" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      size_t n;
      char *got = ke_tok_clean_prompt (cases[i][0], strlen (cases[i][0]), &n);
      g_assert_nonnull (got);
      g_assert_cmpstr (got, ==, cases[i][1]);
      g_assert_cmpuint (n, ==, strlen (cases[i][1]));
      free (got);
    }
}

static void
test_prompt_truncation (void)
{
  char *model = te_path ("data/spm-b.model");
  ke_tokenizer_t *tok = open_ok (model);
  GString *text = g_string_new (NULL);
  for (int i = 0; i < 400; i++)
    g_string_append (text, "A red fox runs through fresh snow. ");
  int total = 0;
  g_assert_cmpint (ke_tokenizer_encode (tok, text->str, NULL, 0, &total, KE_TOKENIZE_RAW, NULL), ==, KE_STATUS_OK);
  g_assert_cmpint (total, >, 1000);
  int32_t *raw = g_new (int32_t, total);
  int32_t ids[512];
  int n = 0, m = 0;
  g_assert_cmpint (ke_tokenizer_encode (tok, text->str, raw, total, &m, KE_TOKENIZE_RAW, NULL), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_tokenizer_encode (tok, text->str, ids, 512, &n, KE_TOKENIZE_PROMPT, NULL), ==, KE_STATUS_OK);
  /* text_len 512: 511 pieces, then EOS. */
  g_assert_cmpint (n, ==, 512);
  g_assert_cmpint (ids[511], ==, ke_tokenizer_eos_id (tok));
  g_assert_cmpmem (ids, 511 * sizeof (int32_t), raw, 511 * sizeof (int32_t));
  /* A short prompt: all pieces and EOS; an empty prompt is EOS alone. */
  g_assert_cmpint (ke_tokenizer_encode (tok, "A red fox", ids, 512, &n, KE_TOKENIZE_PROMPT, NULL), ==, KE_STATUS_OK);
  g_assert_cmpint (ids[n - 1], ==, ke_tokenizer_eos_id (tok));
  g_assert_cmpint (n, >=, 2);
  g_assert_cmpint (ke_tokenizer_encode (tok, "  &nbsp; ", ids, 512, &n, KE_TOKENIZE_PROMPT, NULL), ==, KE_STATUS_OK);
  g_assert_cmpint (n, ==, 1);
  g_assert_cmpint (ids[0], ==, ke_tokenizer_eos_id (tok));
  /* Special tokens written in a prompt are taken whole, as the pipeline's tokenizer does; the
   * text around them is segmented piece by piece. */
  g_assert_cmpint (ke_tokenizer_encode (tok, "A red fox</s>snow <unk>", ids, 512, &n, KE_TOKENIZE_PROMPT, NULL), ==,
                   KE_STATUS_OK);
  char *fox = raw_ids_str (tok, "A red fox");
  char *snow = raw_ids_str (tok, "snow");
  GString *got = g_string_new (NULL);
  for (int i = 0; i < n; i++)
    g_string_append_printf (got, i ? " %d" : "%d", ids[i]);
  char *want = g_strdup_printf ("%s 2 %s 0 2", fox, snow);   /* spm-b: <unk> 0, </s> 2 */
  g_assert_cmpstr (got->str, ==, want);
  g_string_free (got, TRUE);
  g_free (want);
  g_free (fox);
  g_free (snow);
  /* Raw mode reports the full count when the buffer is short. */
  g_assert_cmpint (ke_tokenizer_encode (tok, text->str, ids, 10, &n, KE_TOKENIZE_RAW, NULL), ==, KE_STATUS_OK);
  g_assert_cmpint (n, ==, total);
  g_assert_cmpmem (ids, 10 * sizeof (int32_t), raw, 10 * sizeof (int32_t));
  g_free (raw);
  g_string_free (text, TRUE);
  ke_tokenizer_free (tok);
  g_free (model);
}

static void
test_api (void)
{
  struct ke_error err = { 0 };
  ke_tokenizer_t *tok = NULL;
  g_assert_cmpint (ke_tokenizer_open (&tok, "/nonexistent/spiece.model", &err), ==, KE_STATUS_IO);
  g_assert_null (tok);
  g_assert_nonnull (strstr (err.msg, "/nonexistent/spiece.model"));

  /* A folder: spiece.model is taken; a folder with neither file is refused. */
  char *dir = test_tmp_path ("tokdir");
  char *empty = test_tmp_path ("emptydir");
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (empty, 0755), ==, 0);
  char *model = te_path ("data/spm-b.model");
  char *link = g_build_filename (dir, "spiece.model", NULL);
  unlink (link);
  g_assert_cmpint (symlink (model, link), ==, 0);
  tok = open_ok (dir);
  g_assert_cmpint (ke_tokenizer_n_pieces (tok), ==, 1200);
  err = (struct ke_error) { 0 };
  int n = 0;
  g_assert_cmpint (ke_tokenizer_encode (tok, "x", NULL, 0, &n, KE_TOKENIZE_PROMPT, &err), ==, KE_STATUS_INVALID);
  g_assert_cmpint (ke_tokenizer_encode (tok, NULL, NULL, 0, &n, KE_TOKENIZE_RAW, NULL), ==, KE_STATUS_INVALID);
  ke_tokenizer_free (tok);
  ke_tokenizer_free (NULL);
  /* With both files the folder's tokenizer.json wins (the pipeline reads that one). */
  char *json = g_build_filename (dir, "tokenizer.json", NULL);
  g_assert_true (g_file_set_contents (json, "{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,"
                                      "\"vocab\":[[\"<unk>\",0],[\"a\",-1.5]]}}", -1, NULL));
  tok = open_ok (dir);
  g_assert_cmpint (ke_tokenizer_n_pieces (tok), ==, 2);
  ke_tokenizer_free (tok);
  g_free (json);
  err = (struct ke_error) { 0 };
  g_assert_cmpint (ke_tokenizer_open (&tok, empty, &err), ==, KE_STATUS_MISSING);
  g_assert_nonnull (strstr (err.msg, empty));
  g_free (dir);
  g_free (empty);
  g_free (model);
  g_free (link);
}

/* kinora-cli tokenize --raw --file prints what spm_encode prints; prompt mode shows ids and pieces. */
static void
test_cli (void)
{
  const char *cli = g_getenv ("KINORA_CLI");
  g_assert_nonnull (cli);
  char *model = te_path ("data/spm-b.model");
  char *lines = te_path ("data/heldout.txt");
  char *ids = te_path ("data/spm-b.ids");
  char *want = NULL;
  g_assert_true (g_file_get_contents (ids, &want, NULL, NULL));
  const char *argv1[] = { cli, "tokenize", "--tokenizer", model, "--raw", "--file", lines, NULL };
  char *out = NULL, *errs = NULL;
  int status = 0;
  g_assert_true (g_spawn_sync (NULL, (char **) argv1, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &errs, &status, NULL));
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_cmpstr (out, ==, want);
  g_free (out);
  g_free (errs);
  const char *argv2[] = { cli, "tokenize", "--tokenizer", model, "A red fox &amp; snow", NULL };
  g_assert_true (g_spawn_sync (NULL, (char **) argv2, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &errs, &status, NULL));
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_test_message ("%s", out);
  g_assert_nonnull (strstr (out, "ids:"));
  g_assert_nonnull (strstr (out, " 2\n"));   /* spm-b's </s> is id 2 */
  g_assert_nonnull (strstr (out, "</s>"));
  g_free (out);
  g_free (errs);
  /* A broken path fails with the file named. */
  const char *argv3[] = { cli, "tokenize", "--tokenizer", "/nonexistent.json", "x", NULL };
  g_assert_true (g_spawn_sync (NULL, (char **) argv3, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &errs, &status, NULL));
  g_assert_false (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (errs, "/nonexistent.json"));
  g_free (out);
  g_free (errs);
  g_free (want);
  g_free (model);
  g_free (lines);
  g_free (ids);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tokenizer/oracle/committed", test_oracle_committed);
  g_test_add_func ("/tokenizer/oracle/trained", test_oracle_trained);
  g_test_add_func ("/tokenizer/pegasus/load", test_pegasus);
  g_test_add_func ("/tokenizer/pegasus/viterbi", test_pegasus_viterbi);
  g_test_add_func ("/tokenizer/clean", test_clean);
  g_test_add_func ("/tokenizer/prompt-truncation", test_prompt_truncation);
  g_test_add_func ("/tokenizer/api", test_api);
  g_test_add_func ("/tokenizer/cli", test_cli);
  int rc = g_test_run ();
  ke_tokenizer_free (pegasus);
  return rc;
}
