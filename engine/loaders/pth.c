// Kinora engine: PyTorch .pth reader (placeholder until the restricted unpickler lands).
#include "core/error.h"
#include "loaders/loaders.h"

enum ke_status ke_pth_open(struct ke_tensor_set ** out, const char * path, struct ke_error * err)
{
    *out = NULL;
    return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: .pth files are not supported yet", path);
}

enum ke_status ke_pth_parse(struct ke_tensor_set * s, unsigned char * file, size_t size, struct ke_error * err)
{
    (void) file;
    (void) size;
    return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: .pth files are not supported yet", ke_tset_path(s));
}
