#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

/// Which file a path names, as ld.so compares it: `st_dev` and `st_ino`. ld.so reuses an
/// object already loaded when a search reaches the same file under another name
/// (`_dl_map_object_from_fd` compares `l_file_id`), e.g. `/lib/x86_64-linux-gnu/libc.so.6`
/// and `/usr/lib/x86_64-linux-gnu/libc.so.6` on a merged-/usr system.
package struct FileIdentity: Hashable, Sendable {
    package let device: UInt64
    package let inode: UInt64
}

/// What `stat(2)` says about a file, reduced to what the loader and the kernel look at.
package struct FileStatus: Sendable {
    package let identity: FileIdentity
    package let mode: UInt32
    package let owner: UInt32
    package let group: UInt32
    package let size: UInt64

    package var isRegular: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFREG) }
    package var isDirectory: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFDIR) }
    package var isSetUID: Bool { mode & UInt32(S_ISUID) != 0 }
    package var isSetGID: Bool { mode & UInt32(S_ISGID) != 0 }
    /// Any of the three execute bits.
    package var hasExecuteBit: Bool { mode & 0o111 != 0 }
    /// `-rwxr-xr-x`-style permission digits, e.g. `0755`.
    package var permissions: String {
        let digits = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

/// The files the loader would see, mapped onto this machine.
///
/// Without a root this is the machine's own file system. With a root (`--root DIR`),
/// the absolute paths the target system would use (system directories, the cache, the
/// interpreter, absolute RPATH/RUNPATH entries) are looked up under DIR, and symbolic
/// links met on the way are resolved inside DIR as `chroot` would: an absolute link
/// target starts again at DIR and `..` never climbs above it. A rootfs commonly has
/// `/lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/...`, which must not lead to
/// this machine's loader.
///
/// Every path the resolver handles is a path on this machine ("host path"); `targetPath`
/// turns a target-absolute path into one.
package struct LoaderFileSystem: Sendable {
    /// The root without a trailing slash; nil for the machine's own file system.
    package let root: String?

    package init(root: String? = nil) {
        if let root, !root.isEmpty {
            var trimmed = root
            while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
            self.root = trimmed == "/" ? nil : trimmed
        } else {
            self.root = nil
        }
    }

    /// The host path of an absolute path on the target system.
    package func targetPath(_ path: String) -> String {
        guard let root, path.hasPrefix("/") else { return path }
        return root + path
    }

    /// A host path with the root taken off, for showing the path the target sees; the
    /// path unchanged when it is outside the root.
    package func pathInTarget(_ hostPath: String) -> String {
        guard let root, hostPath.hasPrefix(root + "/") else { return hostPath }
        return String(hostPath.dropFirst(root.count))
    }

    /// The host path to open for `path`: `path` itself without a root or when it lies
    /// outside the root; otherwise the path with every symbolic link below the root
    /// resolved inside the root. nil when a link loop or overlong chain is met.
    package func accessPath(_ path: String) -> String? {
        guard let root, path.hasPrefix(root + "/") else { return path }
        var pending = Array(path.dropFirst(root.count).split(separator: "/").map(String.init).reversed())
        var resolved: [String] = []
        var links = 0
        while let component = pending.popLast() {
            if component == "." || component.isEmpty { continue }
            if component == ".." {
                if !resolved.isEmpty { resolved.removeLast() }
                continue
            }
            let candidate = root + "/" + (resolved + [component]).joined(separator: "/")
            if let target = LoaderFileSystem.readLink(candidate) {
                links += 1
                if links > 40 { return nil }  // ELOOP, as the kernel's limit
                let parts = target.split(separator: "/").map(String.init)
                if target.hasPrefix("/") { resolved = [] }
                pending.append(contentsOf: parts.reversed())
            } else {
                resolved.append(component)
            }
        }
        return root + "/" + resolved.joined(separator: "/")
    }

    /// `stat(2)` of the file `path` leads to (symbolic links followed).
    package func status(_ path: String) -> FileStatus? {
        guard let access = accessPath(path) else { return nil }
        var info = stat()
        guard BytePath(access).withCString({ stat($0, &info) }) == 0 else { return nil }
        return FileStatus(identity: FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)),
                          mode: UInt32(info.st_mode), owner: UInt32(info.st_uid), group: UInt32(info.st_gid),
                          size: UInt64(info.st_size))
    }

    /// Why `path` cannot be opened for reading, as `strerror` words it; nil if it can.
    package func openError(_ path: String) -> String? {
        guard let access = accessPath(path) else { return systemErrorMessage(ELOOP) }
        let fd = BytePath(access).withCString { Glibc.open($0, O_RDONLY | O_CLOEXEC) }
        if fd < 0 { return systemErrorMessage(errno) }
        close(fd)
        return nil
    }

    package func isDirectory(_ path: String) -> Bool { status(path)?.isDirectory ?? false }

    /// Opens an ELF file for reading.
    package func open(_ path: String) throws(ELFError) -> ELFFile {
        guard let access = accessPath(path) else { throw ELFError(.io, "cannot open: \(systemErrorMessage(ELOOP))") }
        return try ELFFile(path: BytePath(access))
    }

    /// The first bytes of a file (fewer if it is shorter), or nil if it cannot be read.
    package func prefix(_ path: String, count: Int) -> [UInt8]? {
        guard let access = accessPath(path), let source = try? FileByteSource(path: BytePath(access)) else { return nil }
        return try? source.bytes(at: 0, count: min(UInt64(count), source.size), "file start")
    }

    /// The canonical absolute path (`realpath(3)`), which is what the kernel reports as
    /// `/proc/self/exe` and what ld.so takes `$ORIGIN` of the executable from.
    package func canonicalPath(_ path: String) -> String? {
        if root != nil, let access = accessPath(path) {
            guard let resolved = LoaderFileSystem.realPath(access) else { return nil }
            // Links inside the root were already resolved; realpath only tidies up.
            return resolved
        }
        return LoaderFileSystem.realPath(path)
    }

    /// Does the mount holding `path` forbid execution (`ST_NOEXEC`)?
    package func isOnNoexecMount(_ path: String) -> Bool {
        guard let access = accessPath(path) else { return false }
        var info = statvfs()
        guard BytePath(access).withCString({ statvfs($0, &info) }) == 0 else { return false }
        return info.f_flag & 8 != 0  // ST_NOEXEC
    }

    /// The value of an extended attribute of `path`, nil when it has none (or the
    /// system cannot say). Used for `security.capability` and `security.selinux`.
    package func extendedAttribute(_ path: String, name: String) -> [UInt8]? {
        guard let access = accessPath(path), let getAttribute = SystemCalls().getAttribute else { return nil }
        let fd = BytePath(access).withCString { Glibc.open($0, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let length = buffer.withUnsafeMutableBytes { getAttribute(fd, name, $0.baseAddress, $0.count) }
        guard length >= 0 else { return nil }
        return Array(buffer.prefix(length))
    }

    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = BytePath(path).withCString { readlink($0, &buffer, buffer.count - 1) }
        guard length >= 0 else { return nil }
        return ByteText.string(buffer.prefix(length).map { UInt8(bitPattern: $0) })
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = BytePath(path).withCString({ realpath($0, nil) }) else { return nil }
        defer { free(resolved) }
        return BytePath(cString: resolved).description
    }
}

/// Path text helpers (no Foundation in the core).
package enum PathText {
    /// Everything before the last slash: `dirname` without the special cases for a path
    /// that has no slash (`.`) or is the root (`/`).
    package static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    package static func lastComponent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// `directory` joined with `name`, with exactly one slash between them.
    package static func join(_ directory: String, _ name: String) -> String {
        if directory.isEmpty { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
