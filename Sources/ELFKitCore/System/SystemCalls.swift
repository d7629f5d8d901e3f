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
/// the real calls. `copy_file_range`, `syncfs`, `sync_file_range`, `FICLONE` and the xattr calls are not
/// imported by Swift's Glibc module (they sit behind `_GNU_SOURCE` or in headers the
/// module map leaves out); the small C target `CSystemCalls` calls them. (Looking them
/// up with `dlsym` finds nothing in a fully static executable, which is how swelf is
/// installed.) A kernel without one of them answers `ENOSYS`, and the caller falls back.
package struct SystemCalls {
    package typealias CopyFileRange = (Int32, UnsafeMutablePointer<off_t>?, Int32, UnsafeMutablePointer<off_t>?, Int, UInt32) -> Int
    package typealias ListAttributes = (Int32, UnsafeMutablePointer<CChar>?, Int) -> Int
    package typealias GetAttribute = (Int32, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
    package typealias SetAttribute = (Int32, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32

    package var open: (UnsafePointer<CChar>, Int32) -> Int32
    /// `open(directory, O_TMPFILE | O_RDWR, 0600)`: a file with no name, which vanishes
    /// when the last descriptor closes (−1 with `EOPNOTSUPP` where unsupported).
    package var openAnonymous: (UnsafePointer<CChar>) -> Int32
    /// Gives an anonymous file (`openAnonymous`) the name `path` (`linkat`).
    package var name: (Int32, UnsafePointer<CChar>) -> Int32
    package var makeTemporary: (UnsafeMutablePointer<CChar>) -> Int32
    package var close: (Int32) -> Int32
    package var lock: (Int32, Int32) -> Int32
    package var status: (Int32, UnsafeMutablePointer<stat>) -> Int32
    package var pathStatus: (UnsafePointer<CChar>, UnsafeMutablePointer<stat>) -> Int32
    package var read: (Int32, UnsafeMutableRawPointer, Int, off_t) -> Int
    package var write: (Int32, UnsafeRawPointer, Int, off_t) -> Int
    /// `write(2)` at the current position, for outputs that cannot seek (a FIFO).
    package var writeSequential: (Int32, UnsafeRawPointer, Int) -> Int
    package var truncate: (Int32, off_t) -> Int32
    package var sync: (Int32) -> Int32
    /// `syncfs(2)`: everything written to the filesystem holding the descriptor.
    package var syncFileSystem: (Int32) -> Int32
    /// `sync_file_range(…, SYNC_FILE_RANGE_WRITE)`: starts the disk writes of a range
    /// without waiting for them, so that they overlap the rest of the copy.
    package var startWriteback: (Int32, off_t, off_t) -> Int32
    /// `ioctl(output, FICLONE, input)`: the output shares all the input's blocks.
    package var clone: (_ input: Int32, _ output: Int32) -> Int32
    package var changeOwner: (Int32, uid_t, gid_t) -> Int32
    package var changeMode: (Int32, mode_t) -> Int32
    package var rename: (UnsafePointer<CChar>, UnsafePointer<CChar>) -> Int32
    package var unlink: (UnsafePointer<CChar>) -> Int32
    package var effectiveUser: () -> uid_t
    package var copyFileRange: CopyFileRange?
    package var listAttributes: ListAttributes?
    package var getAttribute: GetAttribute?
    package var setAttribute: SetAttribute?

    package init() {
        open = { Glibc.open($0, $1) }
        openAnonymous = { directory in
            guard let flag = anonymousFileFlag else { errno = EOPNOTSUPP; return -1 }
            return Glibc.open(directory, O_RDWR | O_CLOEXEC | flag, 0o600)
        }
        name = { descriptor, path in
            // Through /proc, which any user may do; without /proc, AT_EMPTY_PATH, which
            // needs CAP_DAC_READ_SEARCH.
            if linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 { return 0 }
            guard errno == ENOENT else { return -1 }
            return linkat(descriptor, "", AT_FDCWD, path, atEmptyPath)
        }
        makeTemporary = { Glibc.mkstemp($0) }
        close = { Glibc.close($0) }
        lock = systemFlock
        status = { Glibc.fstat($0, $1) }
        pathStatus = systemStat
        read = { Glibc.pread($0, $1, $2, $3) }
        write = { Glibc.pwrite($0, $1, $2, $3) }
        writeSequential = { Glibc.write($0, $1, $2) }
        truncate = { Glibc.ftruncate($0, $1) }
        sync = { Glibc.fsync($0) }
        syncFileSystem = { swelf_syncfs($0) }
        startWriteback = { swelf_start_writeback($0, $1, $2) }
        clone = { swelf_clone($0, $1) }
        changeOwner = { Glibc.fchown($0, $1, $2) }
        changeMode = { Glibc.fchmod($0, $1) }
        rename = { Glibc.rename($0, $1) }
        unlink = { Glibc.unlink($0) }
        effectiveUser = { Glibc.geteuid() }
        copyFileRange = { swelf_copy_file_range($0, $1, $2, $3, $4, $5) }
        listAttributes = { swelf_flistxattr($0, $1, $2) }
        getAttribute = { swelf_fgetxattr($0, $1, $2, $3) }
        setAttribute = { swelf_fsetxattr($0, $1, $2, $3, $4) }
    }
}

// `flock` and `stat` are also struct names; outside the struct's initialiser the calls
// resolve to the functions.
private func systemFlock(_ descriptor: Int32, _ operation: Int32) -> Int32 { flock(descriptor, operation) }
private func systemStat(_ path: UnsafePointer<CChar>, _ result: UnsafeMutablePointer<stat>) -> Int32 { stat(path, result) }

/// `O_TMPFILE` (not imported by Swift's Glibc module): `__O_TMPFILE | O_DIRECTORY`, with
/// the asm-generic `__O_TMPFILE` that these architectures share. Elsewhere nil, and the
/// writer uses a named temporary file.
#if os(Linux) && (arch(x86_64) || arch(i386) || arch(arm64) || arch(arm) || arch(riscv64) || arch(s390x) || arch(powerpc64le))
private let anonymousFileFlag: Int32? = 0o20000000 | O_DIRECTORY
#else
private let anonymousFileFlag: Int32? = nil
#endif

/// `AT_EMPTY_PATH`, the same on every Linux architecture, not imported either.
private let atEmptyPath: Int32 = 0x1000
