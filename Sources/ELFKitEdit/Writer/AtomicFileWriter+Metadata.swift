#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

// What the new file keeps of the one it replaces: owner, group, mode, extended
// attributes and inode flags; and the refusal of a file its user may not write.
extension AtomicFileWriter {
    /// The owner, group and mode the new file must end with.
    struct Ownership {
        let owner: uid_t
        let group: gid_t
        let mode: mode_t
    }

    /// Replacing a file: the new one gets its owner, group and whole mode, or the write
    /// is refused. Owner and group first, since a chown clears the set-id bits; then the
    /// mode. Root can give any owner; another user can keep a file they own and a group
    /// they belong to, and nothing else.
    func keepMetadata(of existing: stat, replacing target: ResolvedPath, to output: Int32) throws -> Ownership {
        let user = system.effectiveUser()
        if user != 0 && existing.st_uid != user {
            throw WriteError("cannot keep the owner of \(target) (uid \(existing.st_uid)): the new file would belong to uid \(user), and only root can give a file to another user; left alone")
        }
        guard system.changeOwner(output, existing.st_uid, existing.st_gid) == 0 else {
            throw WriteError("cannot keep the owner and group of \(target) (uid \(existing.st_uid), gid \(existing.st_gid))", code: errno, trailer: "; left alone")
        }
        let mode = existing.st_mode & 0o7777
        guard system.changeMode(output, mode) == 0 else {
            throw WriteError("cannot set the mode of the new file", code: errno)
        }
        try confirm(output, owner: existing.st_uid, group: existing.st_gid, mode: mode, of: target.resolved)
        return Ownership(owner: existing.st_uid, group: existing.st_gid, mode: mode)
    }

    /// A new `--output` file, as `cp -p` makes it: the input's owner, group and mode when
    /// allowed; otherwise the caller's owner or group, and then without the set-user-id or
    /// set-group-id bit that belonged to the owner or group it could not keep.
    func giveMetadata(of input: stat, to output: Int32) throws -> Ownership {
        if system.changeOwner(output, input.st_uid, input.st_gid) != 0 {
            _ = system.changeOwner(output, uid_t.max, input.st_gid)   // uid -1: keep the caller's
        }
        var current = stat()
        guard system.status(output, &current) == 0 else { throw WriteError("cannot stat the new file", code: errno) }
        var mode = input.st_mode & 0o7777
        if current.st_uid != input.st_uid { mode &= ~mode_t(S_ISUID) }
        if current.st_gid != input.st_gid { mode &= ~mode_t(S_ISGID) }
        guard system.changeMode(output, mode) == 0 else {
            throw WriteError("cannot set the mode of the new file", code: errno)
        }
        try confirm(output, owner: current.st_uid, group: current.st_gid, mode: mode, of: "the new file")
        return Ownership(owner: current.st_uid, group: current.st_gid, mode: mode)
    }

    func confirm(_ output: Int32, owner: uid_t, group: gid_t, mode: mode_t, of target: BytePath) throws {
        var result = stat()
        guard system.status(output, &result) == 0 else { throw WriteError("cannot stat the new file", code: errno) }
        guard result.st_uid == owner, result.st_gid == group, result.st_mode & 0o7777 == mode else {
            throw WriteError("the new file did not keep the owner, group and mode of \(target) (uid \(owner) gid \(group) mode \(String(mode, radix: 8)); got uid \(result.st_uid) gid \(result.st_gid) mode \(String(result.st_mode & 0o7777, radix: 8))); left alone")
        }
    }

    /// The POSIX access ACL, kept by the filesystem as this extended attribute.
    static let accessACL = "system.posix_acl_access"

    /// The extended attributes of the file being replaced, or of the input for a new file
    /// (its ACL among them: copied exactly).
    func copyExtendedAttributes(from source: Int32, to output: Int32) {
        guard let list = system.listAttributes, let get = system.getAttribute, let set = system.setAttribute else { return }
        let listSize = list(source, nil, 0)
        guard listSize > 0 else { return }
        var names = [CChar](repeating: 0, count: listSize)
        let got = names.withUnsafeMutableBufferPointer { list(source, $0.baseAddress, listSize) }
        guard got > 0 else { return }
        for raw in names[..<got].split(separator: 0) {
            let name = Array(raw) + [0]
            let valueSize = get(source, name, nil, 0)
            guard valueSize >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: max(valueSize, 1))
            let read = value.withUnsafeMutableBytes { get(source, name, $0.baseAddress, valueSize) }
            guard read >= 0 else { continue }
            // Attributes the filesystem or our privileges refuse (e.g. security.* as a user)
            // are skipped, as cp --preserve=xattr does.
            _ = value.withUnsafeBytes { set(output, name, $0.baseAddress, read, 0) }
        }
    }

    /// True when `descriptor` has the attribute `name`. An attribute that cannot be read
    /// (no xattr support) counts as absent.
    func hasAttribute(_ descriptor: Int32, _ name: String) -> Bool {
        guard let get = system.getAttribute else { return false }
        return get(descriptor, name, nil, 0) >= 0
    }

    /// Removes an attribute the new file must not have. Absent already, or a filesystem
    /// without attributes (hence without ACLs): nothing to do. Any other failure leaves
    /// the new file with it, so the write is refused.
    func removeAttribute(_ descriptor: Int32, _ name: String) throws {
        guard let remove = system.removeAttribute, remove(descriptor, name) != 0 else { return }
        let code = errno
        if code == ENODATA || code == EOPNOTSUPP || code == ENOTSUP { return }
        throw WriteError("cannot remove the \(name) the new file inherited from its directory", code: code)
    }

    /// The `chattr` flags a replaced file keeps: those with a meaning for a file's
    /// contents or handling (`s` secure deletion, `u` undeletable, `c` compressed, `S`
    /// synchronous, `d` nodump, `A` noatime, `m` no compression, `j` data journalling,
    /// `t` no tail-merging, `C` no copy-on-write, `x` DAX). Immutable (`i`) and
    /// append-only (`a`) are never copied: such a file is refused (`refuseUnwritable`).
    /// Flags the filesystem manages itself (extents, inline data, verity) are left to it.
    static let copiedFlags: Int32 = 0x1 | 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x400 | 0x4000 | 0x8000 | 0x80_0000 | 0x200_0000
    static let immutableFlag: Int32 = 0x10
    static let appendOnlyFlag: Int32 = 0x20

    /// Gives the new file the source's `copiedFlags`, those the filesystem and our
    /// privileges allow (`j` needs CAP_SYS_RESOURCE; btrfs takes `C` only on an empty
    /// file): all at once, else one by one. A flag that cannot be set is dropped, as
    /// attributes are.
    func copyFlags(from source: Int32, to output: Int32) {
        var flags: Int32 = 0
        guard system.getFlags(source, &flags) == 0 else { return }
        let wanted = flags & AtomicFileWriter.copiedFlags
        guard wanted != 0 else { return }
        var current: Int32 = 0
        guard system.getFlags(output, &current) == 0 else { return }
        if system.setFlags(output, current | wanted) == 0 { return }
        for bit in 0 ..< 32 where wanted & (1 << bit) != 0 {
            if system.setFlags(output, current | (1 << bit)) == 0 { current |= 1 << bit }
        }
    }

    /// The file being replaced must be one its user may write, as it would be for
    /// patchelf, which opens it for writing: a read-only file (a Nix store path, `chmod
    /// a-w` by its own user) is left alone unless `allowReadOnly`. Root may write any
    /// file, except where the kernel says no: an immutable or append-only file, which a
    /// rename could replace anyway (it replaces the name, not the inode), is refused
    /// even with `allowReadOnly`.
    func refuseUnwritable(_ location: ResolvedPath, file: Int32) throws {
        var flags: Int32 = 0
        if system.getFlags(file, &flags) == 0 && flags & (AtomicFileWriter.immutableFlag | AtomicFileWriter.appendOnlyFlag) != 0 {
            let which = flags & AtomicFileWriter.immutableFlag != 0 ? "immutable (chattr +i)" : "append-only (chattr +a)"
            throw WriteError("cannot replace \(location): it is \(which); left alone")
        }
        guard !allowReadOnly else { return }
        guard location.withName({ system.access(location.directory, $0, W_OK) }) != 0 else { return }
        let code = errno
        throw NotWritable(path: location.path, code: code)
    }

    /// What a write of `path` would refuse before it writes a byte, checked without writing
    /// or locking: the path names a regular file (`refuseUnwritable`: its user may write it,
    /// it is not immutable) in a directory that takes a new file (the temporary file made
    /// beside it). A many-file edit runs it on every file before it writes the first, so a
    /// read-only file or directory stops the run with nothing written. What only writing
    /// shows (a full file system, a file replaced meanwhile) it cannot foresee.
    package func checkReplaceable(_ path: BytePath) throws {
        let location = try resolve(path, reading: true)
        let file = location.withName { system.open(location.directory, $0, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY) }
        guard file >= 0 else { throw ELFError(.io, "cannot open: \(systemErrorMessage(errno))") }
        defer { _ = system.close(file) }
        var status = stat()
        guard system.status(file, &status) == 0 else { throw ELFError(.io, "cannot stat: \(systemErrorMessage(errno))") }
        guard status.st_mode & S_IFMT == S_IFREG else { throw ELFError(.io, "not a regular file") }
        try refuseUnwritable(location, file: file)
        // The directory as it was resolved: `.` through its descriptor (an O_PATH one, which
        // faccessat accepts). Root passes unless the file system is mounted read-only.
        guard ".".withCString({ system.access(location.directory, $0, W_OK) }) == 0 else {
            throw WriteError("cannot create the new file beside \(location)", code: errno)
        }
    }
}
