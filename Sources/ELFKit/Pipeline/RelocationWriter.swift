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
    ///
    /// With `checked` (what `checkRelocation` proved about this file, patches and
    /// request) and the file still the content it checked, its engine plan is written
    /// without planning and verifying again, and the written file is compared with the
    /// image built as the checked one was.
    package func prepareRelocation(path: String, dataPatches: [(offset: UInt64, bytes: [UInt8])],
                                   pairs: [(old: [UInt8], new: [UInt8])], request: EditRequest,
                                   checked: CheckedEdit? = nil) throws(RewriteError) -> Prepared {
        do {
            let input = try writer.resolve(BytePath(path), reading: true)
            return try writer.withLockedFile(at: input, exclusive: true, wait: false, holding: { locked in
                let source: FileByteSource = locked.source
                // The data patches as a plan over the original, read through lazily: no copy
                // of the file is held (a 200 MB program costs a few blocks of memory).
                let dataPlan = try Rewriter.dataPlan(dataPatches, originalSize: source.size)
                if request.isEmpty {
                    // Data strings alone (most files of a large prefix: source paths in
                    // .rodata). The written file itself is what the data check judges,
                    // against the original: one read of each, where judging the image first
                    // and then comparing the written file with it read a large program four
                    // times. The writer against the plan first (every patch is in the
                    // written file: a missing one would pass the data check as unchanged).
                    let pending = try writer.prepare(plan: dataPlan, input: source, to: input.path, resolved: input, verifyPlan: {}) { written in
                        var failures = WrittenImageCheck(plan: dataPlan, written: written).problems()
                        if failures.isEmpty {
                            failures = RelocationDataCheck(original: source, edited: written, pairs: pairs).problems()
                                .map { .change(VerificationProblem(.image, $0)) }
                        }
                        if !failures.isEmpty { throw VerificationFailures(failures: failures) }
                    }
                    pending?.keepLocked = locked
                    return Prepared(result: Result(changed: !dataPlan.isEmpty, plan: dataPlan), input: input, request: request,
                                    destination: input, pending: pending)
                }
                var original: any ByteSource = source
                let enginePlan: RewritePlan
                var wroteChecked = false
                if let checked, let digest = checked.original, let content = try ContentDigest.wholeContent(of: source),
                   ContentDigest(of: content) == digest {
                    // The content `checkRelocation` judged: its engine plan stands, and the
                    // image below is built exactly as the one both verifiers accepted.
                    original = MemoryByteSource(content)
                    enginePlan = checked.result.plan
                    wroteChecked = true
                } else {
                    enginePlan = try verifiedEnginePlan(original: source, dataPlan: dataPlan, pairs: pairs, request: request)
                }
                let combined = try Rewriter.combine(engine: enginePlan, data: dataPlan)
                let image = PlannedByteSource(base: PlannedByteSource(base: original, plan: dataPlan), plan: enginePlan)
                let pending = try writer.prepare(plan: combined, input: source, to: input.path, resolved: input,
                                                 verifyPlan: {}, check: WrittenEqualsVerifiedImage.check(against: image))
                pending?.keepLocked = locked
                return Prepared(result: Result(changed: !combined.isEmpty, plan: combined), input: input, request: request,
                                destination: input, pending: pending, wroteCheckedPlan: wroteChecked)
            })
        } catch {
            throw RewriteError(error, path: path)
        }
    }

    /// Everything `prepareRelocation` proves, without writing or holding anything: the
    /// data patches and the engine's plan, each judged by its verifier, and the file and
    /// its directory writable. `swelf relocate` runs it on every file of a tree larger than
    /// one chunk before the first chunk is written, so that a file only a write would find
    /// wrong stops the run with nothing changed.
    ///
    /// The file is read under a shared lock taken without waiting: a file another swelf is
    /// editing is `busy` here, before any write, rather than in a later chunk. A file of at
    /// most `ContentDigest.largestDigested` bytes is read whole and its engine plan kept
    /// with the digest (`CheckedEdit`): `prepareRelocation` given it plans and verifies
    /// nothing again while the file still holds that content.
    package func checkRelocation(path: String, dataPatches: [(offset: UInt64, bytes: [UInt8])],
                                 pairs: [(old: [UInt8], new: [UInt8])], request: EditRequest) throws(RewriteError) -> CheckedEdit {
        do {
            let input = try writer.resolve(BytePath(path), reading: true)
            let edit = try writer.withLockedFile(at: input, exclusive: false, wait: false, holding: { locked in
                let source: FileByteSource = locked.source
                // Nothing to keep for data strings alone: their prepare judges the written
                // file directly, so the file is not read whole and digested here.
                let content = request.isEmpty ? nil : try ContentDigest.wholeContent(of: source)
                let original: any ByteSource = content.map(MemoryByteSource.init) ?? source
                let dataPlan = try Rewriter.dataPlan(dataPatches, originalSize: original.size)
                var enginePlan = try verifiedEnginePlan(original: original, dataPlan: dataPlan, pairs: pairs, request: request)
                let combined = try Rewriter.combine(engine: enginePlan, data: dataPlan)
                enginePlan.log = []
                return CheckedEdit(result: Result(changed: !combined.isEmpty, plan: enginePlan), original: content.map(ContentDigest.init(of:)))
            })
            try writer.checkReplaceable(BytePath(path))
            return edit
        } catch {
            throw RewriteError(error, path: path)
        }
    }

    /// The data patches as a plan over a file of `originalSize` bytes, each checked to lie
    /// inside it.
    static func dataPlan(_ dataPatches: [(offset: UInt64, bytes: [UInt8])], originalSize: UInt64) throws(ELFError) -> RewritePlan {
        var plan = RewritePlan(originalSize: originalSize)
        for patch in dataPatches {
            guard patch.offset <= originalSize, UInt64(patch.bytes.count) <= originalSize - patch.offset else {
                throw ELFError(.invalid, "a data string patch lies outside the file", offset: patch.offset)
            }
            plan.patches.append(RewritePlan.Patch(offset: patch.offset, bytes: patch.bytes))
        }
        plan.patches.sort { $0.offset < $1.offset }
        return plan
    }

    /// Both verdicts of a relocation on `original`: `RelocationDataCheck` judges the image
    /// through `dataPlan` (M) against `original`; the engine plans `request` on M as if M
    /// were the file on disk, and `EditCheck` judges that plan's image against M. Returns
    /// the engine's plan (over M; empty when `request` is).
    func verifiedEnginePlan(original: any ByteSource, dataPlan: RewritePlan, pairs: [(old: [UInt8], new: [UInt8])],
                            request: EditRequest) throws -> RewritePlan {
        let intermediate = PlannedByteSource(base: original, plan: dataPlan)
        let dataProblems = RelocationDataCheck(original: original, edited: intermediate, pairs: pairs).problems()
        if !dataProblems.isEmpty {
            throw VerificationFailures(failures: dataProblems.map { .change(VerificationProblem(.image, $0)) })
        }
        guard !request.isEmpty else { return RewritePlan(originalSize: original.size) }
        let middle = try ELFFile(source: intermediate)
        let enginePlan = try plan(file: middle, request: request)
        let failures = EditCheck(original: middle, request: request)
            .problems(edited: try ELFFile(source: PlannedByteSource(base: intermediate, plan: enginePlan)))
        if !failures.isEmpty { throw VerificationFailures(failures: failures) }
        return enginePlan
    }

    /// The plan over the original that writes what the engine's plan over M does: the
    /// engine's patches and the data patches together. That equals the engine's image
    /// only while every data patch lies in what the engine keeps of M (its kept prefix,
    /// outside its own patches and outside an overlay it moves, which it copies from the
    /// original): a plan that breaks this is refused. The written file is then compared
    /// with the engine's image over M byte for byte, so an error here could only refuse.
    static func combine(engine: RewritePlan, data: RewritePlan) throws(ELFError) -> RewritePlan {
        var combined = engine
        for patch in data.patches {
            let range = patch.offset ..< patch.offset + UInt64(patch.bytes.count)
            if range.upperBound > engine.keptPrefix {
                throw ELFError(.invalid, "a data string lies in the part of the file the engine rebuilds", offset: patch.offset)
            }
            if engine.patches.contains(where: { range.overlaps($0.offset ..< $0.offset + UInt64($0.bytes.count)) }) {
                throw ELFError(.invalid, "a data string overlaps what the rewrite engine changes", offset: patch.offset)
            }
            if let tail = engine.tail, range.overlaps(tail.sourceOffset ..< tail.sourceOffset &+ tail.length) {
                throw ELFError(.invalid, "a data string lies in the bytes after the image, which the engine moves", offset: patch.offset)
            }
        }
        combined.patches = (combined.patches + data.patches).sorted { $0.offset < $1.offset }
        return combined
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
