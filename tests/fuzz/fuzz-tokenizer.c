/* Fuzz target for the tokenizer.json and spiece.model readers (engine/models/te), then encoding a few
 * prompts with whatever vocabulary was accepted. Built as a libFuzzer binary with clang and with the
 * standalone driver (fuzz-driver.c) everywhere.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/te/tokenizer-impl.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *const prompts[] = { "a red fox", "  A  \xe2\x96\x81 caf\xc3\xa9\t\xf0\x9f\xa6\x8a", "" };
  struct ke_tokenizer *tok = NULL;
  struct ke_error err = { 0 };
  char *text = malloc (size + 1);

  if (text == NULL)
    return 0;
  memcpy (text, data, size);
  text[size] = 0;
  if (ke_tok_open_memory (&tok, "fuzz.tokenizer.json", text, size, &err) == KE_STATUS_OK)
    {
      int32_t ids[64];
      for (size_t i = 0; i < sizeof prompts / sizeof prompts[0]; i++)
        {
          int n = 0;
          memset (&err, 0, sizeof err);
          if (ke_tokenizer_encode (tok, prompts[i], ids, 64, &n, KE_TOKENIZE_PROMPT, &err) == KE_STATUS_OK &&
              (n < 0 || n > 64))
            abort ();
        }
      ke_tokenizer_free (tok);
    }
  free (text);
  return 0;
}
