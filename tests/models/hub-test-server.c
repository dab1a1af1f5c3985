/* hub-test-server.c: the loopback hub of the tests (see hub-test-server.h).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>
#include <libsoup/soup.h>

#include "hub-test-server.h"

typedef struct
{
  char        *key;    /* REPO/PATH */
  GBytes      *content;
  char        *sha256;
  HubFileFlags flags;
  gboolean     dropped;
} HubFile;

struct _HubServer
{
  GThread      *thread;
  GMainContext *context;
  GMainLoop    *loop;
  SoupServer   *server;
  char         *endpoint;
  char         *token;
  GMutex        lock;
  GCond         ready;
  gboolean      started;
  GHashTable   *files;     /* key -> HubFile */
  GPtrArray    *stalled;   /* GIOStream kept open */
  int           n_blob_requests;
  gint64        last_range;
};

GBytes *
hub_test_bytes (gsize   size,
                guint32 seed)
{
  guint8 *d = g_malloc (size);
  guint32 x = seed * 2654435761u + 1;
  for (gsize i = 0; i < size; i++)
    {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      d[i] = (guint8) x;
    }
  return g_bytes_new_take (d, size);
}

char *
hub_test_sha256 (GBytes *bytes)
{
  return g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);
}

static void
hub_file_free (gpointer p)
{
  HubFile *f = p;
  g_free (f->key);
  g_bytes_unref (f->content);
  g_free (f->sha256);
  g_free (f);
}

static void
write_raw (SoupServerMessage *msg,
           const char        *head,
           const guint8      *data,
           gsize              len,
           GPtrArray         *keep)
{
  GIOStream *io = soup_server_message_steal_connection (msg);
  GOutputStream *out = g_io_stream_get_output_stream (io);
  g_output_stream_write_all (out, head, strlen (head), NULL, NULL, NULL);
  g_output_stream_write_all (out, data, len, NULL, NULL, NULL);
  g_output_stream_flush (out, NULL, NULL);
  if (keep)
    g_ptr_array_add (keep, io);
  else
    {
      g_io_stream_close (io, NULL, NULL);
      g_object_unref (io);
    }
}

static void
serve_blob (HubServer         *self,
            SoupServerMessage *msg,
            HubFile           *f)
{
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (f->content, &size);
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *resp = soup_server_message_get_response_headers (msg);
  SoupRange *ranges = NULL;
  int n_ranges = 0;
  gint64 start = -1;

  if (soup_message_headers_get_ranges (req, (goffset) size, &ranges, &n_ranges) && n_ranges == 1)
    start = ranges[0].start;
  soup_message_headers_free_ranges (req, ranges);
  g_mutex_lock (&self->lock);
  self->n_blob_requests++;
  self->last_range = start;
  gboolean drop = (f->flags & HUB_FILE_DROP_ONCE) && !f->dropped;
  f->dropped = f->dropped || drop;
  g_mutex_unlock (&self->lock);

  if (f->flags & HUB_FILE_STALL)
    {
      g_autofree char *head = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n\r\n", size);
      write_raw (msg, head, data, MIN (size, 4096), self->stalled);
      return;
    }
  if (drop)
    {
      g_autofree char *head = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Length: %" G_GSIZE_FORMAT
                                               "\r\nConnection: close\r\n\r\n", size);
      write_raw (msg, head, data, size / 2, NULL);
      return;
    }
  if (start >= 0 && (gsize) start >= size)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE, NULL);
      return;
    }
  if (start > 0)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_PARTIAL_CONTENT, NULL);
      soup_message_headers_set_content_range (resp, start, (goffset) size - 1, (goffset) size);
      soup_server_message_set_response (msg, "application/octet-stream", SOUP_MEMORY_COPY, (const char *) data + start,
                                        size - (gsize) start);
      return;
    }
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/octet-stream", SOUP_MEMORY_COPY, (const char *) data, size);
}

static void
handler (SoupServer        *server,
         SoupServerMessage *msg,
         const char        *path,
         GHashTable        *query,
         gpointer           user_data)
{
  HubServer *self = user_data;
  SoupMessageHeaders *resp = soup_server_message_get_response_headers (msg);
  g_autofree char *upath = g_uri_unescape_string (path, NULL);
  HubFile *f = NULL;

  if (upath && g_str_has_prefix (upath, "/blob/"))
    {
      f = g_hash_table_lookup (self->files, upath + strlen ("/blob/"));
      if (f == NULL)
        soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
      else
        serve_blob (self, msg, f);
      return;
    }
  /* /OWNER/NAME/resolve/REV/PATH */
  const char *r = upath ? strstr (upath, "/resolve/") : NULL;
  const char *rest = r ? strchr (r + strlen ("/resolve/"), '/') : NULL;
  if (r && rest)
    {
      g_autofree char *repo = g_strndup (upath + 1, r - upath - 1);
      g_autofree char *key = g_strdup_printf ("%s/%s", repo, rest + 1);
      f = g_hash_table_lookup (self->files, key);
    }
  if (f == NULL)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
      return;
    }
  if (f->flags & HUB_FILE_GATED)
    {
      const char *auth = soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Authorization");
      g_autofree char *want = g_strdup_printf ("Bearer %s", self->token ? self->token : "");
      if (self->token == NULL || g_strcmp0 (auth, want) != 0)
        {
          soup_server_message_set_status (msg, SOUP_STATUS_UNAUTHORIZED, NULL);
          return;
        }
    }
  if (f->flags & HUB_FILE_DIRECT)
    {
      serve_blob (self, msg, f);
      return;
    }
  gsize size = g_bytes_get_size (f->content);
  g_autofree char *lsize = g_strdup_printf ("%" G_GUINT64_FORMAT, (f->flags & HUB_FILE_HUGE) ? (G_GUINT64_CONSTANT (1) << 60) : (guint64) size);
  g_autofree char *etag = g_strdup_printf ("\"%s\"", (f->flags & HUB_FILE_BAD_HASH)
                                                       ? "0000000000000000000000000000000000000000000000000000000000000000"
                                                       : f->sha256);
  g_autofree char *esc = g_uri_escape_string (f->key, "/", FALSE);
  g_autofree char *location = g_strdup_printf ("/blob/%s", esc);
  soup_message_headers_replace (resp, "X-Linked-Size", lsize);
  soup_message_headers_replace (resp, "X-Linked-Etag", etag);
  soup_server_message_set_redirect (msg, SOUP_STATUS_FOUND, location);
}

static gpointer
server_thread (gpointer data)
{
  HubServer *self = data;
  g_main_context_push_thread_default (self->context);
  self->server = soup_server_new ("server-header", "kinora-test-hub", NULL);
  soup_server_add_handler (self->server, NULL, handler, self, NULL);
  g_autoptr (GError) error = NULL;
  if (!soup_server_listen_local (self->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error))
    g_error ("cannot listen on 127.0.0.1: %s", error->message);
  GSList *uris = soup_server_get_uris (self->server);
  GUri *u = uris->data;
  g_mutex_lock (&self->lock);
  self->endpoint = g_strdup_printf ("http://127.0.0.1:%d", g_uri_get_port (u));
  self->started = TRUE;
  g_cond_signal (&self->ready);
  g_mutex_unlock (&self->lock);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  g_main_loop_run (self->loop);
  soup_server_disconnect (self->server);
  g_clear_object (&self->server);
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

HubServer *
hub_server_new (const char *token)
{
  HubServer *self = g_new0 (HubServer, 1);
  g_mutex_init (&self->lock);
  g_cond_init (&self->ready);
  self->token = g_strdup (token);
  self->files = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, hub_file_free);
  self->stalled = g_ptr_array_new_with_free_func (g_object_unref);
  self->last_range = -1;
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  self->thread = g_thread_new ("hub-server", server_thread, self);
  gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  g_mutex_lock (&self->lock);
  while (!self->started)
    if (!g_cond_wait_until (&self->ready, &self->lock, deadline))
      g_error ("the test server did not start in 10 s");
  g_mutex_unlock (&self->lock);
  return self;
}

static gboolean
quit_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

void
hub_server_free (HubServer *self)
{
  if (self == NULL)
    return;
  g_main_context_invoke (self->context, quit_cb, self->loop);
  g_thread_join (self->thread);
  for (guint i = 0; i < self->stalled->len; i++)
    g_io_stream_close (g_ptr_array_index (self->stalled, i), NULL, NULL);
  g_ptr_array_unref (self->stalled);
  g_main_loop_unref (self->loop);
  g_main_context_unref (self->context);
  g_hash_table_unref (self->files);
  g_free (self->endpoint);
  g_free (self->token);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->ready);
  g_free (self);
}

const char *
hub_server_endpoint (HubServer *self)
{
  return self->endpoint;
}

void
hub_server_add (HubServer   *self,
                const char  *repo,
                const char  *path,
                GBytes      *content,
                HubFileFlags flags)
{
  HubFile *f = g_new0 (HubFile, 1);
  f->key = g_strdup_printf ("%s/%s", repo, path);
  f->content = g_bytes_ref (content);
  f->sha256 = hub_test_sha256 (content);
  f->flags = flags;
  g_mutex_lock (&self->lock);
  g_hash_table_replace (self->files, f->key, f);
  g_mutex_unlock (&self->lock);
}

int
hub_server_n_blob_requests (HubServer *self)
{
  g_mutex_lock (&self->lock);
  int n = self->n_blob_requests;
  g_mutex_unlock (&self->lock);
  return n;
}

gint64
hub_server_last_range (HubServer *self)
{
  g_mutex_lock (&self->lock);
  gint64 r = self->last_range;
  g_mutex_unlock (&self->lock);
  return r;
}
