#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

/// A failure of the file system while producing the output.
public struct WriteError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The path no longer names the file that was read and locked: someone renamed another
/// file over it. The edit starts again on the new file.
package struct TargetReplaced: Error {}

/// Another process (or this one, for a file named twice) holds the lock, and the caller
/// asked not to wait (`withLockedFile(…, wait: false)`).
public struct LockBusy: Error {}

/// Produces an edited file next to its destination and renames it into place.
///
/// - Edits of one file are serialised: `withLockedFile` takes an advisory lock
///   (`flock`) on the file before it is read and holds it until the new file has been
///   renamed into place. Once the lock is held it checks that the path still names the
///   locked inode; if another process replaced the file meanwhile, it opens the new one
///   and starts again. So N concurrent edits of one file give all N results.
/// - The unchanged bulk of the original is copied by the kernel (`copy_file_range`,
///   which may share blocks on filesystems that support it); only patches and appended
///   bytes are written from memory.
/// - Owner, group and mode (set-id bits included) are those of the file being replaced:
///   `fchown` first, then `fchmod` with the full mode (a chown clears set-id bits), then
///   the extended attributes, and `fstat` checks the result. When they cannot all be
///   kept (a user replacing a file another user owns) the write is refused.
/// - The new file is written next to the destination, anonymous (`O_TMPFILE`) where
///   the filesystem allows, and linked as `.swelf-XXXXXX` only just before the rename;
///   elsewhere it is a `.swelf-XXXXXX` from the start. It is fsynced and checked before
///   the rename, the directory after it, so a crash or a failed check at any point
///   leaves the destination as it was. On every error the temporary file is removed. A
///   process killed with SIGKILL cannot remove a named one: it leaves nothing while the
///   file is anonymous, else one `.swelf-XXXXXX`, never a damaged original.
/// - Renaming means a running executable can be patched (no "Text file busy"), and a
///   symbolic link is followed, its target replaced, the link kept. A hard link's
///   other names keep the old inode and so the old content.
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
    package func withLockedFile<Result>(at path: FilePath, exclusive: Bool = true,
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
    package func withLockedFile<Result>(at path: FilePath, exclusive: Bool = true, wait: Bool = true,
                                        holding body: (LockedFile) throws -> Result) throws -> Result {
        for _ in 0 ..< AtomicFileWriter.maximumAttempts {
            // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below);
            // on a regular file the flag changes nothing.
            let descriptor = path.withCString { system.open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
            guard descriptor >= 0 else { throw ELFError(.io, "cannot open: \(systemErrorMessage(errno))") }
            // From here the descriptor is closed and unlocked when `file` goes.
            let file = LockedFile(descriptor: descriptor, system: system)
            var opened = stat(), named = stat()
            guard system.status(descriptor, &opened) == 0 else { throw ELFError(.io, "cannot stat: \(systemErrorMessage(errno))") }
            guard (opened.st_mode & S_IFMT) == S_IFREG else { throw ELFError(.io, "not a regular file") }
            try lock(descriptor, exclusive: exclusive, wait: wait)
            guard path.withCString({ system.pathStatus($0, &named) }) == 0 else {
                let code = errno
                if code == ENOENT { continue }   // removed or being replaced: open the name again
                throw ELFError(.io, "cannot stat: \(systemErrorMessage(code))")
            }
            guard named.st_dev == opened.st_dev && named.st_ino == opened.st_ino else { continue }
            file.source = try FileByteSource(duplicating: descriptor, path: path)
            do {
                return try body(file)
            } catch is TargetReplaced {
                continue
            }
        }
        throw WriteError("\(path) kept being replaced by other processes while swelf waited for it; gave up after \(AtomicFileWriter.maximumAttempts) attempts")
    }

    private func lock(_ descriptor: Int32, exclusive: Bool, wait: Bool = true) throws {
        while system.lock(descriptor, (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB)) != 0 {
            let code = errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK && !wait { throw LockBusy() }
            // A filesystem without locks (some network filesystems): no serialisation
            // is possible, the rest of the safety (temporary file, rename) still holds.
            if code == ENOLCK || code == EOPNOTSUPP || code == EBADF { return }
            throw WriteError("cannot lock the file: \(systemErrorMessage(code))")
        }
    }

    /// Writes `plan` applied to `input` to `destination`. `verifyPlan` judges the plan
    /// before any byte of it is written, and throws to abandon the write; `check` reads the
    /// finished temporary file and throws to abandon it too. When `destination` names the
    /// input's inode it must still do so just before the rename, else the write is
    /// abandoned with `TargetReplaced` (and `withLockedFile` starts again).
    package func write(plan: RewritePlan, input: FileByteSource, to destination: FilePath,
                       verifyPlan: () throws -> Void, check: (FileByteSource) throws -> Void) throws {
        guard let pending = try prepare(plan: plan, input: input, to: destination, verifyPlan: verifyPlan, check: check) else { return }
        if durable {
            guard system.sync(pending.output) == 0 else { throw WriteError("fsync failed: \(systemErrorMessage(errno))") }
        }
        try replace(pending)
        if durable { try syncDirectory(pending.directory, of: pending.target) }
    }

    /// Everything `write` does before the new file is made durable: the new file is
    /// written, given its metadata and checked. nil when there is nothing left to do (a
    /// character device or FIFO, written in place). The pending file is finished by
    /// `commit`, together with others; dropped unfinished, it is removed.
    package func prepare(plan: RewritePlan, input: FileByteSource, to destination: FilePath,
                         verifyPlan: () throws -> Void, check: (FileByteSource) throws -> Void) throws -> PendingReplacement? {
        // A large unchanged bulk is copied into the temporary file while `verifyPlan` runs
        // (the copy writes only the new file; the verifier only reads the input). Below
        // the threshold a thread costs more than it saves: verify first, then copy.
        let overlap = plan.keptPrefix >= AtomicFileWriter.overlappedCopyMinimum
        if !overlap { try verifyPlan() }
        var inputStatus = stat()
        guard system.status(input.descriptor, &inputStatus) == 0 else {
            throw WriteError("cannot stat the input: \(systemErrorMessage(errno))")
        }
        let target = resolvedTarget(destination)
        var existing = stat()
        let targetExists = target.withCString { system.pathStatus($0, &existing) } == 0
        if !targetExists && errno != ENOENT {
            throw WriteError("cannot stat \(target): \(systemErrorMessage(errno))")
        }
        if targetExists && (existing.st_mode & S_IFMT) != S_IFREG {
            if overlap { try verifyPlan() }
            try writeInPlace(plan: plan, input: input, to: target, kind: existing.st_mode & S_IFMT)
            return nil
        }
        let inPlace = targetExists && existing.st_dev == inputStatus.st_dev && existing.st_ino == inputStatus.st_ino
        let directory = parentDirectory(of: target)
        let pending = PendingReplacement(temporary: try createTemporary(in: directory), target: target, directory: directory,
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
            throw WriteError("cannot size the output: \(systemErrorMessage(errno))")
        }
        if !plan.appended.isEmpty {
            try writeAll(output, plan.appended, at: plan.appendOffset)
        }
        if targetExists {
            try keepMetadata(of: existing, replacing: target, to: output)
        } else {
            try giveMetadata(of: inputStatus, to: output)
        }
        try copyExtendedAttributes(from: inPlace || !targetExists ? input.descriptor : nil, target: target, to: output)

        try check(try FileByteSource(duplicating: output, path: pending.temporary.name ?? directory.appending(Array("(new file)".utf8))))
        return pending
    }

    /// Renames a durable pending file over its target. The lock keeps other swelf
    /// processes out; the inode check catches anything else that renamed a file over the
    /// input while it was being patched (`TargetReplaced`). The data is on disk before
    /// the rename makes it visible, so a crash leaves either the old file or the new one.
    private func replace(_ pending: PendingReplacement) throws {
        if pending.inPlace {
            var now = stat()
            guard pending.target.withCString({ system.pathStatus($0, &now) }) == 0, now.st_dev == pending.inputStatus.st_dev,
                  now.st_ino == pending.inputStatus.st_ino else {
                throw TargetReplaced()
            }
        }
        let name = try pending.temporary.name ?? giveName(to: pending.output, in: pending.directory)
        pending.temporary.name = name
        guard name.withCString({ from in pending.target.withCString { system.rename(from, $0) } }) == 0 else {
            throw WriteError("cannot replace \(pending.target): \(systemErrorMessage(errno))")
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
            errors[index] = WriteError("fsync failed: \(systemErrorMessage(errno))")
        }
        var directories: [FilePath: [Int]] = [:]
        for (index, pending) in batch.enumerated() where errors[index] == nil {
            do {
                try replace(pending)
                directories[pending.directory, default: []].append(index)
            } catch {
                errors[index] = error
            }
        }
        for (directory, members) in directories.sorted(by: { $0.key.bytes.lexicographicallyPrecedes($1.key.bytes) }) where durable {
            do {
                try syncDirectory(directory, of: batch[members[0]].target)
            } catch {
                for index in members {
                    errors[index] = WriteError("\(batch[index].target) was replaced, but its directory could not be made durable: \(error)")
                }
            }
        }
        return errors
    }

    struct Temporary {
        let descriptor: Int32
        /// nil while the file is anonymous.
        var name: FilePath?
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
        let target: FilePath
        let directory: FilePath
        let inPlace: Bool
        let inputStatus: stat
        let system: SystemCalls
        var renamed = false
        /// The locked input, kept so that its lock is held until the rename.
        package var keepLocked: LockedFile?

        init(temporary: Temporary, target: FilePath, directory: FilePath, inPlace: Bool, input: stat, system: SystemCalls) {
            self.temporary = temporary
            self.target = target
            self.directory = directory
            self.inPlace = inPlace
            self.inputStatus = input
            self.system = system
        }

        deinit {
            _ = system.close(temporary.descriptor)
            if !renamed, let name = temporary.name { _ = name.withCString { system.unlink($0) } }
        }
    }

    /// An anonymous file (`O_TMPFILE`) in `directory` where the filesystem supports it,
    /// named only just before the rename, so a killed swelf leaves nothing behind; else
    /// a named `.swelf-XXXXXX`.
    private func createTemporary(in directory: FilePath) throws -> Temporary {
        let anonymous = directory.withCString { system.openAnonymous($0) }
        if anonymous >= 0 { return Temporary(descriptor: anonymous, name: nil) }
        let code = errno
        guard code == EOPNOTSUPP || code == EISDIR || code == EINVAL else {
            throw WriteError("cannot create a temporary file in \(directory): \(systemErrorMessage(code))")
        }
        var template = directory.appending(Array(".swelf-XXXXXX".utf8)).bytes.map { CChar(bitPattern: $0) } + [0]
        let output = template.withUnsafeMutableBufferPointer { system.makeTemporary($0.baseAddress!) }
        guard output >= 0 else {
            throw WriteError("cannot create a temporary file in \(directory): \(systemErrorMessage(errno))")
        }
        return Temporary(descriptor: output, name: FilePath(bytes: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }))
    }

    /// Links the anonymous file into `directory` under a fresh `.swelf-XXXXXX` name.
    private func giveName(to descriptor: Int32, in directory: FilePath) throws -> FilePath {
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        for _ in 0 ..< 100 {
            // One random word for all six letters (one getrandom call, not one per letter).
            var bits = UInt64.random(in: 0 ... .max)
            var suffix: [UInt8] = []
            for _ in 0 ..< 6 {
                suffix.append(letters[Int(bits % UInt64(letters.count))])
                bits /= UInt64(letters.count)
            }
            let name = directory.appending(Array(".swelf-".utf8) + suffix)
            if name.withCString({ system.name(descriptor, $0) }) == 0 { return name }
            guard errno == EEXIST else { throw WriteError("cannot link the new file into \(directory): \(systemErrorMessage(errno))") }
        }
        throw WriteError("cannot link the new file into \(directory): every name tried exists")
    }

    /// The rename is durable only once the directory is on disk.
    private func syncDirectory(_ directory: FilePath, of target: FilePath) throws {
        let descriptor = directory.withCString { system.open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard descriptor >= 0 else {
            throw WriteError("\(target) was replaced, but its directory cannot be opened to make that durable: \(systemErrorMessage(errno))")
        }
        defer { _ = system.close(descriptor) }
        guard system.sync(descriptor) == 0 else {
            let code = errno
            // Some filesystems cannot fsync a directory; they have nothing to flush.
            if code == EINVAL { return }
            throw WriteError("\(target) was replaced, but fsync of its directory failed: \(systemErrorMessage(code))")
        }
    }

    /// A character device or a FIFO: opened (never created, truncated or renamed over)
    /// and written from start to end, since neither can be read back or seeked. Its
    /// mode and owner are left alone. Other kinds are refused.
    private func writeInPlace(plan: RewritePlan, input: FileByteSource, to target: FilePath, kind: mode_t) throws {
        guard kind == S_IFCHR || kind == S_IFIFO else {
            let name = kind == S_IFBLK ? "a block device" : kind == S_IFSOCK ? "a socket" : kind == S_IFDIR ? "a directory" : "not a regular file"
            throw WriteError("\(target) is \(name): swelf writes regular files (replaced), character devices and FIFOs (written in place), and leaves this alone")
        }
        let output = target.withCString { system.open($0, O_WRONLY | O_NOCTTY | O_CLOEXEC) }
        guard output >= 0 else { throw WriteError("cannot open \(target): \(systemErrorMessage(errno))") }
        defer { _ = system.close(output) }
        var opened = stat()
        guard system.status(output, &opened) == 0 else { throw WriteError("cannot stat \(target): \(systemErrorMessage(errno))") }
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
                    throw WriteError("write to \(target) failed: \(systemErrorMessage(errno))")
                }
                guard written > 0 else { throw WriteError("write to \(target) wrote nothing") }
                done += written
            }
            offset += UInt64(count)
        }
    }

    /// True when `path` names the inode `file` has open (through any link).
    package func names(_ path: FilePath, file: FileByteSource) -> Bool {
        var named = stat(), opened = stat()
        return path.withCString({ system.pathStatus($0, &named) }) == 0 && system.status(file.descriptor, &opened) == 0
            && named.st_dev == opened.st_dev && named.st_ino == opened.st_ino
    }

    /// True when the two paths name one inode now, or are the same path (an edit in place,
    /// which takes the exclusive lock).
    package func namesSameFile(_ destination: FilePath, asOpen path: FilePath) -> Bool {
        if destination == path { return true }
        var a = stat(), b = stat()
        return destination.withCString({ system.pathStatus($0, &a) }) == 0 && path.withCString({ system.pathStatus($0, &b) }) == 0
            && a.st_dev == b.st_dev && a.st_ino == b.st_ino
    }

    /// The file a path names after following symbolic links; the path itself when it
    /// does not exist yet (a new `--output` file).
    package func resolvedTarget(_ path: FilePath) -> FilePath {
        guard let resolved = path.withCString({ realpath($0, nil) }) else { return path }
        defer { free(resolved) }
        return FilePath(cString: resolved)
    }

    package func parentDirectory(of path: FilePath) -> FilePath { path.directory }

    /// The unchanged bulk: a reflink of the whole input cut to `count` bytes where the
    /// filesystem shares blocks (no data is copied or written), else a copy.
    private func copyPrefix(from input: Int32, to output: Int32, count: UInt64) throws {
        guard count > 0 else { return }
        if system.clone(input, output) == 0 {
            guard system.truncate(output, off_t(count)) == 0 else {
                throw WriteError("cannot size the output: \(systemErrorMessage(errno))")
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
                throw WriteError("cannot size the output: \(systemErrorMessage(errno))")
            }
        }
        try copyRange(from: input, to: output, count: count)
    }

    /// Bytes copied between two starts of writeback when the copy is to be made durable.
    /// Each chunk's disk writes then run while the next chunk is copied, and the final
    /// fsync waits only for the last one: 256 MiB on ext4, copy then fsync 133 ms, copy
    /// with a writeback start every 8-32 MiB 96-112 ms (the copy alone takes 63).
    static let writebackChunk = 16 << 20

    private func copyRange(from input: Int32, to output: Int32, count: UInt64) throws {
        var inputOffset: off_t = 0
        var outputOffset: off_t = 0
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
                    throw WriteError("copy failed: \(systemErrorMessage(code))")
                }
                kernelCopy = nil
                continue
            }
            let size = min(chunk, 1 << 20)
            var buffer = [UInt8](repeating: 0, count: size)
            let got = buffer.withUnsafeMutableBytes { system.read(input, $0.baseAddress!, size, inputOffset) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw WriteError("cannot read the input: \(got < 0 ? systemErrorMessage(errno) : "unexpected end")") }
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
                throw WriteError("write failed: \(systemErrorMessage(errno))")
            }
            guard written > 0 else { throw WriteError("write failed: no progress") }
            done += written
        }
    }

    /// Replacing a file: the new one gets its owner, group and whole mode, or the write
    /// is refused. Owner and group first, since a chown clears the set-id bits; then the
    /// mode. Root can give any owner; another user can keep a file they own and a group
    /// they belong to, and nothing else.
    private func keepMetadata(of existing: stat, replacing target: FilePath, to output: Int32) throws {
        let user = system.effectiveUser()
        if user != 0 && existing.st_uid != user {
            throw WriteError("cannot keep the owner of \(target) (uid \(existing.st_uid)): the new file would belong to uid \(user), and only root can give a file to another user; left alone")
        }
        guard system.changeOwner(output, existing.st_uid, existing.st_gid) == 0 else {
            throw WriteError("cannot keep the owner and group of \(target) (uid \(existing.st_uid), gid \(existing.st_gid)): \(systemErrorMessage(errno)); left alone")
        }
        let mode = existing.st_mode & 0o7777
        guard system.changeMode(output, mode) == 0 else {
            throw WriteError("cannot set the mode of the new file: \(systemErrorMessage(errno))")
        }
        try confirm(output, owner: existing.st_uid, group: existing.st_gid, mode: mode, of: target)
    }

    /// A new `--output` file, as `cp -p` makes it: the input's owner, group and mode when
    /// allowed; otherwise the caller's owner or group, and then without the set-user-id or
    /// set-group-id bit that belonged to the owner or group it could not keep.
    private func giveMetadata(of input: stat, to output: Int32) throws {
        if system.changeOwner(output, input.st_uid, input.st_gid) != 0 {
            _ = system.changeOwner(output, uid_t.max, input.st_gid)   // uid -1: keep the caller's
        }
        var current = stat()
        guard system.status(output, &current) == 0 else { throw WriteError("cannot stat the new file: \(systemErrorMessage(errno))") }
        var mode = input.st_mode & 0o7777
        if current.st_uid != input.st_uid { mode &= ~mode_t(S_ISUID) }
        if current.st_gid != input.st_gid { mode &= ~mode_t(S_ISGID) }
        guard system.changeMode(output, mode) == 0 else {
            throw WriteError("cannot set the mode of the new file: \(systemErrorMessage(errno))")
        }
        try confirm(output, owner: current.st_uid, group: current.st_gid, mode: mode, of: "the new file")
    }

    private func confirm(_ output: Int32, owner: uid_t, group: gid_t, mode: mode_t, of target: FilePath) throws {
        var result = stat()
        guard system.status(output, &result) == 0 else { throw WriteError("cannot stat the new file: \(systemErrorMessage(errno))") }
        guard result.st_uid == owner, result.st_gid == group, result.st_mode & 0o7777 == mode else {
            throw WriteError("the new file did not keep the owner, group and mode of \(target) (uid \(owner) gid \(group) mode \(String(mode, radix: 8)); got uid \(result.st_uid) gid \(result.st_gid) mode \(String(result.st_mode & 0o7777, radix: 8))); left alone")
        }
    }

    /// The extended attributes of the file being replaced, or of the input for a new file.
    private func copyExtendedAttributes(from open: Int32?, target: FilePath, to output: Int32) throws {
        if let open {
            copyExtendedAttributes(from: open, to: output)
            return
        }
        let descriptor = target.withCString { system.open($0, O_RDONLY | O_CLOEXEC) }
        guard descriptor >= 0 else { throw WriteError("cannot open \(target) to read its attributes: \(systemErrorMessage(errno))") }
        defer { _ = system.close(descriptor) }
        copyExtendedAttributes(from: descriptor, to: output)
    }

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
}
