/* kinora-hub.c: hub downloads with libsoup 3: resolve, redirects, Range resume, SHA-256, rename.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <errno.h>
#include <string.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "kinora-hub.h"

#define MAX_HOPS      10   /* redirects of one request */
#define MAX_ATTEMPTS  6    /* transfers of one file: the first, resumes, one restart from zero */
#define CHUNK         (256 * 1024)
#define IDLE_TIMEOUT  60   /* seconds without a byte before a transfer counts as dropped */

char *
kinora_hub_dup_endpoint (void)
{
  const char *e = g_getenv ("HF_ENDPOINT");
  g_autofree char *s = g_strdup (e && *e ? e : KINORA_HUB_DEFAULT_ENDPOINT);
  gsize n = strlen (s);
  while (n > 0 && s[n - 1] == '/')
    s[--n] = '\0';
  return g_steal_pointer (&s);
}

static char *
read_token_file (const char *path)
{
  g_autofree char *text = NULL;
  if (path == NULL || !g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  g_strstrip (text);
  return *text ? g_steal_pointer (&text) : NULL;
}

char *
kinora_hub_dup_token (void)
{
  const char *t = g_getenv ("HF_TOKEN");
  if (t && *t)
    return g_strstrip (g_strdup (t));
  char *tok = read_token_file (g_getenv ("HF_TOKEN_PATH"));
  if (tok)
    return tok;
  const char *home = g_getenv ("HF_HOME");
  g_autofree char *path = home && *home ? g_build_filename (home, "token", NULL)
                                        : g_build_filename (g_get_home_dir (), ".cache", "huggingface", "token", NULL);
  return read_token_file (path);
}

static gboolean
plain_relative (const char *path,
                int         max_segments)
{
  if (path == NULL || *path == '\0' || *path == '/')
    return FALSE;
  g_auto (GStrv) parts = g_strsplit (path, "/", -1);
  int n = (int) g_strv_length (parts);
  if (max_segments > 0 && n != max_segments)
    return FALSE;
  for (int i = 0; i < n; i++)
    if (*parts[i] == '\0' || strcmp (parts[i], ".") == 0 || strcmp (parts[i], "..") == 0 || strchr (parts[i], '\\'))
      return FALSE;
  return TRUE;
}

gboolean
kinora_hub_check_names (const char *repo,
                        const char *path,
                        GError    **error)
{
  if (!plain_relative (repo, 2))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "repository '%s': use OWNER/NAME",
                   repo ? repo : "");
      return FALSE;
    }
  if (!plain_relative (path, 0))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "file '%s' in %s: use a relative path without '..' or empty parts", path ? path : "", repo);
      return FALSE;
    }
  return TRUE;
}

static void
append_escaped_path (GString    *s,
                     const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, "/", -1);
  for (int i = 0; parts[i]; i++)
    {
      g_autofree char *e = g_uri_escape_string (parts[i], NULL, FALSE);
      g_string_append_c (s, '/');
      g_string_append (s, e);
    }
}

char *
kinora_hub_url (const char *endpoint,
                const char *repo,
                const char *revision,
                const char *path)
{
  if (!kinora_hub_check_names (repo, path, NULL))
    return NULL;
  GString *s = g_string_new (endpoint);
  while (s->len > 0 && s->str[s->len - 1] == '/')
    g_string_truncate (s, s->len - 1);
  append_escaped_path (s, repo);
  g_string_append (s, "/resolve/");
  g_autofree char *rev = g_uri_escape_string (revision && *revision ? revision : "main", NULL, FALSE);
  g_string_append (s, rev);
  append_escaped_path (s, path);
  return g_string_free (s, FALSE);
}

char *
kinora_hub_file_sha256 (const char    *path,
                        GCancellable  *cancellable,
                        GError       **error)
{
  g_autoptr (GFile) f = g_file_new_for_path (path);
  g_autoptr (GFileInputStream) in = g_file_read (f, cancellable, error);
  if (in == NULL)
    return NULL;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guchar *buf = g_malloc (CHUNK);
  for (;;)
    {
      gssize n = g_input_stream_read (G_INPUT_STREAM (in), buf, CHUNK, cancellable, error);
      if (n < 0)
        {
          g_prefix_error (error, "%s: ", path);
          return NULL;
        }
      if (n == 0)
        break;
      g_checksum_update (sum, buf, n);
    }
  return g_strdup (g_checksum_get_string (sum));
}

static char *
digest_record_path (const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *name = g_strdup_printf (".%s.sha256", base);
  return g_build_filename (dir, name, NULL);
}

char *
kinora_hub_dup_recorded_sha256 (const char *path)
{
  g_autofree char *rec = digest_record_path (path);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (rec, &text, NULL, NULL))
    return NULL;
  g_strstrip (text);
  return strlen (text) == 64 ? g_steal_pointer (&text) : NULL;
}

/* A digest from an ETag: the LFS SHA-256 when the value is 64 hex digits (quotes and W/ dropped). */
static char *
sha256_from_etag (const char *etag)
{
  if (etag == NULL)
    return NULL;
  if (g_str_has_prefix (etag, "W/"))
    etag += 2;
  g_autofree char *s = g_strdup (etag);
  g_strstrip (s);
  gsize n = strlen (s);
  if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
    {
      memmove (s, s + 1, n - 2);
      s[n - 2] = '\0';
      n -= 2;
    }
  if (n != 64)
    return NULL;
  for (gsize i = 0; i < n; i++)
    {
      if (!g_ascii_isxdigit (s[i]))
        return NULL;
      s[i] = g_ascii_tolower (s[i]);
    }
  return g_steal_pointer (&s);
}

typedef struct
{
  const KinoraHubFile *file;
  const char          *partial;
  char                *url;       /* the resolve URL */
  char                *token;
  /* what the answers said */
  char                *linked_sha256;
  guint64              linked_size;
} Job;

static gboolean
same_host (GUri *a,
           GUri *b)
{
  return g_strcmp0 (g_uri_get_scheme (a), g_uri_get_scheme (b)) == 0 &&
         g_ascii_strcasecmp (g_uri_get_host (a) ? g_uri_get_host (a) : "", g_uri_get_host (b) ? g_uri_get_host (b) : "") == 0 &&
         g_uri_get_port (a) == g_uri_get_port (b);
}

static gboolean
check_space (const char   *partial,
             guint64       need,
             GCancellable *cancellable,
             GError      **error)
{
  g_autofree char *dir = g_path_get_dirname (partial);
  g_autoptr (GFile) d = g_file_new_for_path (dir);
  g_autoptr (GFileInfo) info = g_file_query_filesystem_info (d, G_FILE_ATTRIBUTE_FILESYSTEM_FREE, cancellable, NULL);
  if (info == NULL || !g_file_info_has_attribute (info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE))
    return TRUE;  /* unknown: the writes will tell */
  guint64 free_bytes = g_file_info_get_attribute_uint64 (info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE);
  if (free_bytes < need)
    {
      g_autofree char *n = g_format_size (need), *f = g_format_size (free_bytes);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "%s: needs %s more but %s has only %s free", partial, n,
                   dir, f);
      return FALSE;
    }
  return TRUE;
}

/* Send GET (with Range from OFFSET when > 0), following redirects; returns the body stream of the
 * final answer and that message in *msg_out. */
static GInputStream *
send_request (SoupSession   *session,
              Job           *job,
              guint64        offset,
              SoupMessage  **msg_out,
              GCancellable  *cancellable,
              GError       **error)
{
  g_autoptr (GUri) origin = g_uri_parse (job->url, SOUP_HTTP_URI_FLAGS, error);
  if (origin == NULL)
    {
      g_prefix_error (error, "%s: ", job->url);
      return NULL;
    }
  g_autoptr (GUri) uri = g_uri_ref (origin);
  for (int hop = 0; hop <= MAX_HOPS; hop++)
    {
      g_autoptr (SoupMessage) msg = soup_message_new_from_uri (SOUP_METHOD_GET, uri);
      soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
      SoupMessageHeaders *h = soup_message_get_request_headers (msg);
      soup_message_headers_replace (h, "Accept-Encoding", "identity");
      if (job->token && same_host (uri, origin))
        {
          g_autofree char *auth = g_strdup_printf ("Bearer %s", job->token);
          soup_message_headers_replace (h, "Authorization", auth);
        }
      if (offset > 0)
        soup_message_headers_set_range (h, (goffset) offset, -1);
      GInputStream *body = soup_session_send (session, msg, cancellable, error);
      if (body == NULL)
        {
          g_prefix_error (error, "%s: ", job->url);
          return NULL;
        }
      SoupMessageHeaders *rh = soup_message_get_response_headers (msg);
      const char *lsize = soup_message_headers_get_one (rh, "X-Linked-Size");
      const char *letag = soup_message_headers_get_one (rh, "X-Linked-Etag");
      if (lsize && job->linked_size == 0)
        job->linked_size = g_ascii_strtoull (lsize, NULL, 10);
      if (letag && job->linked_sha256 == NULL)
        job->linked_sha256 = sha256_from_etag (letag);
      guint status = soup_message_get_status (msg);
      const char *location = soup_message_headers_get_one (rh, "Location");
      if (SOUP_STATUS_IS_REDIRECTION (status) && location)
        {
          /* the size of an LFS file is known here: refuse before fetching a byte when it cannot fit */
          if (job->linked_size > offset && !check_space (job->partial, job->linked_size - offset, cancellable, error))
            {
              g_input_stream_close (body, NULL, NULL);
              g_object_unref (body);
              return NULL;
            }
          g_input_stream_close (body, NULL, NULL);
          g_object_unref (body);
          GUri *next = g_uri_parse_relative (uri, location, SOUP_HTTP_URI_FLAGS, error);
          if (next == NULL)
            {
              g_prefix_error (error, "%s: bad redirect: ", job->url);
              return NULL;
            }
          g_uri_unref (uri);
          uri = next;
          continue;
        }
      *msg_out = g_steal_pointer (&msg);
      return body;
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: more than %d redirects", job->url, MAX_HOPS);
  return NULL;
}

/* Hash the bytes already in the partial file; returns its length or -1. */
static gint64
hash_partial (const char   *partial,
              GChecksum    *sum,
              GCancellable *cancellable,
              GError      **error)
{
  g_autoptr (GFile) f = g_file_new_for_path (partial);
  g_autoptr (GError) local = NULL;
  g_autoptr (GFileInputStream) in = g_file_read (f, cancellable, &local);
  if (in == NULL)
    {
      if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        return 0;
      g_propagate_error (error, g_steal_pointer (&local));
      return -1;
    }
  g_autofree guchar *buf = g_malloc (CHUNK);
  gint64 total = 0;
  for (;;)
    {
      gssize n = g_input_stream_read (G_INPUT_STREAM (in), buf, CHUNK, cancellable, error);
      if (n < 0)
        return -1;
      if (n == 0)
        return total;
      g_checksum_update (sum, buf, n);
      total += n;
    }
}

typedef enum { XFER_DONE, XFER_RETRY, XFER_RESTART, XFER_FAILED } XferResult;

static void
report (KinoraHubProgressFunc cb,
        gpointer              user_data,
        guint64               done,
        guint64               total,
        guint64               start,
        gint64                t0)
{
  if (cb == NULL)
    return;
  double dt = (g_get_monotonic_time () - t0) / 1e6;
  KinoraHubProgress p = { done, total, 0, -1, start };
  if (dt > 0.05 && done > start)
    {
      p.rate = (double) (done - start) / dt;
      if (total >= done)
        p.eta_s = (double) (total - done) / p.rate;
    }
  cb (&p, user_data);
}

/* One transfer: request from the partial file's end, append, hash. */
static XferResult
transfer (SoupSession          *session,
          Job                  *job,
          KinoraHubProgressFunc cb,
          gpointer              user_data,
          GCancellable         *cancellable,
          GError              **error)
{
  const KinoraHubFile *file = job->file;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  gint64 have = hash_partial (job->partial, sum, cancellable, error);
  if (have < 0)
    return XFER_FAILED;
  guint64 offset = (guint64) have;
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GInputStream) body = send_request (session, job, offset, &msg, cancellable, error);
  if (body == NULL)
    {
      if (g_cancellable_is_cancelled (cancellable) || g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_NO_SPACE))
        return XFER_FAILED;
      return XFER_RETRY;
    }
  guint status = soup_message_get_status (msg);
  SoupMessageHeaders *rh = soup_message_get_response_headers (msg);
  const char *name = file->path;
  if (status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   job->token ? "%s from %s: the server refused the token (HTTP %u)"
                              : "%s from %s: the repository needs a token (HTTP %u): set HF_TOKEN or log in with huggingface-cli",
                   name, file->repo, status);
      return XFER_FAILED;
    }
  if (status == SOUP_STATUS_NOT_FOUND)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: not found in %s at revision %s (HTTP 404)", name,
                   file->repo, file->revision ? file->revision : "main");
      return XFER_FAILED;
    }
  if (status == SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE && offset > 0)
    return XFER_RESTART;  /* the partial file is longer than the file: start over */
  if (status != SOUP_STATUS_OK && status != SOUP_STATUS_PARTIAL_CONTENT)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s from %s: HTTP %u %s", name, file->repo, status,
                   soup_message_get_reason_phrase (msg) ? soup_message_get_reason_phrase (msg) : "");
      return XFER_FAILED;
    }
  guint64 total = job->linked_size;
  if (status == SOUP_STATUS_PARTIAL_CONTENT)
    {
      goffset start = 0, end = 0, length = 0;
      if (!soup_message_headers_get_content_range (rh, &start, &end, &length) || (guint64) start != offset)
        return XFER_RESTART;
      if (total == 0 && length > 0)
        total = (guint64) length;
    }
  else
    {
      if (offset > 0)
        {
          /* the server ignored the Range: the body is the whole file */
          g_checksum_reset (sum);
          offset = 0;
        }
      goffset len = soup_message_headers_get_content_length (rh);
      if (total == 0 && len > 0)
        total = (guint64) len;
    }
  if (file->size > 0 && total > 0 && total != file->size)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s from %s: the server has %" G_GUINT64_FORMAT " bytes, the catalog says %" G_GUINT64_FORMAT, name,
                   file->repo, total, file->size);
      return XFER_FAILED;
    }
  if (total == 0)
    total = file->size;
  if (total > 0 && !check_space (job->partial, total - MIN (total, offset), cancellable, error))
    return XFER_FAILED;

  g_autoptr (GFile) pf = g_file_new_for_path (job->partial);
  g_autoptr (GFileOutputStream) out = offset > 0
    ? g_file_append_to (pf, G_FILE_CREATE_NONE, cancellable, error)
    : g_file_replace (pf, NULL, FALSE, G_FILE_CREATE_NONE, cancellable, error);
  if (out == NULL)
    {
      g_prefix_error (error, "%s: ", job->partial);
      return XFER_FAILED;
    }
  g_autofree guchar *buf = g_malloc (CHUNK);
  guint64 done = offset;
  gint64 t0 = g_get_monotonic_time (), last = 0;
  XferResult result = XFER_DONE;
  report (cb, user_data, done, total, offset, t0);
  for (;;)
    {
      g_autoptr (GError) rerr = NULL;
      gssize n = g_input_stream_read (body, buf, CHUNK, cancellable, &rerr);
      if (n < 0)
        {
          if (g_error_matches (rerr, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            {
              g_propagate_error (error, g_steal_pointer (&rerr));
              result = XFER_FAILED;
            }
          else
            {
              g_debug ("%s: transfer dropped at %" G_GUINT64_FORMAT ": %s", name, done, rerr->message);
              result = XFER_RETRY;
            }
          break;
        }
      if (n == 0)
        {
          if (total > 0 && done < total)
            result = XFER_RETRY;  /* closed early */
          break;
        }
      if (total > 0 && done + (guint64) n > total)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s from %s: the server sent more than %" G_GUINT64_FORMAT " bytes",
                       name, file->repo, total);
          g_output_stream_close (G_OUTPUT_STREAM (out), NULL, NULL);
          g_unlink (job->partial);
          return XFER_FAILED;
        }
      gsize written = 0;
      g_autoptr (GError) werr = NULL;
      if (!g_output_stream_write_all (G_OUTPUT_STREAM (out), buf, n, &written, cancellable, &werr))
        {
          /* keep the bytes that made it: they are a correct prefix for a resume */
          g_output_stream_close (G_OUTPUT_STREAM (out), NULL, NULL);
          if (g_error_matches (werr, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_propagate_error (error, g_steal_pointer (&werr));
          else
            g_set_error (error, G_IO_ERROR,
                         g_error_matches (werr, G_IO_ERROR, G_IO_ERROR_NO_SPACE) || werr->code == G_IO_ERROR_FAILED
                           ? G_IO_ERROR_NO_SPACE : werr->code,
                         "%s: writing failed after %" G_GUINT64_FORMAT " bytes: %s", job->partial, done + written,
                         werr->message);
          return XFER_FAILED;
        }
      g_checksum_update (sum, buf, n);
      done += (guint64) n;
      gint64 now = g_get_monotonic_time ();
      if (now - last >= 100000)
        {
          report (cb, user_data, done, total, offset, t0);
          last = now;
        }
    }
  g_input_stream_close (body, NULL, NULL);
  g_autoptr (GError) cerr = NULL;
  if (!g_output_stream_close (G_OUTPUT_STREAM (out), NULL, &cerr))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "%s: writing failed: %s", job->partial, cerr->message);
      return XFER_FAILED;
    }
  if (result != XFER_DONE)
    return result;
  report (cb, user_data, done, total ? total : done, offset, t0);

  const char *want = file->sha256 ? file->sha256 : job->linked_sha256;
  const char *got = g_checksum_get_string (sum);
  if (want && g_ascii_strcasecmp (want, got) != 0)
    {
      g_unlink (job->partial);
      if (offset > 0)
        return XFER_RESTART;  /* the resumed bytes may be stale: one more try from zero */
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s from %s: SHA-256 %s does not match the expected %s; the download was removed", name, file->repo,
                   got, want);
      return XFER_FAILED;
    }
  if (g_rename (job->partial, file->dest) != 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "%s: cannot rename to %s: %s", job->partial, file->dest,
                   g_strerror (e));
      return XFER_FAILED;
    }
  /* remember the digest for `verify` (best effort: the file itself is complete) */
  g_autofree char *rec = digest_record_path (file->dest);
  g_autofree char *line = g_strdup_printf ("%s\n", got);
  g_file_set_contents (rec, line, -1, NULL);
  return XFER_DONE;
}

gboolean
kinora_hub_download (const KinoraHubFile   *file,
                     KinoraHubProgressFunc  progress,
                     gpointer               user_data,
                     GCancellable          *cancellable,
                     GError               **error)
{
  g_return_val_if_fail (file != NULL && file->dest != NULL, FALSE);
  if (!kinora_hub_check_names (file->repo, file->path, error))
    return FALSE;
  if (g_file_test (file->dest, G_FILE_TEST_EXISTS))
    return TRUE;
  g_autofree char *dir = g_path_get_dirname (file->dest);
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "%s: cannot create the folder: %s", dir, g_strerror (e));
      return FALSE;
    }
  g_autofree char *endpoint = file->endpoint ? g_strdup (file->endpoint) : kinora_hub_dup_endpoint ();
  g_autofree char *partial = g_strconcat (file->dest, ".partial", NULL);
  Job job = { file, partial, kinora_hub_url (endpoint, file->repo, file->revision, file->path),
              file->token ? g_strdup (file->token) : NULL, NULL, 0 };
  g_autoptr (SoupSession) session = soup_session_new_with_options ("user-agent", "Kinora/" KINORA_HUB_VERSION,
                                                                   "timeout", IDLE_TIMEOUT, NULL);
  soup_session_remove_feature_by_type (session, SOUP_TYPE_CONTENT_DECODER);
  gboolean ok = FALSE, restarted = FALSE;
  g_autoptr (GError) last = NULL;
  for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++)
    {
      g_clear_error (&last);
      XferResult r = transfer (session, &job, progress, user_data, cancellable, &last);
      if (r == XFER_DONE)
        {
          ok = TRUE;
          break;
        }
      if (r == XFER_FAILED || g_cancellable_is_cancelled (cancellable))
        break;
      if (r == XFER_RESTART)
        {
          if (restarted)
            {
              g_unlink (partial);
              g_clear_error (&last);
              g_set_error (&last, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "%s from %s: the file did not verify after a fresh start; the download was removed",
                           file->path, file->repo);
              break;
            }
          restarted = TRUE;
          g_unlink (partial);
        }
      /* a short pause before the resume, cancellable */
      if (attempt + 1 < MAX_ATTEMPTS && g_cancellable_is_cancelled (cancellable) == FALSE)
        g_usleep (100000 * (attempt + 1));
    }
  if (!ok)
    {
      if (g_cancellable_is_cancelled (cancellable))
        g_cancellable_set_error_if_cancelled (cancellable, error);
      else if (last)
        g_propagate_error (error, g_steal_pointer (&last));
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s from %s: the transfer kept dropping (%d tries)",
                     file->path, file->repo, MAX_ATTEMPTS);
    }
  g_free (job.url);
  g_free (job.token);
  g_free (job.linked_sha256);
  return ok;
}
