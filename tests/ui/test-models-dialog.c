/* test-models-dialog.c: tests for ui/kinora-models-dialog.c under Xvfb against the loopback hub
 * (tests/models/hub-test-server.c on 127.0.0.1, HF_ENDPOINT pointing at it): install states, a
 * download through the Download button (its connection dropped once and resumed), a stalled one
 * cancelled with the Cancel button in bounded time, a wrong digest refused with the error shown.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <adwaita.h>
#include <glib/gstdio.h>

#include "hub-test-server.h"
#include "kinora-models-dialog.h"

#define TIMEOUT_S 60

static KinoraModelsDialog *watched;
static const char         *watched_name;
static KinoraModelState    wanted;

static gboolean
timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
state_is (void)
{
  return kinora_models_dialog_get_state (watched, watched_name) == wanted;
}

static gboolean
some_bytes (void)
{
  return kinora_models_dialog_get_done (watched, watched_name) >= 4096;
}

static gboolean
never (void)
{
  return FALSE;
}

static gboolean
wait_for (gboolean (*cond) (void),
          double     seconds)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add ((guint) (seconds * 1000), timeout_cb, &timed_out);

  while (!cond () && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return cond ();
}

static gboolean
wait_state (KinoraModelsDialog *dialog,
            const char         *name,
            KinoraModelState    state,
            double              seconds)
{
  watched = dialog;
  watched_name = name;
  wanted = state;
  return wait_for (state_is, seconds);
}

static const char *catalog_text =
  "{ \"entries\": [\n"
  "  { \"name\": \"test-model\", \"title\": \"Test model\", \"kind\": \"model\",\n"
  "    \"files\": [ { \"role\": \"dit\", \"repo\": \"Org/Test\", \"path\": \"dit.safetensors\" },\n"
  "               { \"role\": \"vae\", \"repo\": \"Org/Test\", \"path\": \"vae/vae.safetensors\", \"size\": 50000 } ] },\n"
  "  { \"name\": \"test-slow\", \"title\": \"Slow\", \"kind\": \"lora\",\n"
  "    \"files\": [ { \"role\": \"lora\", \"repo\": \"Org/Slow\", \"path\": \"slow.safetensors\" } ] },\n"
  "  { \"name\": \"test-bad\", \"title\": \"Bad digest\", \"kind\": \"vae\",\n"
  "    \"files\": [ { \"role\": \"vae\", \"repo\": \"Org/Bad\", \"path\": \"bad.safetensors\" } ] }\n"
  "] }\n";

static void
test_download_cancel_fail (void)
{
  g_autoptr(HubServer) hub = hub_server_new (NULL);
  g_autoptr(GBytes) dit = hub_test_bytes (400000, 1);
  g_autoptr(GBytes) vae = hub_test_bytes (50000, 2);
  g_autoptr(GBytes) slow = hub_test_bytes (300000, 3);
  g_autofree char *dir = g_dir_make_tmp ("kinora-models-ui-XXXXXX", NULL);
  g_autofree char *catalog = g_build_filename (dir, "catalog.json", NULL);
  g_autofree char *models = g_build_filename (dir, "models", NULL);
  g_autoptr(GError) error = NULL;
  KinoraModelsDialog *dialog;

  hub_server_add (hub, "Org/Test", "dit.safetensors", dit, HUB_FILE_DROP_ONCE);
  hub_server_add (hub, "Org/Test", "vae/vae.safetensors", vae, HUB_FILE_NORMAL);
  hub_server_add (hub, "Org/Slow", "slow.safetensors", slow, HUB_FILE_STALL);
  hub_server_add (hub, "Org/Bad", "bad.safetensors", vae, HUB_FILE_BAD_HASH);
  g_setenv ("HF_ENDPOINT", hub_server_endpoint (hub), TRUE);
  g_assert_true (g_file_set_contents (catalog, catalog_text, -1, NULL));

  dialog = kinora_models_dialog_new (catalog, models, &error);
  g_assert_no_error (error);
  g_object_ref_sink (dialog);
  gtk_window_present (GTK_WINDOW (dialog));
  wait_for (never, 0.3);
  g_assert_cmpuint (kinora_models_dialog_get_n_rows (dialog), ==, 3);
  g_assert_cmpint (kinora_models_dialog_get_state (dialog, "test-model"), ==, KINORA_MODEL_NOT_INSTALLED);
  g_assert_true (gtk_widget_get_mapped (kinora_models_dialog_get_download_button (dialog, "test-model")));

  /* Download: both files, the first one resumed after its connection dropped */
  g_signal_emit_by_name (kinora_models_dialog_get_download_button (dialog, "test-model"), "clicked");
  g_assert_cmpint (kinora_models_dialog_get_state (dialog, "test-model"), ==, KINORA_MODEL_DOWNLOADING);
  g_assert_true (wait_state (dialog, "test-model", KINORA_MODEL_INSTALLED, TIMEOUT_S));
  g_assert_null (kinora_models_dialog_get_error (dialog, "test-model"));
  {
    g_autofree char *f1 = g_build_filename (models, "Org", "Test", "dit.safetensors", NULL);
    g_autofree char *f2 = g_build_filename (models, "Org", "Test", "vae", "vae.safetensors", NULL);
    g_autofree char *got = NULL;
    gsize len = 0;
    g_assert_true (g_file_get_contents (f1, &got, &len, NULL));
    g_assert_cmpmem (got, len, g_bytes_get_data (dit, NULL), g_bytes_get_size (dit));
    g_assert_true (g_file_test (f2, G_FILE_TEST_IS_REGULAR));
  }

  /* a stalled server: Cancel stops it within seconds, nothing is shown as an error, the bytes stay */
  g_signal_emit_by_name (kinora_models_dialog_get_download_button (dialog, "test-slow"), "clicked");
  watched = dialog;
  watched_name = "test-slow";
  g_assert_true (wait_for (some_bytes, TIMEOUT_S));
  {
    gint64 t0 = g_get_monotonic_time ();
    g_signal_emit_by_name (kinora_models_dialog_get_cancel_button (dialog, "test-slow"), "clicked");
    g_assert_true (wait_state (dialog, "test-slow", KINORA_MODEL_NOT_INSTALLED, 10));
    g_assert_cmpint (g_get_monotonic_time () - t0, <, 10 * G_TIME_SPAN_SECOND);
  }
  g_assert_null (kinora_models_dialog_get_error (dialog, "test-slow"));
  {
    g_autofree char *partial = g_build_filename (models, "Org", "Slow", "slow.safetensors.partial", NULL);
    g_assert_true (g_file_test (partial, G_FILE_TEST_IS_REGULAR));
  }

  /* a wrong digest: failed, the reason on the row, no file */
  g_signal_emit_by_name (kinora_models_dialog_get_download_button (dialog, "test-bad"), "clicked");
  g_assert_true (wait_state (dialog, "test-bad", KINORA_MODEL_FAILED, TIMEOUT_S));
  g_assert_nonnull (strstr (kinora_models_dialog_get_error (dialog, "test-bad"), "SHA-256"));
  {
    g_autofree char *bad = g_build_filename (models, "Org", "Bad", "bad.safetensors", NULL);
    g_assert_false (g_file_test (bad, G_FILE_TEST_EXISTS));
  }
  gtk_window_destroy (GTK_WINDOW (dialog));
  g_object_unref (dialog);

  /* a new page sees what is installed */
  dialog = kinora_models_dialog_new (catalog, models, &error);
  g_assert_no_error (error);
  g_object_ref_sink (dialog);
  g_assert_cmpint (kinora_models_dialog_get_state (dialog, "test-model"), ==, KINORA_MODEL_INSTALLED);
  g_assert_cmpint (kinora_models_dialog_get_state (dialog, "test-slow"), ==, KINORA_MODEL_NOT_INSTALLED);
  gtk_window_destroy (GTK_WINDOW (dialog));
  g_object_unref (dialog);

  /* a catalog that does not read is an error naming it */
  g_assert_true (g_file_set_contents (catalog, "{ \"entries\": 3 }", -1, NULL));
  g_assert_null (kinora_models_dialog_new (catalog, models, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "catalog.json"));
}

int
main (int   argc,
      char *argv[])
{
  /* the loopback server only: no proxy, no token */
  const char *unset[] = { "HF_TOKEN", "http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                          "ALL_PROXY" };
  for (guint i = 0; i < G_N_ELEMENTS (unset); i++)
    g_unsetenv (unset[i]);
  g_test_init (&argc, &argv, NULL);
  gtk_init ();
  adw_init ();

  g_test_add_func ("/models-dialog/download-cancel-fail", test_download_cancel_fail);
  return g_test_run ();
}
