/* cli-generate.c: kinora-cli generate: text/image to video with a terminal progress bar, written as
 * MP4, WebM, GIF or PNG frames with the parameters in the file's tags and a sidecar JSON.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ke.h"
#include "cli.h"
#ifdef KINORA_HAVE_EXPORT
#include "kinora-export.h"
#endif

static volatile sig_atomic_t interrupted;

static void
on_sigint (int sig)
{
  (void) sig;
  interrupted++;
}

static void
usage (FILE *f)
{
  fprintf (f,
           "usage: kinora-cli generate --model DIR|FILE[,FILE...]|tiny --prompt TEXT -o out.mp4|out.webm|out.gif|dir/\n"
           "  --negative TEXT     negative prompt (default: the official one)\n"
           "  --image IMG         conditioning image (PNG or JPEG): image-to-video\n"
           "  --size WxH          output size (with an image: the area)\n"
           "  --frames N          frame count, 4n+1\n"
           "  --steps N           sampling steps\n"
           "  --guide G           guidance (A14B: low-noise expert)\n"
           "  --guide-high G      guidance of the A14B high-noise expert\n"
           "  --shift S           flow shift\n"
           "  --seed S            seed (default: random); the same seed gives the same noise as torch.manual_seed\n"
           "  --solver NAME       unipc (default), dpm++ or euler\n"
           "  --fps F             frame rate of the output\n"
           "  --threads N         CPU threads\n"
           "  --backend NAME      cpu (default), cuda, or auto (the GPU when usable)\n"
           "  --precision P       bf16 (default) or fp32 matmuls on the CPU\n"
           "  --save-latent PATH  also write the final latent (safetensors)\n"
           "  --decode-latent PATH  skip sampling: decode a saved latent\n"
           "  --quiet             no progress bar\n"
           "The tiny model (--model tiny) has random weights: its videos are noise, for tests and demos.\n");
}

struct bar
{
  int quiet;
};

static const char *
stage_name (enum ke_stage s)
{
  switch (s)
    {
    case KE_STAGE_LOAD: return "loading";
    case KE_STAGE_TEXT: return "text";
    case KE_STAGE_IMAGE: return "image";
    case KE_STAGE_SAMPLE: return "sampling";
    case KE_STAGE_DECODE: return "decoding";
    case KE_STAGE_DONE: return "done";
    default: return "";
    }
}

static void
progress_cb (const struct ke_progress *p, void *user_data)
{
  struct bar *b = user_data;
  const int width = 30;
  char line[width + 1];
  int fill = p->n_steps > 0 ? p->step * width / p->n_steps : 0;
  char eta[32] = "";

  if (b->quiet || p->stage == KE_STAGE_DONE)
    return;
  for (int i = 0; i < width; i++)
    line[i] = i < fill ? '#' : '.';
  line[width] = '\0';
  if (p->eta_s >= 0)
    snprintf (eta, sizeof eta, "  ETA %.1fs", p->eta_s);
  fprintf (stderr, "\r%-9s [%s] %d/%d  %.1fs%s   ", stage_name (p->stage), line, p->step, p->n_steps,
           p->elapsed_s, eta);
  /* a finished stage keeps its line */
  if (p->n_steps > 0 && p->step == p->n_steps)
    fputc ('\n', stderr);
  fflush (stderr);
}

static int
abort_cb (void *user_data)
{
  (void) user_data;
  /* first Ctrl+C: stop sampling and keep the current estimate; second: cancel */
  return interrupted >= 2 ? 1 : interrupted == 1 ? 2 : 0;
}

/* A fresh seed in [0, 2^63 - 1], chosen here so that it can be reported and reused. */
static long long
random_seed (void)
{
  unsigned long long v = 0;
  FILE *f = fopen ("/dev/urandom", "rb");
  if (f)
    {
      if (fread (&v, sizeof v, 1, f) != 1)
        v = 0;
      fclose (f);
    }
  if (v == 0)
    v = (unsigned long long) time (NULL) * 6364136223846793005ull + (unsigned long long) getpid ();
  return (long long) (v >> 1);
}

static int
parse_size (const char *s, int *w, int *h)
{
  char x;
  return sscanf (s, "%d%c%d", w, &x, h) == 3 && (x == 'x' || x == '*' || x == 'X');
}

int
kinora_cli_generate (int argc, char **argv)
{
  const char *model = NULL, *prompt = NULL, *negative = NULL, *image = NULL, *out = NULL;
  const char *size = NULL, *solver = NULL, *backend = NULL, *precision = NULL, *save_latent = NULL;
  const char *decode_latent = NULL;
  int frames = 0, steps = 0, threads = 0, have_seed = 0;
  double guide = -1, guide_high = -1, shift = -1, fps = -1;
  long long seed = -1;
  int quiet = 0;
  struct ke_error err = { 0 };
  ke_model_t *m = NULL;
  struct ke_image *img = NULL;
  struct ke_video *video = NULL;
  int rc = 1;

  for (int i = 1; i < argc; i++)
    {
      const char *o = argv[i];
      const char *v = i + 1 < argc ? argv[i + 1] : NULL;
      if (strcmp (o, "--help") == 0 || strcmp (o, "-h") == 0)
        {
          usage (stdout);
          return 0;
        }
      if (strcmp (o, "--quiet") == 0)
        {
          quiet = 1;
          continue;
        }
      if (v == NULL)
        {
          fprintf (stderr, "kinora-cli generate: option %s needs a value\n", o);
          return 2;
        }
      if (strcmp (o, "--model") == 0) model = v;
      else if (strcmp (o, "--prompt") == 0) prompt = v;
      else if (strcmp (o, "--negative") == 0) negative = v;
      else if (strcmp (o, "--image") == 0) image = v;
      else if (strcmp (o, "-o") == 0 || strcmp (o, "--output") == 0) out = v;
      else if (strcmp (o, "--size") == 0) size = v;
      else if (strcmp (o, "--frames") == 0) frames = atoi (v);
      else if (strcmp (o, "--steps") == 0) steps = atoi (v);
      else if (strcmp (o, "--guide") == 0) guide = atof (v);
      else if (strcmp (o, "--guide-high") == 0) guide_high = atof (v);
      else if (strcmp (o, "--shift") == 0) shift = atof (v);
      else if (strcmp (o, "--seed") == 0) { seed = atoll (v); have_seed = 1; }
      else if (strcmp (o, "--solver") == 0) solver = v;
      else if (strcmp (o, "--fps") == 0) fps = atof (v);
      else if (strcmp (o, "--threads") == 0) threads = atoi (v);
      else if (strcmp (o, "--backend") == 0) backend = v;
      else if (strcmp (o, "--precision") == 0) precision = v;
      else if (strcmp (o, "--save-latent") == 0) save_latent = v;
      else if (strcmp (o, "--decode-latent") == 0) decode_latent = v;
      else
        {
          fprintf (stderr, "kinora-cli generate: unknown option %s\n", o);
          usage (stderr);
          return 2;
        }
      i++;
    }
  if (model == NULL || out == NULL || (prompt == NULL && decode_latent == NULL))
    {
      usage (stderr);
      return 2;
    }
#ifdef KINORA_HAVE_EXPORT
  KinoraExportFormat format;
  g_autoptr (GError) gerr = NULL;
  if (!kinora_export_format_from_path (out, &format, &gerr))
    {
      fprintf (stderr, "kinora-cli generate: %s\n", gerr->message);
      return 2;
    }
#else
  fprintf (stderr, "kinora-cli generate: this build has no video export (GStreamer/libpng missing)\n");
  return 1;
#endif

  if (ke_model_open (&m, model, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-cli generate: %s\n", err.msg);
      return 1;
    }
  struct ke_gen_params p = ke_model_params_default (m);
  if (ke_model_is_random (m))
    fprintf (stderr, "note: %s: the output is noise by design\n", ke_model_name (m));
  p.prompt = prompt ? prompt : "";
  p.negative_prompt = negative;
  if (size && !parse_size (size, &p.width, &p.height))
    {
      fprintf (stderr, "kinora-cli generate: --size %s is not WIDTHxHEIGHT\n", size);
      rc = 2;
      goto out;
    }
  if (frames) p.n_frames = frames;
  if (steps) p.steps = steps;
  if (guide >= 0) p.guide = (float) guide;
  if (guide_high >= 0) p.guide_high = (float) guide_high;
  else if (guide >= 0 && p.task == KE_TASK_TI2V_5B) p.guide_high = (float) guide;
  if (shift >= 0) p.shift = (float) shift;
  if (fps > 0) p.fps = fps;
  if (threads > 0) p.n_threads = threads;
  if (backend) p.backend = backend;
  if (have_seed)
    p.seed = seed;
  else
    p.seed = random_seed ();
  if (precision)
    {
      if (strcmp (precision, "fp32") == 0) p.precision = KE_PRECISION_FP32;
      else if (strcmp (precision, "bf16") == 0) p.precision = KE_PRECISION_BF16;
      else
        {
          fprintf (stderr, "kinora-cli generate: --precision %s: use bf16 or fp32\n", precision);
          rc = 2;
          goto out;
        }
    }
  if (solver)
    {
      if (strcmp (solver, "unipc") == 0) p.solver = KE_SOLVER_UNIPC;
      else if (strcmp (solver, "dpm++") == 0 || strcmp (solver, "dpmpp") == 0) p.solver = KE_SOLVER_DPMPP;
      else if (strcmp (solver, "euler") == 0) p.solver = KE_SOLVER_EULER;
      else
        {
          fprintf (stderr, "kinora-cli generate: --solver %s: use unipc, dpm++ or euler\n", solver);
          rc = 2;
          goto out;
        }
    }
  if (image)
    {
      if (ke_image_read (&img, image, &err) != KE_STATUS_OK)
        {
          fprintf (stderr, "kinora-cli generate: %s\n", err.msg);
          goto out;
        }
      p.image = img;
    }
  p.save_latent_path = save_latent;
  /* prompt embeddings are cached on disk: $XDG_CACHE_HOME/kinora/text, else ~/.cache/kinora/text */
  static char *text_cache_dir;
  if (text_cache_dir == NULL)
    text_cache_dir = ke_text_cache_default_dir ();
  p.text_cache_dir = text_cache_dir;
  struct bar bar = { quiet || !isatty (STDERR_FILENO) };
  p.progress = progress_cb;
  p.abort = abort_cb;
  p.user_data = &bar;
  signal (SIGINT, on_sigint);

  enum ke_status st;
  if (decode_latent)
    st = ke_model_decode_latent (m, decode_latent, fps, &video, &err);
  else
    st = ke_generate (m, &p, &video, &err);
  if (st != KE_STATUS_OK)
    {
      fprintf (stderr, "\nkinora-cli generate: %s\n", err.msg[0] ? err.msg : ke_status_str (st));
      goto out;
    }

#ifdef KINORA_HAVE_EXPORT
  {
    char s_seed[32], s_steps[16], s_guide[32], s_guide_high[32], s_shift[32], s_size[32], s_frames[16], s_fps[32];
    snprintf (s_seed, sizeof s_seed, "%lld", (long long) p.seed);
    snprintf (s_steps, sizeof s_steps, "%d", p.steps);
    snprintf (s_guide, sizeof s_guide, "%g", (double) p.guide);
    snprintf (s_guide_high, sizeof s_guide_high, "%g", (double) p.guide_high);
    snprintf (s_shift, sizeof s_shift, "%g", (double) p.shift);
    snprintf (s_size, sizeof s_size, "%dx%d", video->width, video->height);
    snprintf (s_frames, sizeof s_frames, "%d", video->n_frames);
    snprintf (s_fps, sizeof s_fps, "%g", video->fps);
    const char *tags[] = {
      "prompt", p.prompt,
      "negative_prompt", negative ? negative : "(official default)",
      "model", ke_model_name (m),
      "random_weights", ke_model_is_random (m) ? "true" : "false",
      "seed", s_seed,
      "steps", s_steps,
      "guide", s_guide,
      "guide_high", s_guide_high,
      "shift", s_shift,
      "solver", p.solver == KE_SOLVER_DPMPP ? "dpm++" : p.solver == KE_SOLVER_EULER ? "euler" : "unipc",
      "size", s_size,
      "frames", s_frames,
      "fps", s_fps,
      "image", image ? image : "",
      "generator", "Kinora",
      NULL,
    };
    g_autofree char *sidecar = kinora_export_sidecar_path (out, format);
    if (!kinora_export_write (out, format, video->rgb, video->width, video->height, video->n_frames, video->fps,
                              tags, &gerr) ||
        !kinora_export_write_sidecar (sidecar, tags, &gerr))
      {
        fprintf (stderr, "kinora-cli generate: %s\n", gerr->message);
        goto out;
      }
    fprintf (stderr, "wrote %s (%dx%d, %d frames, %g fps, seed %lld) and %s\n", out, video->width, video->height,
             video->n_frames, video->fps, (long long) p.seed, sidecar);
  }
#endif
  rc = 0;
out:
  ke_video_free (video);
  ke_image_free (img);
  ke_model_free (m);
  return rc;
}
