/* Standalone fuzz driver: mutates seed files (truncations, bit flips, byte splices, header-length
 * edits, chunk copies) for a bounded time and feeds each to the target's LLVMFuzzerTestOneInput. Linked
 * with every fuzz target for compilers without libFuzzer (gcc); under ASan+UBSan in the sanitizer build.
 * A crash, a sanitizer report or a hang fails the test. Prints the number of inputs run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static uint64_t rng = 88172645463325252ull;

static uint64_t
next (void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static unsigned char *
read_file (const char *path, size_t *n)
{
  FILE *f = fopen (path, "rb");
  if (!f)
    return NULL;
  fseek (f, 0, SEEK_END);
  long sz = ftell (f);
  fseek (f, 0, SEEK_SET);
  unsigned char *b = malloc (sz > 0 ? (size_t) sz : 1);
  *n = b ? fread (b, 1, (size_t) (sz > 0 ? sz : 0), f) : 0;
  fclose (f);
  return b;
}

/* usage: fuzz-loaders SECONDS SEED_FILE... */
int
main (int argc, char **argv)
{
  if (argc < 3)
    {
      fprintf (stderr, "usage: %s SECONDS SEED...\n", argv[0]);
      return 2;
    }
  double seconds = atof (argv[1]);
  int n_seeds = argc - 2;
  unsigned char **seed = calloc ((size_t) n_seeds, sizeof *seed);
  size_t *seed_n = calloc ((size_t) n_seeds, sizeof *seed_n);
  for (int i = 0; i < n_seeds; i++)
    {
      seed[i] = read_file (argv[2 + i], &seed_n[i]);
      if (!seed[i])
        {
          printf ("1..1\nnot ok 1 - seed %s not readable (missing fixtures?)\n", argv[2 + i]);
          return 1;
        }
      /* cap big seeds: the parsers read headers and index tables, not the bulk data */
      if (seed_n[i] > (1u << 20))
        seed_n[i] = 1u << 20;
    }
  struct timespec t0, t;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  long iters = 0;
  for (;;)
    {
      clock_gettime (CLOCK_MONOTONIC, &t);
      if ((double) (t.tv_sec - t0.tv_sec) + (double) (t.tv_nsec - t0.tv_nsec) * 1e-9 > seconds)
        break;
      int si = (int) (next () % (uint64_t) n_seeds);
      size_t n = seed_n[si];
      unsigned char *buf = malloc (n + 64);
      memcpy (buf, seed[si], n);
      int n_mut = 1 + (int) (next () % 8);
      for (int m = 0; m < n_mut && n > 0; m++)
        {
          size_t pos = (size_t) (next () % n);
          switch (next () % 6)
            {
            case 0: /* truncate */
              n = pos;
              break;
            case 1: /* flip a bit */
              buf[pos] ^= (unsigned char) (1u << (next () % 8));
              break;
            case 2: /* random byte, often in the header / directory */
              buf[(next () & 1) ? pos % (n < 4096 ? n : 4096) : pos] = (unsigned char) next ();
              break;
            case 3: /* splice a digit or JSON/pickle punctuation */
              buf[pos] = (unsigned char) "0123456789[]{}\",:-eE\x80\x8a\x94\x95\x52\x71"[next () % 26];
              break;
            case 4: /* rewrite the 8-byte header length */
              if (n >= 8)
                {
                  uint64_t v = next () % (n + 16);
                  for (int b = 0; b < 8; b++)
                    buf[b] = (unsigned char) (v >> (8 * b));
                }
              break;
            default: /* duplicate a chunk over another place */
              {
                size_t len = (size_t) (next () % 64), src = (size_t) (next () % n);
                for (size_t k = 0; k < len && pos + k < n && src + k < n; k++)
                  buf[pos + k] = buf[src + k];
              }
            }
        }
      LLVMFuzzerTestOneInput (buf, n);
      free (buf);
      iters++;
    }
  printf ("1..1\nok 1 - %ld mutated inputs parsed without a crash in %.0f s\n", iters, seconds);
  for (int i = 0; i < n_seeds; i++)
    free (seed[i]);
  free (seed);
  free (seed_n);
  return 0;
}
