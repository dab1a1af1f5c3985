/* kinora-hub.h: files from a Hugging Face hub (or a mirror) over HTTP with libsoup 3.
 *
 * URLs follow the hub: ENDPOINT/OWNER/NAME/resolve/REVISION/PATH. Redirects are followed by hand (at
 * most ten hops) so that the X-Linked-Size and X-Linked-Etag headers (the LFS object's size and
 * SHA-256) of the first answer are kept, and so that the token never leaves the endpoint's host.
 * A download writes DEST.partial, resumes it with a Range request after a dropped connection, a
 * cancel or a restart, hashes (SHA-256) while writing, and renames it to DEST only once the digest
 * matches. No GTK: the CLI and the app share it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define KINORA_HUB_DEFAULT_ENDPOINT "https://huggingface.co"

typedef struct
{
  guint64  done;      /* bytes in DEST.partial, resumed ones included */
  guint64  total;     /* 0 while unknown */
  double   rate;      /* bytes per second over this transfer, 0 at first */
  double   eta_s;     /* seconds left, < 0 while unknown */
  guint64  resumed_from; /* the Range start of this transfer, 0 without one */
} KinoraHubProgress;

/* Called from the thread that downloads, at most about ten times a second and once at the end. */
typedef void (*KinoraHubProgressFunc) (const KinoraHubProgress *progress,
                                       gpointer                 user_data);

typedef struct
{
  const char *endpoint;  /* NULL: kinora_hub_dup_endpoint () */
  const char *token;     /* a Bearer token, NULL for none */
  const char *repo;      /* OWNER/NAME */
  const char *revision;  /* NULL: "main" */
  const char *path;      /* the file inside the repository */
  const char *dest;      /* where the verified file goes */
  const char *sha256;    /* the expected digest (64 hex digits), NULL: the server's X-Linked-Etag */
  guint64     size;      /* the expected size, 0 when unknown */
} KinoraHubFile;

/* HF_ENDPOINT without a trailing slash, else the hub. */
char     *kinora_hub_dup_endpoint (void);
/* HF_TOKEN, else the token file huggingface_hub writes ($HF_TOKEN_PATH, $HF_HOME/token,
 * ~/.cache/huggingface/token), else NULL. */
char     *kinora_hub_dup_token    (void);
/* ENDPOINT/REPO/resolve/REVISION/PATH with each segment escaped; NULL for a repo or path that is
 * not relative (empty, "..", a leading "/"). */
char     *kinora_hub_url          (const char *endpoint,
                                   const char *repo,
                                   const char *revision,
                                   const char *path);
/* TRUE when REPO is OWNER/NAME and PATH is a plain relative path (no "..", no empty segment). */
gboolean  kinora_hub_check_names  (const char *repo,
                                   const char *path,
                                   GError    **error);

/* Download one file. Errors: G_IO_ERROR_NOT_FOUND (404), G_IO_ERROR_PERMISSION_DENIED (401/403),
 * G_IO_ERROR_NO_SPACE (not enough room, or a write failed for lack of it), G_IO_ERROR_INVALID_DATA
 * (digest or size mismatch: the partial file is removed), G_IO_ERROR_CANCELLED (the partial file is
 * kept for a resume), G_IO_ERROR_FAILED otherwise; each names the file and the problem. A DEST that
 * already exists is left alone and counts as done. */
gboolean  kinora_hub_download     (const KinoraHubFile   *file,
                                   KinoraHubProgressFunc  progress,
                                   gpointer               user_data,
                                   GCancellable          *cancellable,
                                   GError               **error);

/* The hex SHA-256 of a file, reading it in chunks. */
char     *kinora_hub_file_sha256  (const char    *path,
                                   GCancellable  *cancellable,
                                   GError       **error);
/* The digest learned when FILE was downloaded (stored beside it as .FILE.sha256), or NULL. */
char     *kinora_hub_dup_recorded_sha256 (const char *path);

G_END_DECLS
