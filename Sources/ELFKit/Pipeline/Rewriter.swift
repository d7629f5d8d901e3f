import ELFKitCore
import ELFKitEdit
import ELFKitVerify

/// The whole edit pipeline: read, plan, write, verify, replace.
///
///     var request = EditRequest()
///     request.runPath = .set("$ORIGIN/../lib")
///     let result = try Rewriter().rewrite(path: "dist/bin/app", request: request)
///
/// Every file it writes was read back from disk and judged by an independent verifier
/// before it replaced anything (see `rewrite(path:request:output:)`). A `Rewriter` holds
/// nothing but its settings, so edits through one value are independent of each other;
/// it is not `Sendable` only because its `explain` closure need not be: make one per
/// thread.
public struct Rewriter {
    /// What an edit did, or would do (`preview`).
    public struct Result: Sendable {
        /// False when the file already said what was asked and was left untouched.
        public var changed: Bool
        /// Messages for the user that did not stop the edit (patchelf's `warning: …`).
        public var warnings: [String] { plan.warnings }
        /// The size of the input.
        public var originalSize: UInt64 { plan.originalSize }
        /// The size of the edited file (larger when tables had to move).
        public var newSize: UInt64 { plan.newSize }
        /// The tables that had to move to make room, as "name: old range -> new range".
        public var movedTables: [String] { plan.moves.map { "\($0.from) -> \($0.to)" } }
        /// The planner's reasoning, step by step (what `swelf --debug` prints).
        public var decisions: [String] { plan.log }
        package var plan: RewritePlan
    }

    let writer: AtomicFileWriter
    /// Called with the planner's reasoning for each file, as soon as it is planned: before
    /// the verifier judges the result, and also when the planner refuses (`--debug`).
    let explain: ((_ decisions: [String]) -> Void)?

    /// A rewriter that makes every new file durable (`fsync` of the file and its
    /// directory) before and after renaming it into place, and leaves read-only files alone.
    public init() {
        writer = AtomicFileWriter()
        explain = nil
    }
    /// A rewriter with chosen settings.
    ///
    /// - Parameters:
    ///   - durable: false skips the `fsync` calls: a crash soon after may leave the old
    ///     file or the new one, never a mixture, but the new one may not be on disk yet
    ///     (`swelf --no-durability`).
    ///   - allowReadOnly: true replaces files whose mode forbids their user to write them,
    ///     as long as the directory allows it (`swelf --allow-read-only`); false refuses
    ///     them with `RewriteError.notWritable`, as patchelf does.
    ///   - explain: called with the planner's reasoning for each file as soon as it is
    ///     planned, also when the edit is then refused.
    public init(durable: Bool, allowReadOnly: Bool = false, explain: ((_ decisions: [String]) -> Void)? = nil) {
        var writer = AtomicFileWriter()
        writer.durable = durable
        writer.allowReadOnly = allowReadOnly
        self.writer = writer
        self.explain = explain
    }
    /// A rewriter whose file-system calls are `writer`'s (tests inject failures there).
    package init(writer: AtomicFileWriter) {
        self.writer = writer
        explain = nil
    }

    /// The edit of `path`, planned and verified in memory, without writing anything: what
    /// `rewrite(path:request:output:)` would do.
    ///
    /// The planned image is judged by the same verifier as a written file, so an edit
    /// `preview` accepts is one `rewrite` makes (unless the file changes meanwhile).
    /// - Parameters:
    ///   - path: the file to read.
    ///   - request: the changes to make.
    /// - Returns: whether the file would change, its new size, the warnings.
    /// - Throws: `RewriteError`: `.invalidInput`, `.refused` or `.verificationFailed`.
    public func preview(path: String, request: EditRequest) throws(RewriteError) -> Result {
        do {
            return try previewed(ELFFile(path: path), request: request)
        } catch {
            throw RewriteError(error, path: path)
        }
    }

    /// `preview` of a file already open.
    private func previewed(_ file: ELFFile, request: EditRequest) throws -> Result {
        let plan = try planExplaining(file: file, request: request)
        let failures = EditCheck(original: file, request: request)
            .problems(edited: plan.isEmpty ? file : try ELFFile(source: PlannedByteSource(base: file.source, plan: plan)))
        if !failures.isEmpty { throw VerificationFailures(failures: failures) }
        return Result(changed: !plan.isEmpty, plan: plan)
    }

    /// `preview`, then the refusals `prepare` would make before writing (the file's user
    /// may not write it, its directory takes no new file), still without writing anything:
    /// the first pass of an edit of many files that must write all of them or none
    /// (`swelf autopatch`). An edit that passes is one `prepare` makes, unless the file
    /// system changes meanwhile or fills up.
    /// - Parameters:
    ///   - path: the file to read.
    ///   - request: the changes to make.
    ///
    /// A file of at most `ContentDigest.largestDigested` bytes is read whole, and the plan
    /// is kept with the digest of what it was verified on: given back to `prepare`, it
    /// spares that file a second plan and verification (`CheckedEdit`).
    /// - Returns: whether the file would change, its new size, the warnings, and the plan.
    /// - Throws: `RewriteError`, as `prepare` would for the same file.
    package func check(path: String, request: EditRequest) throws(RewriteError) -> CheckedEdit {
        do {
            let source = try FileByteSource(path: BytePath(path))
            let content = try ContentDigest.wholeContent(of: source)
            let result = try previewed(ELFFile(source: content.map(MemoryByteSource.init) ?? source), request: request)
            guard result.changed else { return CheckedEdit(result: result, original: nil) }
            try writer.checkReplaceable(BytePath(path))
            var kept = result
            kept.plan.log = []
            return CheckedEdit(result: kept, original: content.map(ContentDigest.init(of:)))
        } catch {
            throw RewriteError(error, path: path)
        }
    }

    /// Plans the edit of an open file without writing anything.
    package func plan(file: ELFFile, request: EditRequest) throws(EditError) -> RewritePlan {
        var log: [String] = []
        return try plan(file: file, request: request, log: &log)
    }

    /// `plan(file:request:)`, with the reasoning in `log` even when the edit is refused.
    package func plan(file: ELFFile, request: EditRequest, log: inout [String]) throws(EditError) -> RewritePlan {
        try OverlayPlanning.plan(file: file, request: request, log: &log)
    }

    /// Edits the file at `path`, writing to `output` (default: replacing `path`).
    ///
    /// The file is locked while it is read, edited and replaced, so concurrent edits of
    /// one file are serialised and none is lost. The new file is written next to the
    /// destination, read back from disk and judged by the independent verifier (the
    /// change is exactly the one requested, the file is still a valid, loadable ELF file)
    /// before it is renamed over the destination, keeping its owner, group and mode.
    /// On any failure the destination is left as it was and no temporary file remains.
    /// - Parameters:
    ///   - path: the file to edit.
    ///   - request: the changes to make.
    ///   - output: where to write the result; nil replaces `path`.
    /// - Returns: whether the file changed (false when it already said what was asked,
    ///   and then nothing is written), its new size, the warnings.
    /// - Throws: `RewriteError`, which says why nothing was written.
    public func rewrite(path: String, request: EditRequest, output: String? = nil) throws(RewriteError) -> Result {
        try rewrite(path: BytePath(path), request: request, output: output.map { BytePath($0) })
    }

    /// `rewrite(path:request:output:)` for paths as bytes (any bytes a Linux path may hold).
    ///
    /// Each path is resolved once, at the start: from then on the input is locked, checked
    /// and replaced through the directory and name found then, so a symbolic link swapped
    /// in meanwhile is never followed.
    /// - Parameters:
    ///   - path: the file to edit.
    ///   - request: the changes to make.
    ///   - output: where to write the result; nil replaces `path`.
    /// - Returns: whether the file changed, its new size, the warnings.
    /// - Throws: `RewriteError`, which says why nothing was written.
    public func rewrite(path: BytePath, request: EditRequest, output: BytePath? = nil) throws(RewriteError) -> Result {
        try resolving(path, output: output) { input, destination in
            try rewrite(input: input, request: request, destination: destination)
        }
    }

    /// Resolves `path` (to read) and `output` (nil: `path` again) once, for `body`; any
    /// error, from either or from `body`, becomes the `RewriteError` naming `path`.
    private func resolving<T>(_ path: BytePath, output: BytePath?,
                              _ body: (_ input: ResolvedPath, _ destination: ResolvedPath) throws -> T) throws(RewriteError) -> T {
        do {
            let input = try writer.resolve(path, reading: true)
            return try body(input, try output.map { try writer.resolve($0) } ?? input)
        } catch {
            throw RewriteError(error, path: path.description)
        }
    }

    private func rewrite(input: ResolvedPath, request: EditRequest, destination: ResolvedPath) throws -> Result {
        try writer.withLockedFile(at: input, exclusive: writer.namesSameFile(destination, asOpen: input)) { locked in
            try edit(source: locked.source, request: request, destination: destination, durableNow: true).result
        }
    }

    /// A file edited up to its replacement (`prepare`), waiting for `commit`. It holds
    /// the input's lock and the new file until it is committed or dropped.
    public struct Prepared: Sendable {
        /// What the edit does.
        public var result: Result
        /// The input and the destination as resolved at the start: an edit started again
        /// after a commit found the file replaced works on the same directory and name.
        let input: ResolvedPath
        let request: EditRequest
        let destination: ResolvedPath
        /// nil when nothing is left to do (nothing to change, or written in place).
        let pending: AtomicFileWriter.PendingReplacement?
        /// The checked plan given to `prepare` was written (the file was still the content
        /// checked), rather than a plan made and verified again.
        package var wroteCheckedPlan = false
    }

    /// Everything `rewrite` does except making the new file durable and renaming it over
    /// the destination: the first half of an edit of many files with one durability
    /// barrier for all (`commit`).
    ///
    /// The input stays locked until the `Prepared` value is dropped; dropped without
    /// `commit`, the edit is abandoned and the new file removed. A file locked by anyone
    /// else throws `RewriteError.busy` at once (edit it alone later, with `rewrite`), so
    /// that batches holding many locks never wait for each other.
    /// - Parameters:
    ///   - path: the file to edit.
    ///   - request: the changes to make.
    ///   - output: where to write the result; nil replaces `path`.
    /// - Returns: the edit, verified and written to a temporary file, waiting for `commit`.
    /// - Throws: `RewriteError`, which says why nothing was written.
    public func prepare(path: String, request: EditRequest, output: String? = nil) throws(RewriteError) -> Prepared {
        try prepare(path: BytePath(path), request: request, output: output.map { BytePath($0) })
    }

    /// `prepare(path:request:output:)` for paths as bytes.
    /// - Parameters:
    ///   - path: the file to edit.
    ///   - request: the changes to make.
    ///   - output: where to write the result; nil replaces `path`.
    /// - Returns: the edit, verified and written to a temporary file, waiting for `commit`.
    /// - Throws: `RewriteError`, which says why nothing was written.
    public func prepare(path: BytePath, request: EditRequest, output: BytePath? = nil) throws(RewriteError) -> Prepared {
        try prepare(path: path, request: request, output: output, checked: nil)
    }

    /// `prepare`, given what `check` proved about the same file and request: when the file
    /// is still the content that was checked, the checked plan is written and the written
    /// file compared byte for byte with the image the verifier accepted, instead of
    /// planning and verifying again (`CheckedEdit`). Otherwise, as `prepare`.
    package func prepare(path: BytePath, request: EditRequest, output: BytePath? = nil, checked: CheckedEdit?) throws(RewriteError) -> Prepared {
        try resolving(path, output: output) { input, destination in
            try writer.withLockedFile(at: input, exclusive: writer.namesSameFile(destination, asOpen: input), wait: false, holding: { locked in
                let (result, pending, wroteChecked) = try edit(source: locked.source, request: request, destination: destination,
                                                               durableNow: false, checked: checked)
                pending?.keepLocked = locked
                return Prepared(result: result, input: input, request: request, destination: destination, pending: pending,
                                wroteCheckedPlan: wroteChecked)
            })
        }
    }

    /// Finishes prepared edits together, with one durability barrier for all of them: no
    /// file is renamed before its data is on disk, and each file system is synced once.
    /// A file that another program renamed over the path meanwhile is edited again, by
    /// itself.
    /// - Parameter batch: the prepared edits; each one's lock is released by dropping it.
    /// - Returns: each file's error, in the order of `batch`; nil where the file was
    ///   replaced or had nothing to change.
    public func commit(_ batch: [Prepared]) -> [RewriteError?] {
        commit(batch) { edit in
            do {
                _ = try rewrite(input: edit.input, request: edit.request, destination: edit.destination)
                return nil
            } catch {
                return RewriteError(error, path: edit.input.path.description)
            }
        }
    }

    /// `commit`, with `replaced` deciding the outcome of an edit whose file another
    /// program renamed over the path between its prepare and the commit.
    func commit(_ batch: [Prepared], replaced: (Prepared) -> RewriteError?) -> [RewriteError?] {
        let waiting = batch.indices.filter { batch[$0].pending != nil }
        let outcomes = writer.commit(waiting.map { batch[$0].pending! })
        var errors = [RewriteError?](repeating: nil, count: batch.count)
        for (position, index) in waiting.enumerated() {
            guard let error = outcomes[position] else { continue }
            errors[index] = error is TargetReplaced ? replaced(batch[index]) : RewriteError(error, path: batch[index].input.path.description)
        }
        return errors
    }

    /// `plan(file:request:log:)`, its reasoning handed to `explain` even when the edit
    /// is refused.
    private func planExplaining(file: ELFFile, request: EditRequest) throws(EditError) -> RewritePlan {
        var decisions: [String] = []
        let planned = Swift.Result { () throws(EditError) -> RewritePlan in try self.plan(file: file, request: request, log: &decisions) }
        explain?(decisions)
        return try planned.get()
    }

    /// Reads, plans, verifies and writes; with `durableNow` also makes the new file
    /// durable and renames it, else returns it pending.
    private func edit(source: FileByteSource, request: EditRequest, destination: ResolvedPath,
                      durableNow: Bool, checked: CheckedEdit? = nil)
        throws -> (result: Result, pending: AtomicFileWriter.PendingReplacement?, wroteChecked: Bool) {
        if !durableNow, let checked, let original = checked.original, checked.result.changed, writer.names(destination, file: source),
           let content = try ContentDigest.wholeContent(of: source), ContentDigest(of: content) == original {
            // The content the plan was verified on: the written file must be that image.
            let image = PlannedByteSource(base: MemoryByteSource(content), plan: checked.result.plan)
            return (checked.result, try writer.prepare(plan: checked.result.plan, input: source, to: destination.path, resolved: destination,
                                                       verifyPlan: {}, check: WrittenEqualsVerifiedImage.check(against: image)), true)
        }
        let file = try ELFFile(source: source)
        let plan = try planExplaining(file: file, request: request)
        let check = EditCheck(original: file, request: request)
        if plan.isEmpty && writer.names(destination, file: source) {
            // Nothing to change is right only if the file already says what was asked.
            let failures = check.problems(edited: file)
            if !failures.isEmpty { throw VerificationFailures(failures: failures) }
            return (Result(changed: false, plan: plan), nil, false)
        }
        // The plan's image, read through `PlannedByteSource`. The writer runs it where it
        // costs nothing, beside the copy of a large file's unchanged bulk (a refused edit
        // then stops before a byte of the plan is written), and where nothing else can judge:
        // before a character device or FIFO (`--output /dev/null`) is written in place.
        // A regular file's plan is judged once, on the written file below: on a small
        // library's --set-rpath (callgrind, release build) verifying both the plan and the
        // written file cost 8.77 M instructions, against 8.22 M for the plan alone.
        let verifyPlan = {
            let failures = check.problems(edited: try ELFFile(source: PlannedByteSource(base: source, plan: plan)))
            if !failures.isEmpty { throw VerificationFailures(failures: failures) }
        }
        // The last word is on the bytes that will be renamed into place: the temporary file,
        // read back from disk through its own descriptor (the kept prefix as the kernel
        // copied it, the gaps as extending the file left them, the patches and appended bytes
        // as written), judged in full next to the original. The plan's verification above
        // says nothing about these bytes: "apply a plan" is implemented twice, by
        // `PlannedByteSource` and by the writer, and only this check shows that the file
        // the writer made is one the verifier accepts.
        let checkWritten = { (written: FileByteSource) throws in
            // First the writer against the plan (the patched and appended bytes, a few KiB):
            // a writer's mistake is named as one rather than as whatever the verifier finds.
            var failures = WrittenImageCheck(plan: plan, written: written).problems()
            if failures.isEmpty { failures = check.problems(edited: try ELFFile(source: written)) }
            if !failures.isEmpty { throw VerificationFailures(failures: failures) }
        }
        let result = Result(changed: !plan.isEmpty, plan: plan)
        if durableNow {
            try writer.write(plan: plan, input: source, to: destination.path, resolved: destination, verifyPlan: verifyPlan, check: checkWritten)
            return (result, nil, false)
        }
        return (result, try writer.prepare(plan: plan, input: source, to: destination.path, resolved: destination,
                                           verifyPlan: verifyPlan, check: checkWritten), false)
    }
}

/// What blocks a write: anything the independent verifier finds wrong with the edited
/// image (judged from the original file and the request alone, never from the plan), and
/// any structural problem the original did not already have (matched by kind and object,
/// not wording: offsets shift when tables move).
package struct EditCheck {
    let original: ELFFile
    let request: EditRequest

    package init(original: ELFFile, request: EditRequest) {
        self.original = original
        self.request = request
    }

    package func problems(edited: ELFFile) -> [VerificationFailure] {
        newStructureProblems(edited)
            + IndependentVerifier(original: original, edited: edited, request: request).problems().map(VerificationFailure.change)
    }

    package func newStructureProblems(_ edited: ELFFile) -> [VerificationFailure] {
        let found = StructureVerifier(file: edited).problems()
        // The original is checked only when the edited file has problems (almost never):
        // one problem the input already had is not the edit's.
        guard !found.isEmpty else { return [] }
        let preexisting = Set(StructureVerifier(file: original).problems().map(\.identity))
        return found.filter { !preexisting.contains($0.identity) }.map(VerificationFailure.structure)
    }
}

/// The writer did what the plan says: the file has the planned size and every patched
/// and appended byte is in place. (The bulk is copied by the kernel; the plan itself was
/// verified before writing.)
struct WrittenImageCheck {
    let plan: RewritePlan
    let written: any ByteSource

    func problems() -> [VerificationFailure] {
        guard written.size == plan.newSize else {
            return [.writtenFileDiffers(offset: nil, expectedSize: plan.newSize, actualSize: written.size)]
        }
        var regions = plan.patches.map { ($0.offset, $0.bytes) }
        if !plan.appended.isEmpty { regions.append((plan.appendOffset, plan.appended)) }
        for patch in plan.tail?.patches ?? [] { regions.append((patch.offset, patch.bytes)) }
        for (offset, bytes) in regions {
            guard let actual = try? written.bytes(at: offset, count: UInt64(bytes.count), "written bytes"), actual == bytes else {
                return [.writtenFileDiffers(offset: offset, expectedSize: plan.newSize, actualSize: written.size)]
            }
        }
        return []
    }
}
