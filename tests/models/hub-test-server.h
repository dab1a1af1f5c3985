/* hub-test-server.h: a Hugging Face hub look-alike on 127.0.0.1 for the tests (SoupServer in its own
 * thread): resolve URLs that redirect to a blob path with X-Linked-Size/X-Linked-Etag, Range and 206,
 * a gated repository (Bearer token), and faults: a connection dropped mid-file, a wrong digest, a
 * server that stalls, a size too large for any disk.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  HUB_FILE_NORMAL    = 0,
  HUB_FILE_DIRECT    = 1 << 0, /* answered at the resolve URL, no redirect, no X-Linked-* (a git file) */
  HUB_FILE_GATED     = 1 << 1, /* 401 without "Authorization: Bearer <token>" */
  HUB_FILE_DROP_ONCE = 1 << 2, /* the first transfer closes the connection halfway */
  HUB_FILE_STALL     = 1 << 3, /* sends the headers and 4 KiB, then nothing */
  HUB_FILE_BAD_HASH  = 1 << 4, /* announces a digest that is not the content's */
  HUB_FILE_HUGE      = 1 << 5, /* announces X-Linked-Size of 2^60 bytes */
} HubFileFlags;

typedef struct _HubServer HubServer;

HubServer  *hub_server_new       (const char *token);
void        hub_server_free      (HubServer  *self);
/* http://127.0.0.1:PORT */
const char *hub_server_endpoint  (HubServer  *self);
/* Serve CONTENT as REPO/PATH (any revision). */
void        hub_server_add       (HubServer  *self,
                                  const char *repo,
                                  const char *path,
                                  GBytes     *content,
                                  HubFileFlags flags);
/* Requests seen for blobs, and the start of the last Range (-1 without). */
int         hub_server_n_blob_requests (HubServer *self);
gint64      hub_server_last_range      (HubServer *self);
/* Deterministic bytes. */
GBytes     *hub_test_bytes       (gsize       size,
                                  guint32     seed);
char       *hub_test_sha256      (GBytes     *bytes);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubServer, hub_server_free)

G_END_DECLS
