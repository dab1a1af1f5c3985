/* window-test-util.h: the harness shared by the UI tests that drive a KinoraWindow under Xvfb: a private
 * data, config and cache folder, waiting on the main loop for a condition, fresh windows and their end.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "kinora-window-private.h"

G_BEGIN_DECLS

/* how long a test waits for a model to load or a job to end */
#define WINDOW_TEST_TIMEOUT_S 120

typedef gboolean (*WindowTestCondition) (KinoraWindow *self);

/* What window_test_reset clears before a window is made */
typedef enum
{
  WINDOW_TEST_KEEP_STATE     = 0,       /* settings and history as the last window left them */
  WINDOW_TEST_RESET_SETTINGS = 1 << 0,  /* every key of the app's schema back to its default */
  WINDOW_TEST_CLEAR_HISTORY  = 1 << 1,  /* the history folder deleted */
  WINDOW_TEST_FRESH          = WINDOW_TEST_RESET_SETTINGS | WINDOW_TEST_CLEAR_HISTORY,
} WindowTestReset;

void          window_test_init            (int                 *argc,
                                           char              ***argv);

gboolean      window_test_wait_until      (KinoraWindow        *self,
                                           WindowTestCondition  cond,
                                           double               seconds);
void          window_test_spin            (double               seconds);

gboolean      window_test_model_loaded    (KinoraWindow        *self);
gboolean      window_test_job_running     (KinoraWindow        *self);
gboolean      window_test_job_done        (KinoraWindow        *self);
gboolean      window_test_first_preview   (KinoraWindow        *self);
gboolean      window_test_result_ready    (KinoraWindow        *self);
gboolean      window_test_image_loaded    (KinoraWindow        *self);

void          window_test_reset           (WindowTestReset      reset);
void          window_test_present         (KinoraWindow        *self,
                                           int                  width,
                                           int                  height,
                                           double               settle_s);
KinoraWindow *window_test_new_window      (WindowTestReset      reset,
                                           int                  width,
                                           int                  height);
void          window_test_use_test_model  (KinoraWindow        *self);
void          window_test_destroy_window  (KinoraWindow        *self);
void          window_test_close_window    (KinoraWindow        *self);

gboolean      window_test_in_sidebar_view (KinoraWindow        *self,
                                           GtkWidget           *widget);
void          window_test_screenshot      (GtkWidget           *widget,
                                           const char          *name);

G_END_DECLS
