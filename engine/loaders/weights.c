// Kinora engine: open any supported weight file by its contents.
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file.h"
#include "loaders/loaders.h"

enum ke_status ke_weights_open(struct ke_tensor_set ** out, const char * path, struct ke_error * err)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) < 0) {
        return ke_err(err, KE_STATUS_IO, "%s: no such file or folder", path);
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        return ke_err(err, KE_STATUS_IO, "%s: not a regular file or folder (%s)", path,
                      S_ISFIFO(st.st_mode) ? "a FIFO" : "a device or socket");
    }
    if (S_ISREG(st.st_mode)) {
        unsigned char magic[4] = {0};
        int fd = ke_file_open_read(path, err);
        if (fd < 0) {
            return err ? err->code : KE_STATUS_IO;
        }
        ssize_t n = read(fd, magic, 4);
        close(fd);
        if (n == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4) {
            return ke_pth_open(out, path, err);
        }
        if (n == 4 && memcmp(magic, "GGUF", 4) == 0) {
            return ke_gguf_open(out, path, err);
        }
    }
    return ke_safetensors_open(out, path, err);
}
