/* kinora-models-dialog.c: the model page: catalog entries, install state, downloads.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "kinora-catalog.h"
#include "kinora-hub.h"
#include "kinora-models-dialog.h"
#include "kinora-window-private.h"

/* One catalog entry's row and its download. */
typedef struct
{
  KinoraModelsDialog       *dialog;   /* borrowed */
  const KinoraCatalogEntry *entry;    /* borrowed from dialog->catalog */
  AdwActionRow             *row;
  GtkStack                 *stack;    /* "download", "progress", "installed" */
  GtkWidget                *download_button;
  GtkWidget                *cancel_button;
  GtkProgressBar           *progress;
  GCancellable             *cancellable;
  KinoraModelState          state;
  char                     *error;
  guint64                   done;
} Row;

struct _KinoraModelsDialog
{
  AdwWindow        parent_instance;

  /* Template widgets */
  AdwToastOverlay *toast_overlay;
  GtkLabel        *folder_label;
  GtkListBox      *list_box;

  /* Owned references */
  KinoraCatalog   *catalog;
  char            *models_dir;
  GPtrArray       *rows;       /* Row */
};

G_DEFINE_FINAL_TYPE (KinoraModelsDialog, kinora_models_dialog, ADW_TYPE_WINDOW)

static void
row_free (gpointer data)
{
  Row *r = data;
  if (r->cancellable)
    g_cancellable_cancel (r->cancellable);
  g_clear_object (&r->cancellable);
  g_free (r->error);
  g_free (r);
}

static Row *
find_row (KinoraModelsDialog *self,
          const char         *name)
{
  for (guint i = 0; self->rows && i < self->rows->len; i++)
    {
      Row *r = g_ptr_array_index (self->rows, i);
      if (g_strcmp0 (r->entry->name, name) == 0)
        return r;
    }
  return NULL;
}

static void
update_row (Row *r)
{
  guint n = r->entry->files->len;
  guint have = kinora_catalog_entry_n_present (r->entry, r->dialog->models_dir);
  gboolean complete = FALSE;
  guint64 size = kinora_catalog_entry_size (r->entry, &complete);
  g_autofree char *size_text = NULL;
  g_autofree char *subtitle = NULL;
  const char *state_text;

  if (r->state != KINORA_MODEL_DOWNLOADING)
    {
      if (have == n)
        r->state = KINORA_MODEL_INSTALLED;
      else if (r->state != KINORA_MODEL_FAILED)
        r->state = have ? KINORA_MODEL_PARTLY_INSTALLED : KINORA_MODEL_NOT_INSTALLED;
    }
  if (size == 0)
    size_text = g_strdup (_("size unknown"));
  else if (complete)
    size_text = g_format_size (size);
  else
    {
      g_autofree char *s = g_format_size (size);
      /* Translators: a total size where some files' sizes are unknown */
      size_text = g_strdup_printf (_("at least %s"), s);
    }
  switch (r->state)
    {
    case KINORA_MODEL_INSTALLED: state_text = _("Installed"); break;
    case KINORA_MODEL_DOWNLOADING: state_text = _("Downloading"); break;
    case KINORA_MODEL_PARTLY_INSTALLED: state_text = _("Partly installed"); break;
    case KINORA_MODEL_FAILED: state_text = r->error; break;
    case KINORA_MODEL_NOT_INSTALLED:
    default: state_text = _("Not installed"); break;
    }
  /* Translators: a model's catalog name, its size and its state */
  subtitle = g_strdup_printf (_("%s · %s · %s"), r->entry->name, size_text, state_text);
  adw_action_row_set_subtitle (r->row, subtitle);
  gtk_stack_set_visible_child_name (r->stack, r->state == KINORA_MODEL_DOWNLOADING ? "progress"
                                              : r->state == KINORA_MODEL_INSTALLED  ? "installed"
                                                                                   : "download");
}

/* --- the download, in a worker thread ------------------------------------------------------------ */

typedef struct
{
  GWeakRef           dialog;
  char              *name;
  KinoraHubProgress  p;
  guint64            base;    /* bytes of the entry's earlier files */
  guint64            total;   /* the entry's known total, 0 if unknown */
  guint              file, n_files;
} Tick;

typedef struct
{
  GWeakRef     dialog;
  char        *name;
  char        *endpoint;
  char        *token;
  char        *models_dir;
  GPtrArray   *files;   /* KinoraHubFile with owned strings, dest filled */
  guint64      base;
  guint        index;
} Work;

static void
work_free (Work *w)
{
  g_weak_ref_clear (&w->dialog);
  g_free (w->name);
  g_free (w->endpoint);
  g_free (w->token);
  g_free (w->models_dir);
  g_ptr_array_unref (w->files);
  g_free (w);
}

static void
hub_file_free (gpointer data)
{
  KinoraHubFile *f = data;
  g_free ((char *) f->repo);
  g_free ((char *) f->revision);
  g_free ((char *) f->path);
  g_free ((char *) f->dest);
  g_free ((char *) f->sha256);
  g_free (f);
}

static gboolean
tick_cb (gpointer data)
{
  Tick *t = data;
  g_autoptr(KinoraModelsDialog) self = g_weak_ref_get (&t->dialog);
  Row *r = self ? find_row (self, t->name) : NULL;

  if (r != NULL && r->state == KINORA_MODEL_DOWNLOADING)
    {
      guint64 done = t->base + t->p.done;
      guint64 total = t->total ? t->total : t->base + t->p.total;
      g_autofree char *d = g_format_size (done);
      g_autofree char *tot = total ? g_format_size (total) : g_strdup ("?");
      g_autofree char *rate = g_format_size ((guint64) t->p.rate);
      g_autofree char *text = NULL;

      r->done = done;
      if (t->p.eta_s >= 0)
        /* Translators: download progress: done / total, rate, seconds left, file k of n */
        text = g_strdup_printf (_("%s / %s · %s/s · %.0f s left · file %u of %u"), d, tot, rate, t->p.eta_s,
                                t->file + 1, t->n_files);
      else
        /* Translators: download progress: done / total, file k of n */
        text = g_strdup_printf (_("%s / %s · file %u of %u"), d, tot, t->file + 1, t->n_files);
      gtk_progress_bar_set_text (r->progress, text);
      if (total > 0)
        gtk_progress_bar_set_fraction (r->progress, MIN (1.0, (double) done / (double) total));
      else
        gtk_progress_bar_pulse (r->progress);
    }
  return G_SOURCE_REMOVE;
}

static void
tick_free (gpointer data)
{
  Tick *t = data;
  g_weak_ref_clear (&t->dialog);
  g_free (t->name);
  g_free (t);
}

static void
progress_cb (const KinoraHubProgress *p,
             gpointer                 user_data)
{
  Work *w = user_data;
  Tick *t = g_new0 (Tick, 1);
  g_autoptr(KinoraModelsDialog) self = g_weak_ref_get (&w->dialog);

  g_weak_ref_init (&t->dialog, self);
  t->name = g_strdup (w->name);
  t->p = *p;
  t->base = w->base;
  t->file = w->index;
  t->n_files = w->files->len;
  g_main_context_invoke_full (NULL, G_PRIORITY_DEFAULT, tick_cb, t, tick_free);
}

static void
download_thread (GTask        *task,
                 gpointer      source,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  Work *w = task_data;
  GError *error = NULL;

  for (w->index = 0; w->index < w->files->len; w->index++)
    {
      KinoraHubFile *f = g_ptr_array_index (w->files, w->index);
      if (!kinora_hub_download (f, progress_cb, w, cancellable, &error))
        {
          g_task_return_error (task, error);
          return;
        }
      GStatBuf st;
      if (g_stat (f->dest, &st) == 0)
        w->base += (guint64) st.st_size;
    }
  g_task_return_boolean (task, TRUE);
}

static void
download_done_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autofree char *name = user_data;
  Work *w = g_task_get_task_data (G_TASK (result));
  g_autoptr(KinoraModelsDialog) self = g_weak_ref_get (&w->dialog);
  g_autoptr(GError) error = NULL;
  Row *r;

  g_task_propagate_boolean (G_TASK (result), &error);
  r = self ? find_row (self, name) : NULL;
  if (r == NULL)
    return;
  g_clear_object (&r->cancellable);
  g_clear_pointer (&r->error, g_free);
  r->state = KINORA_MODEL_NOT_INSTALLED;
  if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      /* cancellation is never shown; other errors stay on the row and come as a toast */
      r->state = KINORA_MODEL_FAILED;
      r->error = g_strdup (error->message);
      adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (error->message));
    }
  update_row (r);
}

static void
start_download (Row *r)
{
  KinoraModelsDialog *self = r->dialog;
  Work *w = g_new0 (Work, 1);
  g_autoptr(GTask) task = NULL;

  if (r->state == KINORA_MODEL_DOWNLOADING)
    return;
  g_weak_ref_init (&w->dialog, self);
  w->name = g_strdup (r->entry->name);
  w->endpoint = kinora_hub_dup_endpoint ();
  w->token = kinora_hub_dup_token ();
  w->models_dir = g_strdup (self->models_dir);
  w->files = g_ptr_array_new_with_free_func (hub_file_free);
  for (guint i = 0; i < r->entry->files->len; i++)
    {
      const KinoraCatalogFile *cf = g_ptr_array_index (r->entry->files, i);
      KinoraHubFile *f = g_new0 (KinoraHubFile, 1);
      f->endpoint = w->endpoint;
      f->token = w->token;
      f->repo = g_strdup (cf->repo);
      f->revision = g_strdup (cf->revision);
      f->path = g_strdup (cf->path);
      f->dest = kinora_catalog_file_dest (self->models_dir, cf);
      f->sha256 = g_strdup (cf->sha256);
      f->size = cf->size;
      g_ptr_array_add (w->files, f);
    }
  r->cancellable = g_cancellable_new ();
  r->state = KINORA_MODEL_DOWNLOADING;
  r->done = 0;
  g_clear_pointer (&r->error, g_free);
  gtk_progress_bar_set_fraction (r->progress, 0);
  gtk_progress_bar_set_text (r->progress, _("Starting…"));
  update_row (r);
  task = g_task_new (NULL, r->cancellable, download_done_cb, g_strdup (r->entry->name));
  g_task_set_task_data (task, w, (GDestroyNotify) work_free);
  g_task_run_in_thread (task, download_thread);
}

static void
download_clicked_cb (GtkButton *button,
                     Row       *r)
{
  start_download (r);
}

static void
cancel_clicked_cb (GtkButton *button,
                   Row       *r)
{
  if (r->cancellable)
    g_cancellable_cancel (r->cancellable);
}

static Row *
make_row (KinoraModelsDialog       *self,
          const KinoraCatalogEntry *entry)
{
  Row *r = g_new0 (Row, 1);
  GtkWidget *box, *installed;

  r->dialog = self;
  r->entry = entry;
  r->row = ADW_ACTION_ROW (adw_action_row_new ());
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (r->row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (r->row), entry->title);
  adw_action_row_set_subtitle_lines (r->row, 3);

  r->stack = GTK_STACK (gtk_stack_new ());
  gtk_widget_set_valign (GTK_WIDGET (r->stack), GTK_ALIGN_CENTER);
  gtk_stack_set_hhomogeneous (r->stack, FALSE);

  r->download_button = gtk_button_new_with_label (_("Download"));
  gtk_widget_set_valign (r->download_button, GTK_ALIGN_CENTER);
  g_signal_connect (r->download_button, "clicked", G_CALLBACK (download_clicked_cb), r);
  gtk_stack_add_named (r->stack, r->download_button, "download");

  box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  r->progress = GTK_PROGRESS_BAR (gtk_progress_bar_new ());
  gtk_progress_bar_set_show_text (r->progress, TRUE);
  gtk_widget_set_size_request (GTK_WIDGET (r->progress), 220, -1);
  gtk_widget_set_valign (GTK_WIDGET (r->progress), GTK_ALIGN_CENTER);
  r->cancel_button = gtk_button_new_from_icon_name ("process-stop-symbolic");
  gtk_widget_set_tooltip_text (r->cancel_button, _("Cancel the download (it resumes later)"));
  g_signal_connect (r->cancel_button, "clicked", G_CALLBACK (cancel_clicked_cb), r);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (r->progress));
  gtk_box_append (GTK_BOX (box), r->cancel_button);
  gtk_stack_add_named (r->stack, box, "progress");

  installed = gtk_image_new_from_icon_name ("object-select-symbolic");
  gtk_widget_set_tooltip_text (installed, _("Installed"));
  gtk_stack_add_named (r->stack, installed, "installed");

  adw_action_row_add_suffix (r->row, GTK_WIDGET (r->stack));
  gtk_list_box_append (self->list_box, GTK_WIDGET (r->row));
  update_row (r);
  return r;
}

static void
kinora_models_dialog_dispose (GObject *object)
{
  KinoraModelsDialog *self = KINORA_MODELS_DIALOG (object);

  /* downloads stop; their .partial files stay for a resume */
  g_clear_pointer (&self->rows, g_ptr_array_unref);
  gtk_widget_dispose_template (GTK_WIDGET (self), KINORA_TYPE_MODELS_DIALOG);
  G_OBJECT_CLASS (kinora_models_dialog_parent_class)->dispose (object);
}

static void
kinora_models_dialog_finalize (GObject *object)
{
  KinoraModelsDialog *self = KINORA_MODELS_DIALOG (object);

  kinora_catalog_free (self->catalog);
  g_free (self->models_dir);
  G_OBJECT_CLASS (kinora_models_dialog_parent_class)->finalize (object);
}

static void
kinora_models_dialog_class_init (KinoraModelsDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kinora_models_dialog_dispose;
  object_class->finalize = kinora_models_dialog_finalize;
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/kinora/Kinora/kinora-models-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, KinoraModelsDialog, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, KinoraModelsDialog, folder_label);
  gtk_widget_class_bind_template_child (widget_class, KinoraModelsDialog, list_box);
}

static void
kinora_models_dialog_init (KinoraModelsDialog *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->rows = g_ptr_array_new_with_free_func (row_free);
}

KinoraModelsDialog *
kinora_models_dialog_new (const char  *catalog_path,
                          const char  *models_dir,
                          GError     **error)
{
  g_autofree char *path = catalog_path ? g_strdup (catalog_path) : kinora_catalog_dup_default_path ();
  KinoraCatalog *catalog = kinora_catalog_load (path, error);
  KinoraModelsDialog *self;
  g_autofree char *text = NULL;

  if (catalog == NULL)
    return NULL;
  self = g_object_new (KINORA_TYPE_MODELS_DIALOG, NULL);
  self->catalog = catalog;
  self->models_dir = models_dir ? g_strdup (models_dir) : kinora_models_dup_dir ();
  /* Translators: where downloaded models go */
  text = g_strdup_printf (_("Models are saved in %s. Each file is checked (SHA-256) before it is used; an "
                            "interrupted download resumes."), self->models_dir);
  gtk_label_set_text (self->folder_label, text);
  for (guint i = 0; i < catalog->entries->len; i++)
    g_ptr_array_add (self->rows, make_row (self, g_ptr_array_index (catalog->entries, i)));
  return self;
}

guint
kinora_models_dialog_get_n_rows (KinoraModelsDialog *self)
{
  return self->rows->len;
}

KinoraModelState
kinora_models_dialog_get_state (KinoraModelsDialog *self,
                                const char         *name)
{
  Row *r = find_row (self, name);
  return r ? r->state : KINORA_MODEL_NOT_INSTALLED;
}

const char *
kinora_models_dialog_get_error (KinoraModelsDialog *self,
                                const char         *name)
{
  Row *r = find_row (self, name);
  return r ? r->error : NULL;
}

guint64
kinora_models_dialog_get_done (KinoraModelsDialog *self,
                               const char         *name)
{
  Row *r = find_row (self, name);
  return r ? r->done : 0;
}

GtkWidget *
kinora_models_dialog_get_download_button (KinoraModelsDialog *self,
                                          const char         *name)
{
  Row *r = find_row (self, name);
  return r ? r->download_button : NULL;
}

GtkWidget *
kinora_models_dialog_get_cancel_button (KinoraModelsDialog *self,
                                        const char         *name)
{
  Row *r = find_row (self, name);
  return r ? r->cancel_button : NULL;
}

/* --- the window's action -------------------------------------------------------------------------- */

static void
show_action_cb (GSimpleAction *action,
                GVariant      *param,
                gpointer       user_data)
{
  KinoraWindow *window = user_data;
  g_autoptr(GError) error = NULL;
  KinoraModelsDialog *dialog = kinora_models_dialog_new (NULL, NULL, &error);

  if (dialog == NULL)
    {
      _kinora_window_toast (window, error->message);
      return;
    }
  gtk_window_set_transient_for (GTK_WINDOW (dialog), GTK_WINDOW (window));
  gtk_window_set_modal (GTK_WINDOW (dialog), TRUE);
  /* a transient window keeps its parent alive: it goes when the parent is unrealized (destroyed) */
  g_signal_connect_object (window, "unrealize", G_CALLBACK (gtk_window_destroy), dialog, G_CONNECT_SWAPPED);
  gtk_window_present (GTK_WINDOW (dialog));
}

void
kinora_models_dialog_install_action (KinoraWindow *window)
{
  static const GActionEntry entries[] = {
    { "show", show_action_cb, NULL, NULL, NULL, { 0 } },
  };
  g_autoptr(GSimpleActionGroup) group = g_simple_action_group_new ();

  g_action_map_add_action_entries (G_ACTION_MAP (group), entries, G_N_ELEMENTS (entries), window);
  gtk_widget_insert_action_group (GTK_WIDGET (window), "models", G_ACTION_GROUP (group));
  /* Ctrl+Shift+M opens the model page */
  {
    GtkEventController *shortcuts = gtk_shortcut_controller_new ();
    gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (shortcuts),
                                          gtk_shortcut_new (gtk_shortcut_trigger_parse_string ("<Control><Shift>m"),
                                                            gtk_named_action_new ("models.show")));
    gtk_widget_add_controller (GTK_WIDGET (window), shortcuts);
  }
}
