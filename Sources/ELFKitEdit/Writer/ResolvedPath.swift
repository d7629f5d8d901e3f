#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

/// A path resolved once: an open directory (`O_PATH`) and one name in it.
///
/// Everything the writer does to a file (open, lock check, create the temporary, check,
/// rename, unlink) goes through `*at` calls on this directory and name, never through
/// the path again. So once swelf has resolved the user's path, nobody can turn it: a
/// directory renamed away or replaced by a symbolic link changes nothing (swelf holds
/// the directory itself), and a file swapped for a symbolic link is never followed (the
/// name is only ever looked up with `AT_SYMLINK_NOFOLLOW` / `O_NOFOLLOW`, and a rename
/// replaces the link, not its target).
///
/// Symbolic links in the user's path are followed when it is resolved, each one once,
/// as the kernel would, except a link the kernel's `fs.protected_symlinks` rule refuses
/// (whatever that sysctl says on this machine): one in a sticky world-writable
/// directory (`/tmp`) whose owner is neither the follower (the effective user) nor the
/// directory's owner. Another user planted it; following it would let them choose which
/// file root replaces.
package final class ResolvedPath: @unchecked Sendable, CustomStringConvertible {
    /// `pathOnlyFlag | O_DIRECTORY`, closed when the value goes.
    package let directory: Int32
    /// One path component, never empty, `.` or `..`.
    package let name: [UInt8]
    /// As the user gave it.
    package let path: BytePath
    /// The directory's path (from /proc) and the name, for messages.
    package let resolved: BytePath
    /// The name is a link in /proc (`/dev/stdout` ends in `/proc/self/fd/1`, whose text
    /// is `pipe:[…]` or a deleted file's name, not a path): only the kernel can follow it.
    /// Such a destination is written in place when it is a device or a FIFO, else refused.
    package let kernelLink: Bool
    let system: SystemCalls

    init(directory: Int32, name: [UInt8], path: BytePath, kernelLink: Bool, system: SystemCalls) {
        self.directory = directory
        self.name = name
        self.path = path
        self.kernelLink = kernelLink
        self.system = system
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/fd/\(directory)", &buffer, Int(PATH_MAX))
        if count > 0 {
            let text = buffer[..<count].map { UInt8(bitPattern: $0) }
            resolved = text == [UInt8(ascii: "/")] ? BytePath(bytes: text + name) : BytePath(bytes: text).appending(name)
        } else {
            resolved = path
        }
    }

    deinit { _ = system.close(directory) }

    /// The resolved path (the directory as /proc shows it, and the name).
    package var description: String { resolved.description }

    /// `name` in the same directory, for messages.
    package func sibling(_ name: [UInt8]) -> BytePath {
        resolved.directory.appending(name)
    }

    /// Calls `body` with the name as a C string.
    package func withName<Result>(_ body: (UnsafePointer<CChar>) throws -> Result) rethrows -> Result {
        try BytePath(bytes: name).withCString(body)
    }

    /// `fstatat(directory, name, AT_SYMLINK_NOFOLLOW)`; nil with `errno` set on failure.
    package func status() -> stat? {
        var result = stat()
        return withName { system.pathStatus(directory, $0, &result, AT_SYMLINK_NOFOLLOW) } == 0 ? result : nil
    }

    /// True when both name one directory entry, or one inode now.
    package func namesSameFile(as other: ResolvedPath) -> Bool {
        if other === self { return true }
        guard let mine = status(), let theirs = other.status() else { return false }
        return mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino
    }
}

/// Why a path could not be resolved.
package enum PathResolutionError: Error {
    /// A system call failed with this `errno`.
    case system(Int32)
    /// A link `protected_symlinks` refuses: its path, its owner, the directory's path.
    case protectedLink(link: BytePath, owner: uid_t, directory: BytePath)
}

extension SystemCalls {
    /// `PROC_SUPER_MAGIC`.
    static let procFileSystem = 0x9fa0
    /// The kernel's limit on links followed in one lookup (`MAXSYMLINKS`).
    static let maximumLinks = 40

    /// Resolves `path` to an open directory and a name, following symbolic links as the
    /// kernel would (each one once), except links `protected_symlinks` refuses. The name
    /// need not exist (a new `--output`, or a dangling link's target, which is created).
    package func resolve(_ path: BytePath) throws(PathResolutionError) -> ResolvedPath {
        let slash = UInt8(ascii: "/")
        guard !path.isEmpty else { throw .system(ENOENT) }
        // A trailing slash asks for a directory, which swelf never writes.
        if path.bytes.last == slash { throw .system(EISDIR) }
        var pending = path.bytes.split(separator: slash, omittingEmptySubsequences: true).map(Array.init)
        if pending.isEmpty { throw .system(EISDIR) }   // "/"
        var current = try openDirectory(startingAt: path.bytes.first == slash)
        var followed = 0
        // `current` is replaced as the walk goes down; the last one is handed over.
        var handedOver = false
        defer { if !handedOver { _ = close(current) } }
        var shown: [UInt8] = path.bytes.first == slash ? [slash] : []
        var kernelLink = false
        while true {
            // Never empty here: a path or link text with no component at all is refused
            // before it is walked (EISDIR), and the walk leaves the loop on the last one.
            let component = pending.removeFirst()
            let last = pending.isEmpty
            if component == [UInt8(ascii: ".")] || component == [UInt8(ascii: "."), UInt8(ascii: ".")] {
                if last { throw .system(EISDIR) }
                let next = BytePath(bytes: component).withCString { open(current, $0, pathOnlyFlag | O_DIRECTORY | O_CLOEXEC) }
                guard next >= 0 else { throw .system(errno) }
                _ = close(current)
                current = next
                shown += component + [slash]
                continue
            }
            var link = stat()
            let looked = BytePath(bytes: component).withCString { pathStatus(current, $0, &link, AT_SYMLINK_NOFOLLOW) }
            if looked != 0 {
                let code = errno
                if code == ENOENT && last { pending = [component]; break }   // to be created
                throw .system(code)
            }
            if (link.st_mode & S_IFMT) == S_IFLNK {
                let inProc = fileSystemType(current) == SystemCalls.procFileSystem
                if inProc && last {
                    // A kernel link (/proc/self/fd/1): its text is no path to walk.
                    kernelLink = true
                    pending = [component]
                    break
                }
                if !inProc {
                    var directoryStatus = stat()
                    guard status(current, &directoryStatus) == 0 else { throw .system(errno) }
                    if protectedLinkRefused(link: link, directory: directoryStatus) {
                        throw .protectedLink(link: BytePath(bytes: shown + component), owner: link.st_uid,
                                             directory: BytePath(bytes: shown.isEmpty ? [UInt8(ascii: ".")]
                                                                 : shown.count > 1 ? Array(shown.dropLast()) : shown))
                    }
                }
                followed += 1
                guard followed <= SystemCalls.maximumLinks else { throw .system(ELOOP) }
                let target = try readLinkText(current, component)
                guard !target.isEmpty else { throw .system(ENOENT) }
                if target.first == slash {
                    let root = try openDirectory(startingAt: true)
                    _ = close(current)
                    current = root
                    shown = [slash]
                }
                if target.last == slash && last { throw .system(EISDIR) }
                pending = target.split(separator: slash, omittingEmptySubsequences: true).map(Array.init) + pending
                if pending.isEmpty { throw .system(EISDIR) }   // a link to "/"
                continue
            }
            if last { pending = [component]; break }
            guard (link.st_mode & S_IFMT) == S_IFDIR else { throw .system(ENOTDIR) }
            // O_NOFOLLOW: swapped for a link since the fstatat, it is refused (ELOOP or
            // ENOTDIR), not followed unchecked.
            let next = BytePath(bytes: component).withCString { open(current, $0, pathOnlyFlag | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard next >= 0 else { throw .system(errno) }
            _ = close(current)
            current = next
            shown += component + [slash]
        }
        handedOver = true
        return ResolvedPath(directory: current, name: pending[0], path: path, kernelLink: kernelLink, system: self)
    }

    private func openDirectory(startingAt root: Bool) throws(PathResolutionError) -> Int32 {
        let descriptor = open(AT_FDCWD, root ? "/" : ".", pathOnlyFlag | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .system(errno) }
        return descriptor
    }

    private func readLinkText(_ directory: Int32, _ name: [UInt8]) throws(PathResolutionError) -> [UInt8] {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = BytePath(bytes: name).withCString { readLink(directory, $0, &buffer, Int(PATH_MAX)) }
        guard count >= 0 else { throw .system(errno) }
        return buffer[..<count].map { UInt8(bitPattern: $0) }
    }

    /// The kernel's `may_follow_link` (fs/namei.c) with `protected_symlinks = 1`: a link
    /// in a sticky, world-writable directory is followed only by its owner, or when the
    /// directory's owner owns it too.
    func protectedLinkRefused(link: stat, directory: stat) -> Bool {
        let sticky = directory.st_mode & mode_t(S_ISVTX) != 0
        let worldWritable = directory.st_mode & mode_t(S_IWOTH) != 0
        guard sticky && worldWritable else { return false }
        return link.st_uid != effectiveUser() && link.st_uid != directory.st_uid
    }
}
