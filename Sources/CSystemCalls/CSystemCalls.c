#define _GNU_SOURCE
#include "CSystemCalls.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <linux/fs.h>

ssize_t swelf_copy_file_range(int input, off_t *input_offset, int output, off_t *output_offset,
                              size_t length, unsigned int flags) {
    return copy_file_range(input, input_offset, output, output_offset, length, flags);
}

int swelf_syncfs(int descriptor) { return syncfs(descriptor); }

int swelf_start_writeback(int descriptor, off_t offset, off_t length) {
    return sync_file_range(descriptor, offset, length, SYNC_FILE_RANGE_WRITE);
}

int swelf_clone(int input, int output) {
#ifdef FICLONE
    return ioctl(output, FICLONE, input);
#else
    (void)input; (void)output;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

ssize_t swelf_flistxattr(int descriptor, char *list, size_t size) { return flistxattr(descriptor, list, size); }

ssize_t swelf_fgetxattr(int descriptor, const char *name, void *value, size_t size) {
    return fgetxattr(descriptor, name, value, size);
}

int swelf_fsetxattr(int descriptor, const char *name, const void *value, size_t size, int flags) {
    return fsetxattr(descriptor, name, value, size, flags);
}
