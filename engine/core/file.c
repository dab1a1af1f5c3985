// Kinora engine: opening files for reading without blocking on FIFOs or devices (issue 11 item 6: a
// FIFO given as weights, config.json or an image blocked the open forever).
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file.h"

static const char * kind_of(mode_t m)
{
    return S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a folder" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a plain file";
}

int ke_file_open_read(const char * path, struct ke_error * err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        ke_err(err, KE_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        ke_err(err, KE_STATUS_IO, "%s: cannot read its type: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        ke_err(err, KE_STATUS_IO, "%s: not a regular file (%s)", path, kind_of(st.st_mode));
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        ke_err(err, KE_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

FILE * ke_file_fopen_read(const char * path, struct ke_error * err)
{
    int fd = ke_file_open_read(path, err);
    if (fd < 0) {
        return NULL;
    }
    FILE * f = fdopen(fd, "rb");
    if (!f) {
        ke_err(err, KE_STATUS_NOMEM, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

enum ke_status ke_file_read_all(const char * path, const char * what, size_t max_bytes, char ** data, size_t * n,
                                struct ke_error * err)
{
    *data = NULL;
    if (n) {
        *n = 0;
    }
    int fd = ke_file_open_read(path, err);
    if (fd < 0) {
        return err ? err->code : KE_STATUS_IO;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return ke_err(err, KE_STATUS_IO, "%s: cannot read the %s: %s", path, what, strerror(errno));
    }
    if ((unsigned long long) st.st_size > max_bytes) {
        close(fd);
        return ke_err(err, KE_STATUS_FORMAT, "%s: the %s is %lld bytes (at most %zu accepted)", path, what,
                      (long long) st.st_size, max_bytes);
    }
    size_t size = (size_t) st.st_size;
    char * buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory reading the %s (%zu bytes)", path, what, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            enum ke_status s = ke_err(err, KE_STATUS_IO, "%s: cannot read the %s: %s", path, what,
                                      r < 0 ? strerror(errno) : "the file shrank while reading");
            free(buf);
            close(fd);
            return s;
        }
        got += (size_t) r;
    }
    close(fd);
    buf[size] = 0;
    *data = buf;
    if (n) {
        *n = size;
    }
    return KE_STATUS_OK;
}
