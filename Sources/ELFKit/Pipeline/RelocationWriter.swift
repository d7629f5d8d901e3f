#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore
import ELFKitEdit
import ELFKitVerify

/// The writes of `swelf relocate`: one verified, atomic replacement per file, through the
/// same writer (`AtomicFileWriter`: lock, temporary file beside it, owner, mode, ACL and
/// attributes kept, rename) and the same prepare/commit batching as every edit.
extension Rewriter {
    /// Prepares the relocation of an ELF file: `dataPatches` (data strings rewritten in
    /// place, same size) and `request` (the dynamic strings, for the rewrite engine).
    ///
    /// How the two are combined, and why so: the data patches are applied to the file
    /// first (a view through them, `PlannedByteSource`), giving an intermediate image M of
    /// the same size.
    /// `RelocationDataCheck` judges M against the original (every changed byte is a mapped
    /// string, NUL-padded; nothing else moved). The engine then plans `request` on M, as if
    /// M were the file on disk, and `EditCheck` (the independent verifier) judges the
    /// engine's image against M, exactly as for any edit. So each verifier sees only the
    /// change it knows how to judge, and the two verdicts chain: original -> M -> final.
    /// The file written is the original plus the data patches plus the engine's patches
    /// (the engine never touches a data string: those lie outside PT_INTERP and the
    /// dynamic string table; a plan whose patches overlap them is refused); before the
    /// rename it is compared byte for byte with the final image the verifiers accepted
    /// (`WrittenEqualsVerifiedImage`), so the verdicts hold for the bytes renamed into
    /// place. The alternative, two writes (data, then the engine on the result), would
    /// leave a half-relocated file after a failure between them.
    package func prepareRelocation(path: String, dataPatches: [(offset: UInt64, bytes: [UInt8])],
                                   pairs: [(old: [UInt8], new: [UInt8])], request: EditRequest) throws(RewriteError) -> Prepared {
        do {
            let input = try writer.resolve(BytePath(path), reading: true)
            return try writer.withLockedFile(at: input, exclusive: true, wait: false, holding: { locked in
                let source: FileByteSource = locked.source
                // The data patches as a plan over the original, read through lazily: no copy
                // of the file is held (a 200 MB program costs a few blocks of memory).
                var dataPlan = RewritePlan(originalSize: source.size)
                for patch in dataPatches {
                    guard patch.offset <= source.size, UInt64(patch.bytes.count) <= source.size - patch.offset else {
                        throw ELFError(.invalid, "a data string patch lies outside the file", offset: patch.offset)
                    }
                    dataPlan.patches.append(RewritePlan.Patch(offset: patch.offset, bytes: patch.bytes))
                }
                dataPlan.patches.sort { $0.offset < $1.offset }
                let intermediate = PlannedByteSource(base: source, plan: dataPlan)
                let dataProblems = RelocationDataCheck(original: source, edited: intermediate, pairs: pairs).problems()
                if !dataProblems.isEmpty {
                    throw VerificationFailures(failures: dataProblems.map { .change(VerificationProblem(.image, $0)) })
                }
                let middle = try ELFFile(source: intermediate)
                var enginePlan = RewritePlan(originalSize: source.size)
                if !request.isEmpty {
                    enginePlan = try plan(file: middle, request: request)
                    let failures = EditCheck(original: middle, request: request)
                        .problems(edited: try ELFFile(source: PlannedByteSource(base: intermediate, plan: enginePlan)))
                    if !failures.isEmpty { throw VerificationFailures(failures: failures) }
                }
                // The combined plan over the original: data patches, then the engine's.
                var combined = enginePlan
                let data = dataPatches.map { RewritePlan.Patch(offset: $0.offset, bytes: $0.bytes) }
                for patch in data where patch.offset + UInt64(patch.bytes.count) > combined.keptPrefix {
                    throw ELFError(.invalid, "a data string lies in the part of the file the engine rebuilds", offset: patch.offset)
                }
                for patch in data {
                    let range = patch.offset ..< patch.offset + UInt64(patch.bytes.count)
                    if combined.patches.contains(where: { range.overlaps($0.offset ..< $0.offset + UInt64($0.bytes.count)) }) {
                        throw ELFError(.invalid, "a data string overlaps what the rewrite engine changes", offset: patch.offset)
                    }
                }
                combined.patches = (combined.patches + data).sorted { $0.offset < $1.offset }
                let image = PlannedByteSource(base: intermediate, plan: enginePlan)
                let pending = try writer.prepare(plan: combined, input: source, to: input.path, resolved: input,
                                                 verifyPlan: {}, check: WrittenEqualsVerifiedImage.check(against: image))
                pending?.keepLocked = locked
                return Prepared(result: Result(changed: !combined.isEmpty, plan: combined), input: input, request: request,
                                destination: input, pending: pending)
            })
        } catch {
            throw RewriteError(error, path: path)
        }
    }

    /// Prepares the replacement of a text file's whole content by `content`, keeping its
    /// owner, mode and attributes (the same writer as an ELF edit). The written file is
    /// read back and compared with `content` before it may be renamed into place.
    package func prepareReplacement(path: String, content: [UInt8]) throws(RewriteError) -> Prepared {
        do {
            let input = try writer.resolve(BytePath(path), reading: true)
            return try writer.withLockedFile(at: input, exclusive: true, wait: false, holding: { locked in
                let source: FileByteSource = locked.source
                var plan = RewritePlan(originalSize: source.size)
                plan.keptPrefix = 0
                plan.appendOffset = 0
                plan.appended = content
                let pending = try writer.prepare(plan: plan, input: source, to: input.path, resolved: input,
                                                 verifyPlan: {}, check: WrittenEqualsVerifiedImage.check(against: MemoryByteSource(content)))
                pending?.keepLocked = locked
                return Prepared(result: Result(changed: true, plan: plan), input: input, request: EditRequest(),
                                destination: input, pending: pending)
            })
        } catch {
            throw RewriteError(error, path: path)
        }
    }

    /// `commit` for relocations: a file another process replaced between the prepare and
    /// the commit is an error, not edited again (`commit` would redo only the engine's
    /// request and lose the data strings).
    package func commitRelocations(_ batch: [Prepared]) -> [RewriteError?] {
        commit(batch) { edit in
            .fileSystem(WriteError("\(edit.input.path.description) was replaced by another process while it was relocated; left alone"))
        }
    }

    /// Re-points the symbolic link `path` at `target`: a new link made beside it under a
    /// temporary name, renamed over it (atomic: the name always resolves to the old or the
    /// new target), the directory synced.
    package func repoint(link path: String, to target: [UInt8]) throws(RewriteError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let temporary = (directory == "/" ? "" : directory) + "/.swelf-link-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let made = (target + [0]).withUnsafeBufferPointer { symlink(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), temporary) }
        guard made == 0 else { throw .fileSystem(WriteError("cannot make a link beside \(path)", code: errno)) }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw .fileSystem(WriteError("cannot replace the link \(path)", code: code))
        }
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 {
            _ = fsync(descriptor)
            close(descriptor)
        }
    }
}

extension Rewriter {
    /// Whether `path` may be replaced (its user may write it, or `allowReadOnly`; its
    /// directory takes a new file), without writing anything: checked for every file of a
    /// relocation before the first is written, so that a read-only file stops the run
    /// with nothing changed.
    package func checkWritable(path: String) throws(RewriteError) {
        do { try writer.checkReplaceable(BytePath(path)) } catch { throw RewriteError(error, path: path) }
    }
}
