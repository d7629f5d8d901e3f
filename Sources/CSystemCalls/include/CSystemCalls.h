// System calls that Swift's Glibc module does not import: they sit behind _GNU_SOURCE
// (copy_file_range, syncfs, sync_file_range), in headers its module map leaves out (the xattr calls,
// the FS_IOC_*FLAGS ioctls), or take variadic arguments Swift cannot pass (openat's mode, ioctl).
//
// They are called directly, not looked up with dlsym: in a fully static executable
// (scripts/install builds swelf with -static-executable) dlsym(RTLD_DEFAULT, ...) finds
// nothing, and the writer would silently lose kernel copies and extended attributes.
#ifndef SWELF_CSYSTEMCALLS_H
#define SWELF_CSYSTEMCALLS_H

#include <stddef.h>
#include <sys/types.h>

ssize_t swelf_copy_file_range(int input, off_t *input_offset, int output, off_t *output_offset,
                              size_t length, unsigned int flags);
int swelf_syncfs(int descriptor);
/// sync_file_range(descriptor, offset, length, SYNC_FILE_RANGE_WRITE): starts writing the
/// range's dirty pages to disk and returns without waiting (a hint; fsync still decides).
int swelf_start_writeback(int descriptor, off_t offset, off_t length);
/// sync_file_range(descriptor, 0, 0, WAIT_BEFORE | WRITE | WAIT_AFTER): writes the whole
/// file's dirty pages and waits, without the device cache flush fsync adds; its result
/// reports a write error of the file (the descriptor's errseq), as fsync's would.
int swelf_wait_writeback(int descriptor);
/// ioctl(output, FICLONE, input): the output becomes the whole input, sharing its blocks
/// (a reflink: btrfs, XFS, bcachefs); -1 with errno EOPNOTSUPP, EXDEV, EINVAL or ENOTTY
/// where the filesystems cannot.
int swelf_clone(int input, int output);
ssize_t swelf_flistxattr(int descriptor, char *list, size_t size);
ssize_t swelf_fgetxattr(int descriptor, const char *name, void *value, size_t size);
int swelf_fsetxattr(int descriptor, const char *name, const void *value, size_t size, int flags);
int swelf_fremovexattr(int descriptor, const char *name);
/// openat(2), whose mode argument is variadic in C and so not callable from Swift.
int swelf_openat(int directory, const char *name, int flags, unsigned int mode);
/// faccessat(2) (glibc's, which uses faccessat2 where the kernel has it, so that
/// AT_EACCESS and AT_SYMLINK_NOFOLLOW are honoured).
int swelf_faccessat(int directory, const char *name, int mode, int flags);
/// ioctl(FS_IOC_GETFLAGS / FS_IOC_SETFLAGS): the file attribute flags chattr(1) shows
/// (immutable, append-only, nodump, noatime, sync, ...); -1 with ENOTTY or EOPNOTSUPP
/// where the filesystem has none.
int swelf_get_flags(int descriptor, int *flags);
int swelf_set_flags(int descriptor, int flags);
/// fstatfs(2)'s f_type (PROC_SUPER_MAGIC, ...), or -1.
long swelf_file_system_type(int descriptor);
/// O_PATH, which Swift's Glibc module does not import (it is behind _GNU_SOURCE).
int swelf_path_flag(void);

#endif
