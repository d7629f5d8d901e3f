#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

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

    func replacedByLink(_ location: ResolvedPath) -> WriteError {
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
        if let tail = plan.tail {
            // The overlay after the new image: copied by the kernel, then deno's offsets.
            try copyRange(from: input.descriptor, to: output, start: tail.sourceOffset, count: tail.length, to: tail.offset)
            for patch in tail.patches { try writeAll(output, patch.bytes, at: patch.offset) }
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
    /// filesystem (one journal commit instead of one per file), then each file's own write
    /// error, then each rename, then the renames made durable. As in `write`, no file is
    /// renamed before its data is durable, and a file that fails at any step keeps its
    /// original. Returns each file's error, nil when it was replaced; `TargetReplaced`
    /// asks the caller to edit the new file at that path again.
    ///
    /// On a filesystem whose `syncfs` commits everything written to it, data and names
    /// (`barrierFileSystems`: ext4, XFS, btrfs, tmpfs), a successful `syncfs` is the
    /// barrier: each file's error is then read with `waitWriteback` (an `fsync` there
    /// would flush the device's cache once more per file, most of the cost of a tree of
    /// small files), and the renames are made durable by a second `syncfs` instead of one
    /// `fsync` per directory. Elsewhere, or when a `syncfs` fails, each file and each
    /// directory is fsynced, which also names the one that failed.
    package func commit(_ batch: [PendingReplacement]) -> [(any Error)?] {
        var errors = [(any Error)?](repeating: nil, count: batch.count)
        // Per filesystem (st_dev): whether its first syncfs succeeded and is a barrier.
        var barriers: [UInt64: Bool] = [:]
        var devices = [UInt64?](repeating: nil, count: batch.count)
        for (index, pending) in batch.enumerated() where durable {
            var status = stat()
            guard system.status(pending.output, &status) == 0 else { continue }
            let device = UInt64(status.st_dev)
            devices[index] = device
            if barriers[device] == nil {
                // Errors: the fsync or waitWriteback below reports them per file.
                let synced = system.syncFileSystem(pending.output) == 0
                barriers[device] = synced && AtomicFileWriter.barrierFileSystems.contains(system.fileSystemType(pending.output))
            }
        }
        func barrier(_ index: Int) -> Bool { devices[index].flatMap { barriers[$0] } ?? false }
        for (index, pending) in batch.enumerated() where durable {
            if (barrier(index) ? system.waitWriteback(pending.output) : system.sync(pending.output)) != 0 {
                errors[index] = WriteError("fsync failed", code: errno)
            }
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
        var renamesSynced: [UInt64: Bool] = [:]
        for (_, members) in directories.sorted(by: { $0.key.bytes.lexicographicallyPrecedes($1.key.bytes) }) where durable {
            if barrier(members[0]), let device = devices[members[0]] {
                if renamesSynced[device] == nil { renamesSynced[device] = syncFileSystem(of: batch[members[0]].location) }
                if renamesSynced[device] == true { continue }
            }
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

    /// The filesystems (`statfs` f_type) whose `syncfs` writes every dirty file and
    /// directory and commits them (journal or log forced, device cache flushed): ext4,
    /// XFS, btrfs, and tmpfs, which has nothing to make durable.
    static let barrierFileSystems: Set<Int> = [0xEF53, 0x5846_5342, 0x9123_683E, 0x0102_1994]

    /// `syncfs` of the filesystem holding `location`'s directory: true when it succeeded.
    private func syncFileSystem(of location: ResolvedPath) -> Bool {
        let descriptor = system.open(location.directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { _ = system.close(descriptor) }
        return system.syncFileSystem(descriptor) == 0
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

}
