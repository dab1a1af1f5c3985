/* Fuzz target for the LTX-Video checkpoint metadata (engine/models/ltx/ltx-config.c): the single file's
 * `config` JSON (sections, class names, sizes) and the Diffusers -> official name translation, which
 * every line of the input also goes through. Built as a libFuzzer binary with clang and with the
 * standalone driver (fuzz-driver.c) everywhere.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "models/ltx/ltx-checkpoint.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_json (const char *what, const char *text, const char *input)
{
  json_object *o = text ? json_tokener_parse (text) : NULL;
  if (o == NULL)
    {
      fprintf (stderr, "accepted config: section %s is not JSON\n%s\n", what, input);
      abort ();
    }
  json_object_put (o);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct ke_error err = { 0 };
  struct ke_ltx_config c;
  /* metadata values are C strings: the parser gets a NUL-terminated copy */
  char *text = malloc (size + 1);
  if (text == NULL)
    return 0;
  memcpy (text, data, size);
  text[size] = 0;
  if (ke_ltx_config_parse (&c, text, "fuzz.safetensors", &err) == KE_STATUS_OK)
    {
      /* what the components rely on: the sections handed over are JSON objects */
      if (c.kind == KE_LTX_CONFIG_UPSAMPLER)
        check_json ("upsampler", c.upsampler, text);
      else if (c.transformer == NULL && c.vae == NULL)
        {
          fprintf (stderr, "accepted a model config without transformer and vae\n%s\n", text);
          abort ();
        }
      if (c.transformer)
        check_json ("transformer", c.transformer, text);
      if (c.vae)
        check_json ("vae", c.vae, text);
    }
  else if (err.code == KE_STATUS_OK || strstr (err.msg, "fuzz.safetensors") == NULL)
    {
      fprintf (stderr, "a refusal without a message naming the file: '%s'\n", err.msg);
      abort ();
    }
  ke_ltx_config_clear (&c);
  /* every line as a tensor name */
  char out[128];
  int lines = 0;
  for (char *line = strtok (text, "\n"); line && lines < 256; line = strtok (NULL, "\n"), lines++)
    for (int part = KE_LTX_PART_TRANSFORMER; part <= KE_LTX_PART_VAE; part++)
      {
        memset (out, 'x', sizeof out);
        int r = ke_ltx_name_from_diffusers ((enum ke_ltx_part) part, line, 4, out, sizeof out);
        if (r < -1 || r > 1 || memchr (out, 0, sizeof out) == NULL)
          {
            fprintf (stderr, "name translation of '%s' returned %d, output not terminated\n", line, r);
            abort ();
          }
      }
  free (text);
  return 0;
}
