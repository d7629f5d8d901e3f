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

/// Produces an edited file next to its destination and renames it into place.
///
/// The unchanged bulk of the original is copied by the kernel (`copy_file_range`, which
/// may share blocks on filesystems that support it); only patches and appended bytes are
/// written from memory. The result is fsynced and checked before the rename, so a crash
/// or a failed check at any point leaves the destination as it was and no temporary
/// file behind. Renaming also means a running executable can be patched (no "Text file
/// busy"), and a symbolic link is followed, its target replaced, the link kept.
public struct AtomicFileWriter {
    private let system = SystemCalls()

    public init() {}

    /// Writes `plan` applied to `input` to `destination`. `check` reads the finished
    /// temporary file and throws to abandon the write.
    public func write(plan: RewritePlan, input: FileByteSource, to destination: String,
                      check: (FileByteSource) throws -> Void) throws {
        let target = resolvedTarget(destination)
        let directory = parentDirectory(of: target)
        var template = Array((directory + "/.swelf-XXXXXX").utf8CString)
        let output = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard output >= 0 else {
            throw WriteError("cannot create a temporary file in \(directory): \(systemErrorMessage(errno))")
        }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var renamed = false
        defer {
            close(output)
            if !renamed { unlink(temporary) }
        }

        try copyRange(from: input.descriptor, to: output, count: plan.keptPrefix)
        for patch in plan.patches {
            try writeAll(output, patch.bytes, at: patch.offset)
        }
        guard ftruncate(output, off_t(plan.newSize)) == 0 else {
            throw WriteError("cannot size the output: \(systemErrorMessage(errno))")
        }
        if !plan.appended.isEmpty {
            try writeAll(output, plan.appended, at: plan.appendOffset)
        }
        try copyMetadata(from: input.descriptor, existing: target, to: output)
        guard fsync(output) == 0 else { throw WriteError("fsync failed: \(systemErrorMessage(errno))") }

        try check(try FileByteSource(duplicating: output, path: temporary))

        // The data is on disk before the rename makes it visible, so a crash leaves either
        // the old file or the new one. The directory is not fsynced: a rename lost in a
        // crash leaves the intact original (and at worst a stray .swelf-* file), and one
        // directory fsync per file would double the cost of patching many small libraries.
        guard rename(temporary, target) == 0 else {
            throw WriteError("cannot replace \(target): \(systemErrorMessage(errno))")
        }
        renamed = true
    }

    /// The file a path names after following symbolic links; the path itself when it
    /// does not exist yet (a new `--output` file).
    package func resolvedTarget(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    package func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private func copyRange(from input: Int32, to output: Int32, count: UInt64) throws {
        var inputOffset: off_t = 0
        var outputOffset: off_t = 0
        var remaining = count
        var useKernelCopy = system.copyFileRange != nil
        while remaining > 0 {
            let chunk = Int(min(remaining, 1 << 30))
            if useKernelCopy {
                let copied = system.copyFileRange!(input, &inputOffset, output, &outputOffset, chunk, 0)
                if copied > 0 {
                    remaining -= UInt64(copied)
                    continue
                }
                if copied < 0 && errno == EINTR { continue }
                if copied == 0 { throw WriteError("the input file ended early while copying") }
                // Not supported across these filesystems: copy through memory.
                useKernelCopy = false
                continue
            }
            let size = min(chunk, 1 << 20)
            var buffer = [UInt8](repeating: 0, count: size)
            let got = buffer.withUnsafeMutableBytes { pread(input, $0.baseAddress!, size, inputOffset) }
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
            let written = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done)) }
            if written < 0 {
                if errno == EINTR { continue }
                throw WriteError("write failed: \(systemErrorMessage(errno))")
            }
            done += written
        }
    }

    /// Mode, owner (when permitted) and extended attributes: those of the file being
    /// replaced when there is one, else the input's.
    private func copyMetadata(from input: Int32, existing target: String, to output: Int32) throws {
        var status = stat()
        var inputStatus = stat()
        fstat(input, &inputStatus)
        var metadataSource = input
        var targetDescriptor: Int32 = -1
        if stat(target, &status) == 0 {
            // Replacing the input itself (the common case): its descriptor is open already.
            if status.st_dev != inputStatus.st_dev || status.st_ino != inputStatus.st_ino {
                targetDescriptor = open(target, O_RDONLY | O_CLOEXEC)
                if targetDescriptor >= 0 { metadataSource = targetDescriptor }
            }
        } else {
            status = inputStatus
        }
        defer { if targetDescriptor >= 0 { close(targetDescriptor) } }
        if geteuid() == 0 { _ = fchown(output, status.st_uid, status.st_gid) }
        guard fchmod(output, status.st_mode & 0o7777) == 0 else {
            throw WriteError("cannot set the file mode: \(systemErrorMessage(errno))")
        }
        copyExtendedAttributes(from: metadataSource, to: output)
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
