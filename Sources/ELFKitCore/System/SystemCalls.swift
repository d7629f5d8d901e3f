#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemCalls

/// Every system call the writer makes, as a value: `SystemCalls()` holds the real ones,
/// and a test replaces one of them to make that step fail (`FaultInjectionTests`).
///
/// The seam costs an indirect call per system call and no global state: the writer
/// holds its own copy. Each closure has the C function's signature and conventions
/// (−1 and `errno` on failure), so the writer's checks are the ones it makes against
/// the real calls. `copy_file_range`, `syncfs`, `sync_file_range`, `FICLONE`, the `FS_IOC_*FLAGS`
/// ioctls, `openat` with a mode, `faccessat` and the xattr calls are not
/// imported by Swift's Glibc module (they sit behind `_GNU_SOURCE` or in headers the
/// module map leaves out); the small C target `CSystemCalls` calls them. (Looking them
/// up with `dlsym` finds nothing in a fully static executable, which is how swelf is
/// installed.) A kernel without one of them answers `ENOSYS`, and the caller falls back.
package struct SystemCalls {
    package typealias CopyFileRange = (Int32, UnsafeMutablePointer<off_t>?, Int32, UnsafeMutablePointer<off_t>?, Int, UInt32) -> Int
    package typealias ListAttributes = (Int32, UnsafeMutablePointer<CChar>?, Int) -> Int
    package typealias GetAttribute = (Int32, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
    package typealias SetAttribute = (Int32, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32

    // Every call that takes a name takes it relative to a directory descriptor (the
    // `*at` calls): the writer resolves a destination once, to an open directory and a
    // name, and from then on nothing it does can be turned elsewhere by a symbolic link
    // or a renamed directory (see `ResolvedPath`).

    /// `openat(directory, name, flags, 0)`.
    package var open: (_ directory: Int32, _ name: UnsafePointer<CChar>, _ flags: Int32) -> Int32
    /// `openat(directory, ".", O_TMPFILE | O_RDWR, 0600)`: a file with no name, which
    /// vanishes when the last descriptor closes (−1 with `EOPNOTSUPP` where unsupported).
    package var openAnonymous: (_ directory: Int32) -> Int32
    /// Gives an anonymous file (`openAnonymous`) the name `name` in `directory` (`linkat`).
    package var name: (_ file: Int32, _ directory: Int32, _ name: UnsafePointer<CChar>) -> Int32
    /// `openat(directory, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600)`: a new
    /// named temporary file, where there is no `O_TMPFILE`.
    package var makeTemporary: (_ directory: Int32, _ name: UnsafePointer<CChar>) -> Int32
    package var close: (Int32) -> Int32
    package var lock: (Int32, Int32) -> Int32
    package var status: (Int32, UnsafeMutablePointer<stat>) -> Int32
    /// `fstatat(directory, name, result, flags)`.
    package var pathStatus: (_ directory: Int32, _ name: UnsafePointer<CChar>, UnsafeMutablePointer<stat>, _ flags: Int32) -> Int32
    /// `readlinkat(directory, name, buffer, size)`.
    package var readLink: (_ directory: Int32, _ name: UnsafePointer<CChar>, UnsafeMutablePointer<CChar>, Int) -> Int
    /// `faccessat(directory, name, mode, AT_EACCESS | AT_SYMLINK_NOFOLLOW)`: what the
    /// kernel would answer to an open for `mode` by this process's effective ids.
    package var access: (_ directory: Int32, _ name: UnsafePointer<CChar>, _ mode: Int32) -> Int32
    /// `fstatfs`'s `f_type` (−1 on failure).
    package var fileSystemType: (Int32) -> Int
    package var read: (Int32, UnsafeMutableRawPointer, Int, off_t) -> Int
    package var write: (Int32, UnsafeRawPointer, Int, off_t) -> Int
    /// `write(2)` at the current position, for outputs that cannot seek (a FIFO).
    package var writeSequential: (Int32, UnsafeRawPointer, Int) -> Int
    package var truncate: (Int32, off_t) -> Int32
    /// lseek(2); the writer asks it for SEEK_DATA and SEEK_HOLE.
    package var seek: (Int32, off_t, Int32) -> off_t
    package var sync: (Int32) -> Int32
    /// `syncfs(2)`: everything written to the filesystem holding the descriptor.
    package var syncFileSystem: (Int32) -> Int32
    /// `sync_file_range(…, SYNC_FILE_RANGE_WRITE)`: starts the disk writes of a range
    /// without waiting for them, so that they overlap the rest of the copy.
    package var startWriteback: (Int32, off_t, off_t) -> Int32
    /// `sync_file_range(…, WAIT_BEFORE | WRITE | WAIT_AFTER)` on the whole file: after a
    /// `syncfs`, the file's own write error (as `fsync` reports it) without another flush
    /// of the device's cache.
    package var waitWriteback: (Int32) -> Int32
    /// `ioctl(output, FICLONE, input)`: the output shares all the input's blocks.
    package var clone: (_ input: Int32, _ output: Int32) -> Int32
    package var changeOwner: (Int32, uid_t, gid_t) -> Int32
    package var changeMode: (Int32, mode_t) -> Int32
    /// `renameat(directory, from, directory, to)`.
    package var rename: (_ fromDirectory: Int32, _ from: UnsafePointer<CChar>, _ toDirectory: Int32, _ to: UnsafePointer<CChar>) -> Int32
    /// `unlinkat(directory, name, 0)`.
    package var unlink: (_ directory: Int32, _ name: UnsafePointer<CChar>) -> Int32
    /// `FS_IOC_GETFLAGS` and `FS_IOC_SETFLAGS`: the flags `chattr` sets.
    package var getFlags: (Int32, UnsafeMutablePointer<Int32>) -> Int32
    package var setFlags: (Int32, Int32) -> Int32
    package var effectiveUser: () -> uid_t
    package var copyFileRange: CopyFileRange?
    package var listAttributes: ListAttributes?
    package var getAttribute: GetAttribute?
    package var setAttribute: SetAttribute?
    package var removeAttribute: ((Int32, UnsafePointer<CChar>) -> Int32)?

    package init() {
        open = { swelf_openat($0, $1, $2, 0) }
        openAnonymous = { directory in
            guard let flag = anonymousFileFlag else { errno = EOPNOTSUPP; return -1 }
            return swelf_openat(directory, ".", O_RDWR | O_CLOEXEC | flag, 0o600)
        }
        name = { descriptor, directory, name in
            // Through /proc, which any user may do; without /proc, AT_EMPTY_PATH, which
            // needs CAP_DAC_READ_SEARCH.
            if linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", directory, name, AT_SYMLINK_FOLLOW) == 0 { return 0 }
            guard errno == ENOENT else { return -1 }
            return linkat(descriptor, "", directory, name, atEmptyPath)
        }
        makeTemporary = { swelf_openat($0, $1, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        close = { Glibc.close($0) }
        lock = systemFlock
        status = { Glibc.fstat($0, $1) }
        pathStatus = { Glibc.fstatat($0, $1, $2, $3) }
        readLink = { Glibc.readlinkat($0, $1, $2, $3) }
        access = { swelf_faccessat($0, $1, $2, AT_EACCESS | AT_SYMLINK_NOFOLLOW) }
        fileSystemType = { Int(swelf_file_system_type($0)) }
        read = { Glibc.pread($0, $1, $2, $3) }
        write = { Glibc.pwrite($0, $1, $2, $3) }
        writeSequential = { Glibc.write($0, $1, $2) }
        truncate = { Glibc.ftruncate($0, $1) }
        seek = { Glibc.lseek($0, $1, $2) }
        sync = { Glibc.fsync($0) }
        syncFileSystem = { swelf_syncfs($0) }
        startWriteback = { swelf_start_writeback($0, $1, $2) }
        waitWriteback = { swelf_wait_writeback($0) }
        clone = { swelf_clone($0, $1) }
        changeOwner = { Glibc.fchown($0, $1, $2) }
        changeMode = { Glibc.fchmod($0, $1) }
        rename = { Glibc.renameat($0, $1, $2, $3) }
        unlink = { Glibc.unlinkat($0, $1, 0) }
        getFlags = { swelf_get_flags($0, $1) }
        setFlags = { swelf_set_flags($0, $1) }
        effectiveUser = { Glibc.geteuid() }
        copyFileRange = { swelf_copy_file_range($0, $1, $2, $3, $4, $5) }
        listAttributes = { swelf_flistxattr($0, $1, $2) }
        getAttribute = { swelf_fgetxattr($0, $1, $2, $3) }
        setAttribute = { swelf_fsetxattr($0, $1, $2, $3, $4) }
        removeAttribute = { swelf_fremovexattr($0, $1) }
    }
}

// `flock` is also a struct name; outside the struct's initialiser the call resolves to
// the function.
private func systemFlock(_ descriptor: Int32, _ operation: Int32) -> Int32 { flock(descriptor, operation) }

/// `O_TMPFILE` (not imported by Swift's Glibc module): `__O_TMPFILE | O_DIRECTORY`, with
/// the asm-generic `__O_TMPFILE` that these architectures share. Elsewhere nil, and the
/// writer uses a named temporary file.
#if os(Linux) && (arch(x86_64) || arch(i386) || arch(arm64) || arch(arm) || arch(riscv64) || arch(s390x) || arch(powerpc64le))
private let anonymousFileFlag: Int32? = 0o20000000 | O_DIRECTORY
#else
private let anonymousFileFlag: Int32? = nil
#endif

/// `O_PATH`: a descriptor that names a file or directory without opening it for reading,
/// usable as the directory of the `*at` calls (it needs only search permission).
package let pathOnlyFlag: Int32 = swelf_path_flag()

/// `AT_EMPTY_PATH`, the same on every Linux architecture, not imported either.
private let atEmptyPath: Int32 = 0x1000
