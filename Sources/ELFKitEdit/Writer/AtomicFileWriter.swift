#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

/// A failure of the file system while producing the output, or a file that changed under
/// swelf so that it left it alone.
public struct WriteError: Error, CustomStringConvertible, Sendable {
    /// What swelf was doing or found, without the system's reason: "cannot open /x".
    public let message: String
    /// The `errno` of the system call that failed (`EACCES`, `ENOSPC`, …); nil when no
    /// call failed (the file changed kind, a name kept being replaced, …).
    public let code: Int32?
    /// Words that follow the system's reason in `description` ("; left alone").
    public let trailer: String

    /// - Parameters:
    ///   - message: what failed, without the system's reason.
    ///   - code: the `errno` of the failed call, if one failed.
    ///   - trailer: words printed after the system's reason.
    public init(_ message: String, code: Int32? = nil, trailer: String = "") {
        self.message = message
        self.code = code
        self.trailer = trailer
    }

    /// The message, the system's reason for `code` after a colon, then the trailer.
    public var description: String {
        message + (code.map { ": " + systemErrorMessage($0) } ?? "") + trailer
    }
}

/// The path no longer names the file that was read and locked: someone renamed another
/// file over it. The edit starts again on the new file.
package struct TargetReplaced: Error {}

/// Another process (or this one, for a file named twice) holds the lock, and the caller
/// asked not to wait (`withLockedFile(…, wait: false)`).
package struct LockBusy: Error {}

/// Produces an edited file next to its destination and renames it into place.
///
/// - Edits of one file are serialised: `withLockedFile` takes an advisory lock
///   (`flock`) on the file before it is read and holds it until the new file has been
///   renamed into place. Once the lock is held it checks that the name still names the
///   locked inode; if another process replaced the file meanwhile, it opens the new one
///   and starts again. So N concurrent edits of one file give all N results.
/// - Every path is resolved once (`resolve`, `ResolvedPath`): its symbolic links are
///   followed then, each once, to an open directory and a name. Everything after (open,
///   lock check, temporary file, check, rename, the in-place write of a device) is an
///   `*at` call on that directory that never follows a link in the name. A file swapped
///   for a symbolic link during the edit is refused, or replaced as a link: its target
///   is never touched. A link in a sticky world-writable directory owned by neither the
///   caller nor the directory's owner is never followed (`fs.protected_symlinks`'s rule).
/// - A file its user may not write (`access(W_OK)`, as patchelf's open for writing would
///   find) is refused with `NotWritable` unless `allowReadOnly`; an immutable or
///   append-only file is always refused.
/// - The unchanged bulk of the original is copied by the kernel (`copy_file_range`,
///   which may share blocks on filesystems that support it); only patches and appended
///   bytes are written from memory.
/// - Owner, group and mode (set-id bits included) are those of the file being replaced:
///   `fchown` first, then `fchmod` with the full mode (a chown clears set-id bits), then
///   the extended attributes (the ACL among them, copied exactly), then the mode again,
///   and `fstat` checks the result. When they cannot all be kept (a user replacing a
///   file another user owns) the write is refused. An access ACL the new file inherited
///   from its directory's default ACL is removed when the original had none. The
///   `chattr` flags (`copiedFlags`) are kept where they can be set.
/// - The new file is written next to the destination, anonymous (`O_TMPFILE`) where
///   the filesystem allows, and linked as `.swelf-XXXXXX` only just before the rename;
///   elsewhere it is a `.swelf-XXXXXX` from the start. It is fsynced and checked before
///   the rename, the directory after it, so a crash or a failed check at any point
///   leaves the destination as it was. On every error the temporary file is removed. A
///   process killed with SIGKILL cannot remove a named one: it leaves nothing while the
///   file is anonymous, else one `.swelf-XXXXXX`, never a damaged original.
/// - Renaming means a running executable can be patched (no "Text file busy"), and a
///   symbolic link (given in the path) is followed, its target replaced or, for a
///   dangling one, created, the link kept. A hard link's other names keep the old inode
///   and so the old content.
/// - A destination that is not a regular file is never renamed over: a character
///   device (`/dev/null`) or a FIFO is opened and written in place, from start to end,
///   as patchelf does; anything else (a block device, a socket, a directory) is refused.
package struct AtomicFileWriter {
    let system: SystemCalls

    /// False (`--no-durability`): no fsync of the new file or its directory, no syncfs.
    /// The rename is still atomic and still follows the complete, checked write, so no
    /// process ever sees a partial file; but after a power failure or kernel crash the
    /// renamed file may be empty or old. For trees that are rebuilt anyway.
    package var durable = true

    /// True (`--allow-read-only`): a file its user may not write (`access(W_OK)` fails:
    /// mode 0555 for its owner, a read-only Nix store path) is replaced anyway, as far as
    /// the directory allows. False: it is refused with `NotWritable`, as patchelf, which
    /// opens the file for writing, refuses it. Root may write any file, so for root this
    /// changes nothing but what the kernel itself refuses (a read-only filesystem).
    package var allowReadOnly = false

    package init() { system = SystemCalls() }
    package init(system: SystemCalls) { self.system = system }

    /// How many times a file replaced while waiting for its lock is reopened.
    static let maximumAttempts = 1000

    /// The unchanged bulk from which the copy runs beside the plan's verification: about
    /// 4 ms of copying, against some 50 µs to start and join a thread.
    static let overlappedCopyMinimum: UInt64 = 8 << 20

    /// Opens `path`, locks it (exclusively when `exclusive`, for an edit that replaces it;
    /// shared when it is only read), and runs `body` on it while the lock is held. When
    /// the path turns out to name another file than the one locked, or `body` reports
    /// that the file was replaced before its own rename, it starts again.
    package func withLockedFile<Result>(at path: BytePath, exclusive: Bool = true,
                                        _ body: (FileByteSource) throws -> Result) throws -> Result {
        try withLockedFile(at: path, exclusive: exclusive, holding: { (file: LockedFile) in try body(file.source) })
    }

    /// As `withLockedFile(at:exclusive:_:)`, handing `body` the locked file itself. The
    /// lock is held as long as the `LockedFile` lives: a `PendingReplacement` that keeps
    /// it (`keepLocked`) holds the lock until its rename, in a batch after `body` returned.
    ///
    /// With `wait: false` a lock held by another open file throws `LockBusy` at once: a
    /// batch that holds many locks must not wait for one, or two batches could each
    /// wait for the other.
    package func withLockedFile<Result>(at path: BytePath, exclusive: Bool = true, wait: Bool = true,
                                        holding body: (LockedFile) throws -> Result) throws -> Result {
        try withLockedFile(at: try resolve(path, reading: true), exclusive: exclusive, wait: wait, holding: body)
    }

    /// As `withLockedFile(at:exclusive:wait:holding:)`, on a path resolved once
    /// (`resolve`). Each attempt opens the resolved directory's entry without following
    /// a link (`O_NOFOLLOW`), and checks it with `fstatat(AT_SYMLINK_NOFOLLOW)`: a file
    /// swapped for a symbolic link after the path was resolved is refused, never followed.
    package func withLockedFile<Result>(at location: ResolvedPath, exclusive: Bool = true, wait: Bool = true,
                                        holding body: (LockedFile) throws -> Result) throws -> Result {
        for _ in 0 ..< AtomicFileWriter.maximumAttempts {
            // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below);
            // on a regular file the flag changes nothing. A kernel link (/dev/stdin) can
            // only be opened through the kernel; it is no regular file, and refused below.
            let follow = location.kernelLink ? 0 : O_NOFOLLOW
            let descriptor = location.withName { system.open(location.directory, $0, O_RDONLY | O_CLOEXEC | O_NONBLOCK | follow) }
            guard descriptor >= 0 else {
                let code = errno
                if code == ELOOP { throw replacedByLink(location) }
                throw ELFError(.io, "cannot open: \(systemErrorMessage(code))")
            }
            // From here the descriptor is closed and unlocked when `file` goes.
            let file = LockedFile(descriptor: descriptor, system: system)
            var opened = stat()
            guard system.status(descriptor, &opened) == 0 else { throw ELFError(.io, "cannot stat: \(systemErrorMessage(errno))") }
            guard (opened.st_mode & S_IFMT) == S_IFREG else { throw ELFError(.io, "not a regular file") }
            try lock(descriptor, exclusive: exclusive, wait: wait)
            guard let named = location.status() else {
                let code = errno
                if code == ENOENT { continue }   // removed or being replaced: open the name again
                throw ELFError(.io, "cannot stat: \(systemErrorMessage(code))")
            }
            guard named.st_dev == opened.st_dev && named.st_ino == opened.st_ino else { continue }
            file.source = try FileByteSource(duplicating: descriptor, path: location.path)
            do {
                return try body(file)
            } catch is TargetReplaced {
                continue
            }
        }
        throw WriteError("\(location.path) kept being replaced by other processes while swelf waited for it; gave up after \(AtomicFileWriter.maximumAttempts) attempts")
    }

    /// Resolves `path` once, for `withLockedFile(at:…)` and `write(…, resolved:)`
    /// (`ResolvedPath`): symbolic links are followed now, as the kernel would, except one
    /// `protected_symlinks` refuses. `reading`: the input, whose errors read as a failed
    /// open of the file (the command line names the file).
    package func resolve(_ path: BytePath, reading: Bool = false) throws -> ResolvedPath {
        do {
            return try system.resolve(path)
        } catch {
            switch error {
            case .system(let code):
                if reading { throw ELFError(.io, "cannot open: \(systemErrorMessage(code))") }
                throw WriteError("cannot open \(path)", code: code)
            case .protectedLink(let link, let owner, let directory):
                throw WriteError("\(link) is a symbolic link owned by uid \(owner) in \(directory), a sticky world-writable directory that neither swelf's user nor uid \(owner) owns: not followed, as the kernel's fs.protected_symlinks rule refuses it (another user may have planted it to choose which file is replaced); name the file itself instead")
            }
        }
    }

    private func replacedByLink(_ location: ResolvedPath) -> WriteError {
        WriteError("\(location.path) was replaced by a symbolic link after swelf resolved the path; the link is not followed, and nothing was changed")
    }

    private func lock(_ descriptor: Int32, exclusive: Bool, wait: Bool = true) throws {
        while system.lock(descriptor, (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB)) != 0 {
            let code = errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK && !wait { throw LockBusy() }
            // A filesystem without locks (some network filesystems): no serialisation
            // is possible, the rest of the safety (temporary file, rename) still holds.
            if code == ENOLCK || code == EOPNOTSUPP || code == EBADF { return }
            throw WriteError("cannot lock the file", code: code)
        }
    }

    /// Writes `plan` applied to `input` to `destination`. `verifyPlan` judges the plan and
    /// throws to abandon the write: beside the copy of a large unchanged bulk, and before a
    /// character device or FIFO is written in place. `check` reads the finished temporary
    /// file and throws to abandon it: the last word on every regular file. When `destination` names the
    /// input's inode it must still do so just before the rename, else the write is
    /// abandoned with `TargetReplaced` (and `withLockedFile` starts again).
    ///
    /// `resolved` is `destination` resolved by `resolve` (the same `ResolvedPath` the
    /// input was locked through, for an edit in place); nil resolves it now.
    package func write(plan: RewritePlan, input: FileByteSource, to destination: BytePath, resolved: ResolvedPath? = nil,
                       verifyPlan: () throws -> Void, check: (FileByteSource) throws -> Void) throws {
        guard let pending = try prepare(plan: plan, input: input, to: destination, resolved: resolved,
                                        verifyPlan: verifyPlan, check: check) else { return }
        if durable {
            guard system.sync(pending.output) == 0 else { throw WriteError("fsync failed", code: errno) }
        }
        try replace(pending)
        if durable { try syncDirectory(pending.location) }
    }

    /// Everything `write` does before the new file is made durable: the new file is
    /// written, given its metadata and checked. nil when there is nothing left to do (a
    /// character device or FIFO, written in place). The pending file is finished by
    /// `commit`, together with others; dropped unfinished, it is removed.
    package func prepare(plan: RewritePlan, input: FileByteSource, to destination: BytePath, resolved: ResolvedPath? = nil,
                         verifyPlan: () throws -> Void, check: (FileByteSource) throws -> Void) throws -> PendingReplacement? {
        // `verifyPlan` runs only where it costs nothing or where nothing else would judge:
        // beside the copy of a large unchanged bulk (the copy writes only the new file, the
        // verifier only reads the input), and before a character device or FIFO is written
        // in place (it cannot be read back). A regular file's plan is not judged twice:
        // `check` verifies the written file in full before the rename, and a refused plan
        // costs only an anonymous file that is never named.
        let overlap = plan.keptPrefix >= AtomicFileWriter.overlappedCopyMinimum
        var inputStatus = stat()
        guard system.status(input.descriptor, &inputStatus) == 0 else {
            throw WriteError("cannot stat the input", code: errno)
        }
        let location = try resolved ?? resolve(destination)
        var existing = stat()
        // The name only, never a link it may have become (a link in the user's path was
        // followed once, by `resolve`); a kernel link (/dev/stdout) only through the kernel.
        let targetExists = location.withName {
            system.pathStatus(location.directory, $0, &existing, location.kernelLink ? 0 : AT_SYMLINK_NOFOLLOW)
        } == 0
        if !targetExists && errno != ENOENT {
            throw WriteError("cannot stat \(location)", code: errno)
        }
        let kind = existing.st_mode & S_IFMT
        if targetExists && kind == S_IFLNK { throw replacedByLink(location) }
        if targetExists && location.kernelLink && kind == S_IFREG {
            throw WriteError("\(destination) names a regular file through a link in /proc, which swelf cannot replace by its name; give the file's own path")
        }
        if targetExists && kind != S_IFREG {
            try verifyPlan()
            try writeInPlace(plan: plan, input: input, to: location, kind: kind)
            return nil
        }
        let inPlace = targetExists && existing.st_dev == inputStatus.st_dev && existing.st_ino == inputStatus.st_ino
        // Whose attributes, flags and ACL the new file takes: the file it replaces, or
        // the input for a new file. Opened now, by name without following a link, and
        // checked to be the inode just looked at.
        var replacedFile: Int32 = -1
        defer { if replacedFile >= 0 { _ = system.close(replacedFile) } }
        if targetExists && !inPlace {
            replacedFile = location.withName { system.open(location.directory, $0, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY) }
            guard replacedFile >= 0 else {
                let code = errno
                if code == ELOOP { throw replacedByLink(location) }
                throw WriteError("cannot open \(location) to read its attributes", code: code)
            }
            var opened = stat()
            guard system.status(replacedFile, &opened) == 0, opened.st_dev == existing.st_dev, opened.st_ino == existing.st_ino else {
                throw WriteError("\(location) was replaced while swelf read it; left alone")
            }
        }
        let metadataSource = replacedFile >= 0 ? replacedFile : input.descriptor
        if targetExists { try refuseUnwritable(location, file: metadataSource) }
        let pending = PendingReplacement(temporary: try createTemporary(in: location), location: location,
                                         inPlace: inPlace, input: inputStatus, system: system)
        let output = pending.output

        if overlap {
            try Overlap.run(background: { try copyPrefix(from: input.descriptor, to: output, count: plan.keptPrefix) },
                            foreground: verifyPlan)
        } else {
            try copyPrefix(from: input.descriptor, to: output, count: plan.keptPrefix)
        }
        for patch in plan.patches {
            try writeAll(output, patch.bytes, at: patch.offset)
        }
        guard system.truncate(output, off_t(plan.newSize)) == 0 else {
            throw WriteError("cannot size the output", code: errno)
        }
        if !plan.appended.isEmpty {
            try writeAll(output, plan.appended, at: plan.appendOffset)
        }
        let expected = targetExists ? try keepMetadata(of: existing, replacing: location, to: output)
                                    : try giveMetadata(of: inputStatus, to: output)
        copyExtendedAttributes(from: metadataSource, to: output)
        // A directory's default ACL was inherited by the new file when it was created: an
        // access ACL the original did not have (it could grant another user rwx). Removed,
        // and the mode set again, since the inherited ACL also set the group bits.
        if !hasAttribute(metadataSource, AtomicFileWriter.accessACL) {
            try removeAttribute(output, AtomicFileWriter.accessACL)
        }
        copyFlags(from: metadataSource, to: output)
        guard system.changeMode(output, expected.mode) == 0 else {
            throw WriteError("cannot set the mode of the new file", code: errno)
        }
        try confirm(output, owner: expected.owner, group: expected.group, mode: expected.mode,
                    of: targetExists ? location.resolved : "the new file")

        try check(try FileByteSource(duplicating: output, path: pending.temporary.name.map { location.sibling($0) }
                                        ?? location.sibling(Array("(new file)".utf8))))
        return pending
    }

    /// Renames a durable pending file over its target. The lock keeps other swelf
    /// processes out; the inode check catches anything else that renamed a file over the
    /// input while it was being patched (`TargetReplaced`). The data is on disk before
    /// the rename makes it visible, so a crash leaves either the old file or the new one.
    private func replace(_ pending: PendingReplacement) throws {
        let location = pending.location
        if pending.inPlace {
            guard let now = location.status(), now.st_dev == pending.inputStatus.st_dev, now.st_ino == pending.inputStatus.st_ino else {
                throw TargetReplaced()
            }
        }
        let name = try pending.temporary.name ?? giveName(to: pending.output, in: location)
        pending.temporary.name = name
        // Both names relative to the directory resolved at the start: whatever the target's
        // name has become since (even a symbolic link), the rename replaces that entry.
        guard BytePath(bytes: name).withCString({ from in
            location.withName { system.rename(location.directory, from, location.directory, $0) }
        }) == 0 else {
            throw WriteError("cannot replace \(location)", code: errno)
        }
        pending.renamed = true
    }

    /// Finishes many pending files with one durability barrier: `syncfs` once per
    /// filesystem (one journal commit instead of one per file), then `fsync` of each file,
    /// which after the `syncfs` has nothing left to write but still reports a write error
    /// of that file (older kernels' `syncfs` reports none); then each rename, then one
    /// `fsync` per directory. As in `write`, no file is renamed before its data is
    /// durable, and a file that fails at any step keeps its original. Returns each file's
    /// error, nil when it was replaced; `TargetReplaced` asks the caller to edit the new
    /// file at that path again.
    package func commit(_ batch: [PendingReplacement]) -> [(any Error)?] {
        var errors = [(any Error)?](repeating: nil, count: batch.count)
        var syncedFileSystems = Set<UInt64>()
        for pending in batch where durable {
            var status = stat()
            guard system.status(pending.output, &status) == 0 else { continue }
            if syncedFileSystems.insert(UInt64(status.st_dev)).inserted {
                _ = system.syncFileSystem(pending.output)   // errors: the fsync below reports them per file
            }
        }
        for (index, pending) in batch.enumerated() where durable && system.sync(pending.output) != 0 {
            errors[index] = WriteError("fsync failed", code: errno)
        }
        var directories: [BytePath: [Int]] = [:]
        for (index, pending) in batch.enumerated() where errors[index] == nil {
            do {
                try replace(pending)
                directories[pending.location.resolved.directory, default: []].append(index)
            } catch {
                errors[index] = error
            }
        }
        for (_, members) in directories.sorted(by: { $0.key.bytes.lexicographicallyPrecedes($1.key.bytes) }) where durable {
            do {
                try syncDirectory(batch[members[0]].location)
            } catch {
                for index in members {
                    let failure = error as? WriteError
                    errors[index] = WriteError("\(batch[index].location) was replaced, but its directory could not be made durable: \(failure?.message ?? "\(error)")",
                                               code: failure?.code, trailer: failure?.trailer ?? "")
                }
            }
        }
        return errors
    }

    struct Temporary {
        let descriptor: Int32
        /// Its name in the target's directory; nil while the file is anonymous.
        var name: [UInt8]?
    }

    /// A file opened and locked by `withLockedFile(at:exclusive:holding:)`, unlocked and
    /// closed when the last reference goes.
    ///
    /// `@unchecked Sendable`: it is made on one thread and may be handed to another (a
    /// batch is committed by the thread that started it), never used by two at once.
    package final class LockedFile: @unchecked Sendable {
        /// The file's contents, read through a duplicate of the locked descriptor.
        package fileprivate(set) var source: FileByteSource!
        let descriptor: Int32
        let system: SystemCalls

        init(descriptor: Int32, system: SystemCalls) {
            self.descriptor = descriptor
            self.system = system
        }

        deinit {
            _ = system.lock(descriptor, LOCK_UN)   // also for the duplicate the source reads through
            _ = system.close(descriptor)
        }
    }

    /// A new file, written and checked, waiting to be made durable and renamed over its
    /// target (`commit`). Dropped before that, its temporary file is removed.
    ///
    /// `@unchecked Sendable`: made on one thread, finished on another, never used by two
    /// at once.
    package final class PendingReplacement: @unchecked Sendable {
        var temporary: Temporary
        var output: Int32 { temporary.descriptor }
        /// The target: its directory (held open) and its name there.
        let location: ResolvedPath
        let inPlace: Bool
        let inputStatus: stat
        let system: SystemCalls
        var renamed = false
        /// The locked input, kept so that its lock is held until the rename.
        package var keepLocked: LockedFile?

        init(temporary: Temporary, location: ResolvedPath, inPlace: Bool, input: stat, system: SystemCalls) {
            self.temporary = temporary
            self.location = location
            self.inPlace = inPlace
            self.inputStatus = input
            self.system = system
        }

        deinit {
            _ = system.close(temporary.descriptor)
            if !renamed, let name = temporary.name { _ = BytePath(bytes: name).withCString { system.unlink(location.directory, $0) } }
        }
    }

    /// An anonymous file (`O_TMPFILE`) in the target's directory where the filesystem
    /// supports it, named only just before the rename, so a killed swelf leaves nothing
    /// behind; else a named `.swelf-XXXXXX`, created with `O_EXCL | O_NOFOLLOW`.
    private func createTemporary(in location: ResolvedPath) throws -> Temporary {
        let anonymous = system.openAnonymous(location.directory)
        if anonymous >= 0 { return Temporary(descriptor: anonymous, name: nil) }
        let code = errno
        guard code == EOPNOTSUPP || code == EISDIR || code == EINVAL else {
            throw WriteError("cannot create a temporary file in \(location.resolved.directory)", code: code)
        }
        var made: Int32 = -1
        let name = try freshName(in: location) { name in
            made = BytePath(bytes: name).withCString { system.makeTemporary(location.directory, $0) }
            return made >= 0
        }
        return Temporary(descriptor: made, name: name)
    }

    /// Links the anonymous file into the target's directory under a fresh `.swelf-XXXXXX` name.
    private func giveName(to descriptor: Int32, in location: ResolvedPath) throws -> [UInt8] {
        try freshName(in: location) { name in BytePath(bytes: name).withCString { system.name(descriptor, location.directory, $0) } == 0 }
    }

    /// Tries `.swelf-XXXXXX` names until `create` makes one (false with `EEXIST`: taken).
    private func freshName(in location: ResolvedPath, _ create: ([UInt8]) -> Bool) throws -> [UInt8] {
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        for _ in 0 ..< 100 {
            // One random word for all six letters (one getrandom call, not one per letter).
            var bits = UInt64.random(in: 0 ... .max)
            var suffix: [UInt8] = []
            for _ in 0 ..< 6 {
                suffix.append(letters[Int(bits % UInt64(letters.count))])
                bits /= UInt64(letters.count)
            }
            let name = Array(".swelf-".utf8) + suffix
            if create(name) { return name }
            guard errno == EEXIST else {
                throw WriteError("cannot create a temporary file in \(location.resolved.directory)", code: errno)
            }
        }
        throw WriteError("cannot create a temporary file in \(location.resolved.directory): every name tried exists")
    }

    /// The rename is durable only once the directory is on disk. The directory is the
    /// one resolved at the start (an `O_PATH` handle cannot be fsynced: it is reopened).
    private func syncDirectory(_ location: ResolvedPath) throws {
        let descriptor = system.open(location.directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw WriteError("\(location) was replaced, but its directory cannot be opened to make that durable", code: errno)
        }
        defer { _ = system.close(descriptor) }
        guard system.sync(descriptor) == 0 else {
            let code = errno
            // Some filesystems cannot fsync a directory; they have nothing to flush.
            if code == EINVAL { return }
            throw WriteError("\(location) was replaced, but fsync of its directory failed", code: code)
        }
    }

    /// A character device or a FIFO: opened (never created, truncated or renamed over)
    /// and written from start to end, since neither can be read back or seeked. Its
    /// mode and owner are left alone. Other kinds are refused.
    private func writeInPlace(plan: RewritePlan, input: FileByteSource, to target: ResolvedPath, kind: mode_t) throws {
        guard kind == S_IFCHR || kind == S_IFIFO else {
            let name = kind == S_IFBLK ? "a block device" : kind == S_IFSOCK ? "a socket" : kind == S_IFDIR ? "a directory" : "not a regular file"
            throw WriteError("\(target) is \(name): swelf writes regular files (replaced), character devices and FIFOs (written in place), and leaves this alone")
        }
        // Not through a link the name may have become since it was resolved.
        let follow = target.kernelLink ? 0 : O_NOFOLLOW
        let output = target.withName { system.open(target.directory, $0, O_WRONLY | O_NOCTTY | O_CLOEXEC | follow) }
        guard output >= 0 else {
            let code = errno
            if code == ELOOP { throw replacedByLink(target) }
            throw WriteError("cannot open \(target)", code: code)
        }
        defer { _ = system.close(output) }
        var opened = stat()
        guard system.status(output, &opened) == 0 else { throw WriteError("cannot stat \(target)", code: errno) }
        guard (opened.st_mode & S_IFMT) == kind else {
            throw WriteError("\(target) changed its kind while being opened; left alone")
        }
        let image = PlannedByteSource(base: input, plan: plan)
        var offset: UInt64 = 0
        while offset < plan.newSize {
            let count = Int(min(plan.newSize - offset, 1 << 20))
            let chunk = try image.readBytes(at: offset, count: count)
            var done = 0
            while done < count {
                let written = chunk.withUnsafeBytes { system.writeSequential(output, $0.baseAddress! + done, count - done) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw WriteError("write to \(target) failed", code: errno)
                }
                guard written > 0 else { throw WriteError("write to \(target) wrote nothing") }
                done += written
            }
            offset += UInt64(count)
        }
    }

    /// True when `path` names the inode `file` has open (through any link).
    package func names(_ path: BytePath, file: FileByteSource) -> Bool {
        var named = stat(), opened = stat()
        return path.withCString({ stat($0, &named) }) == 0 && system.status(file.descriptor, &opened) == 0
            && named.st_dev == opened.st_dev && named.st_ino == opened.st_ino
    }

    /// True when the resolved name (not a link it may have become) is the inode `file` has open.
    package func names(_ location: ResolvedPath, file: FileByteSource) -> Bool {
        var opened = stat()
        guard let named = location.status(), system.status(file.descriptor, &opened) == 0 else { return false }
        return named.st_dev == opened.st_dev && named.st_ino == opened.st_ino
    }

    /// True when the two paths name one inode now, or are the same path (an edit in place,
    /// which takes the exclusive lock).
    package func namesSameFile(_ destination: BytePath, asOpen path: BytePath) -> Bool {
        if destination == path { return true }
        var a = stat(), b = stat()
        return destination.withCString({ stat($0, &a) }) == 0 && path.withCString({ stat($0, &b) }) == 0
            && a.st_dev == b.st_dev && a.st_ino == b.st_ino
    }

    /// As `namesSameFile(_:asOpen:)` for resolved paths.
    package func namesSameFile(_ destination: ResolvedPath, asOpen path: ResolvedPath) -> Bool {
        destination.namesSameFile(as: path)
    }

    /// The unchanged bulk: a reflink of the whole input cut to `count` bytes where the
    /// filesystem shares blocks (no data is copied or written), else a copy.
    private func copyPrefix(from input: Int32, to output: Int32, count: UInt64) throws {
        guard count > 0 else { return }
        if system.clone(input, output) == 0 {
            guard system.truncate(output, off_t(count)) == 0 else {
                throw WriteError("cannot size the output", code: errno)
            }
            return
        }
        // EOPNOTSUPP, EXDEV, EINVAL, ENOTTY: this filesystem (pair) cannot. A clone is
        // all or nothing; emptied anyway, so that no input byte is left past `count`, but
        // only when it is not empty already: on ext4 a truncation to size 0 marks the file
        // as replaced-by-truncate, and its close then writes back all of it (70 ms of a
        // 256 MiB edit's 200, even with --no-durability).
        var status = stat()
        if system.status(output, &status) != 0 || status.st_size != 0 {
            guard system.truncate(output, 0) == 0 else {
                throw WriteError("cannot size the output", code: errno)
            }
        }
        let extents = dataExtents(of: input, count: count)
        for extent in extents {
            try copyRange(from: input, to: output, start: extent.start, count: extent.count)
        }
        // A hole at the end of the prefix: the size says where the prefix ends.
        if extents.last.map({ $0.start + $0.count }) != count {
            guard system.truncate(output, off_t(count)) == 0 else {
                throw WriteError("cannot size the output", code: errno)
            }
        }
    }

    /// The ranges of the input's first `count` bytes that hold data. A sparse file's holes
    /// are left out: the new file gets the same holes (reading them gives zeros, as in the
    /// input) instead of gigabytes of written zeros, which `copy_file_range` without shared
    /// blocks would write (a 4 GiB sparse program took 6-90 s and 4 GiB of disk per edit).
    /// Where the filesystem cannot tell (no SEEK_DATA), the whole prefix is one range.
    private func dataExtents(of input: Int32, count: UInt64) -> [(start: UInt64, count: UInt64)] {
        let seekData: Int32 = 3, seekHole: Int32 = 4   // SEEK_DATA, SEEK_HOLE (not in Swift's Glibc)
        var extents: [(start: UInt64, count: UInt64)] = []
        var position: UInt64 = 0
        while position < count {
            let data = system.seek(input, off_t(position), seekData)
            if data < 0 {
                // ENXIO: no data from here on; anything else: the filesystem cannot say.
                if errno == ENXIO { break }
                return [(0, count)]
            }
            let start = UInt64(data)
            guard start < count else { break }
            let hole = system.seek(input, data, seekHole)
            guard hole > data else { return [(0, count)] }
            let end = min(UInt64(hole), count)
            extents.append((start, end - start))
            position = end
        }
        return extents
    }

    /// Bytes copied between two starts of writeback when the copy is to be made durable.
    /// Each chunk's disk writes then run while the next chunk is copied, and the final
    /// fsync waits only for the last one: 256 MiB on ext4, copy then fsync 133 ms, copy
    /// with a writeback start every 8-32 MiB 96-112 ms (the copy alone takes 63).
    static let writebackChunk = 16 << 20

    private func copyRange(from input: Int32, to output: Int32, start: UInt64, count: UInt64) throws {
        var inputOffset = off_t(start)
        var outputOffset = off_t(start)
        var remaining = count
        var kernelCopy = system.copyFileRange
        // Without durability nothing waits for the disk, and early writeback would only
        // slow the copy down (63 -> 93 ms for 256 MiB). A copy of one chunk or less has
        // nothing to overlap: the fsync (or a batch's syncfs) starts it.
        let writeback = durable && count > UInt64(AtomicFileWriter.writebackChunk)
        let chunkLimit = writeback ? AtomicFileWriter.writebackChunk : 1 << 30
        while remaining > 0 {
            let chunk = Int(min(remaining, UInt64(chunkLimit)))
            if let copy = kernelCopy {
                let start = outputOffset
                let copied = copy(input, &inputOffset, output, &outputOffset, chunk, 0)
                if copied > 0 {
                    remaining -= UInt64(copied)
                    // A hint: its failure changes nothing, and fsync reports write errors.
                    if writeback { _ = system.startWriteback(output, start, off_t(copied)) }
                    continue
                }
                if copied == 0 { throw WriteError("the input file ended early while copying") }
                let code = errno
                if code == EINTR { continue }
                // Not supported across these filesystems: copy through memory. Any other
                // failure (no space, I/O error) is an error.
                guard code == EXDEV || code == ENOSYS || code == EOPNOTSUPP || code == EINVAL || code == EBADF else {
                    throw WriteError("copy failed", code: code)
                }
                kernelCopy = nil
                continue
            }
            let size = min(chunk, 1 << 20)
            var buffer = [UInt8](repeating: 0, count: size)
            let got = buffer.withUnsafeMutableBytes { system.read(input, $0.baseAddress!, size, inputOffset) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw got < 0 ? WriteError("cannot read the input", code: errno) : WriteError("cannot read the input: unexpected end") }
            try writeAll(output, Array(buffer[..<got]), at: UInt64(outputOffset))
            inputOffset += off_t(got)
            outputOffset += off_t(got)
            remaining -= UInt64(got)
        }
    }

    private func writeAll(_ descriptor: Int32, _ bytes: [UInt8], at offset: UInt64) throws {
        var done = 0
        while done < bytes.count {
            let written = bytes.withUnsafeBytes { system.write(descriptor, $0.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done)) }
            if written < 0 {
                if errno == EINTR { continue }
                throw WriteError("write failed", code: errno)
            }
            guard written > 0 else { throw WriteError("write failed: no progress") }
            done += written
        }
    }

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
    private func keepMetadata(of existing: stat, replacing target: ResolvedPath, to output: Int32) throws -> Ownership {
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
    private func giveMetadata(of input: stat, to output: Int32) throws -> Ownership {
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

    private func confirm(_ output: Int32, owner: uid_t, group: gid_t, mode: mode_t, of target: BytePath) throws {
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
    private func copyExtendedAttributes(from source: Int32, to output: Int32) {
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
    private func hasAttribute(_ descriptor: Int32, _ name: String) -> Bool {
        guard let get = system.getAttribute else { return false }
        return get(descriptor, name, nil, 0) >= 0
    }

    /// Removes an attribute the new file must not have. Absent already, or a filesystem
    /// without attributes (hence without ACLs): nothing to do. Any other failure leaves
    /// the new file with it, so the write is refused.
    private func removeAttribute(_ descriptor: Int32, _ name: String) throws {
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
    private func copyFlags(from source: Int32, to output: Int32) {
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
    private func refuseUnwritable(_ location: ResolvedPath, file: Int32) throws {
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
}

/// The file to be replaced is one the caller could not open for writing (`access(W_OK)`
/// says no): left alone, as patchelf leaves it. `AtomicFileWriter.allowReadOnly` replaces
/// it anyway.
public struct NotWritable: Error, CustomStringConvertible, Sendable {
    public let path: BytePath
    /// `errno`: `EACCES`, `EROFS`, ….
    public let code: Int32
    public var description: String {
        "cannot open \(path) for writing: \(systemErrorMessage(code)); a file its user may not write is left alone (--allow-read-only replaces it)"
    }
}
