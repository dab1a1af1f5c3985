// Kinora engine: opening files for reading without blocking on FIFOs or devices.
#pragma once

#include <stddef.h>
#include <stdio.h>

#include "ke.h"

// Open `path` read-only: O_NONBLOCK so that a FIFO cannot block the open, then refuse anything but a
// regular file ("%s: not a regular file (a FIFO)" naming the path). Returns an fd (blocking mode
// restored) or -1 with err set.
int ke_file_open_read(const char * path, struct ke_error * err);
// The same as a stdio stream ("rb"), or NULL with err set.
FILE * ke_file_fopen_read(const char * path, struct ke_error * err);
// Read a whole regular file of at most max_bytes into a NUL-terminated malloc'd buffer (*n: its length,
// may be NULL). A larger file is refused naming its size and the limit; `what` names the file's role in
// messages ("config", "tokenizer file"...).
enum ke_status ke_file_read_all(const char * path, const char * what, size_t max_bytes, char ** data, size_t * n,
                                struct ke_error * err);
