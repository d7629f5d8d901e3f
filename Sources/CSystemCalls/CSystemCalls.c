#define _GNU_SOURCE
#include "CSystemCalls.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <sys/vfs.h>
#include <linux/fs.h>

ssize_t swelf_copy_file_range(int input, off_t *input_offset, int output, off_t *output_offset,
                              size_t length, unsigned int flags) {
    return copy_file_range(input, input_offset, output, output_offset, length, flags);
}

int swelf_syncfs(int descriptor) { return syncfs(descriptor); }

int swelf_start_writeback(int descriptor, off_t offset, off_t length) {
    return sync_file_range(descriptor, offset, length, SYNC_FILE_RANGE_WRITE);
}

int swelf_wait_writeback(int descriptor) {
    return sync_file_range(descriptor, 0, 0,
                           SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
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

int swelf_openat(int directory, const char *name, int flags, unsigned int mode) {
    return openat(directory, name, flags, (mode_t)mode);
}

int swelf_faccessat(int directory, const char *name, int mode, int flags) {
    return faccessat(directory, name, mode, flags);
}

// FS_IOC_GETFLAGS and FS_IOC_SETFLAGS are in every linux/fs.h (since 2.6.19); only
// FICLONE (4.5) is new enough to need a guard above.
int swelf_get_flags(int descriptor, int *flags) { return ioctl(descriptor, FS_IOC_GETFLAGS, flags); }

int swelf_set_flags(int descriptor, int flags) { return ioctl(descriptor, FS_IOC_SETFLAGS, &flags); }

int swelf_fremovexattr(int descriptor, const char *name) { return fremovexattr(descriptor, name); }

long swelf_file_system_type(int descriptor) {
    struct statfs result;
    if (fstatfs(descriptor, &result) != 0) return -1;
    return (long)result.f_type;
}

int swelf_path_flag(void) { return O_PATH; }
