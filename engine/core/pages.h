// Kinora engine: resident pages of mapped weight files (issue 12 item 4). Weights are mapped read-only
// from their checkpoints (L2C run.c read_checkpoint); once a copy is made (a converted bf16 weight) or a
// model part is idle (the A14B expert not in use, the text encoder after encoding) its pages can leave
// the resident set: they fault back in from the page cache, or the file, if read again.
#pragma once

#include <stddef.h>

struct ke_tensor_set;

// Registered by ke_tset_own_mmap / removed by ke_tset_free: read-only private file mappings only, whose
// pages are never written, so dropping them loses nothing.
void ke_pages_register(const void * addr, size_t len);
void ke_pages_unregister(const void * addr);
// Drop the resident pages wholly inside [p, p + n) when that range lies in a registered file mapping
// (madvise MADV_DONTNEED); other memory (malloc'd weights of random models) is left alone. Returns the
// bytes advised (0 when none).
size_t ke_pages_release(const void * p, size_t n);
// The same for every file mapping a tensor set owns.
size_t ke_tset_release_pages(const struct ke_tensor_set * s);
// Resident set of this process now (VmRSS) and its peak (VmHWM), in bytes; 0 when unknown.
size_t ke_pages_rss(void);
size_t ke_pages_peak_rss(void);
