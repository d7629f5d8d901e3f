import ELFKitCore
import ELFKitEdit
import ELFKitVerify

/// The whole edit pipeline for library users: read, plan, write, verify.
///
///     let result = try Rewriter().rewrite(path: "app", request: request)
///
public struct Rewriter {
    public struct Result: Sendable {
        /// False when the file already said what was asked and was left untouched.
        public var changed: Bool
        public var plan: RewritePlan
    }

    let writer: AtomicFileWriter
    /// Called with the planner's reasoning for each file, as soon as it is planned: before
    /// the verifier judges the result, and also when the planner refuses (`--debug`).
    let explain: ((_ decisions: [String]) -> Void)?

    public init() {
        writer = AtomicFileWriter()
        explain = nil
    }
    /// `durable: false`: see `AtomicFileWriter.durable` (what `--no-durability` gives up).
    /// `allowReadOnly`: see `AtomicFileWriter.allowReadOnly` (`--allow-read-only`).
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

    /// Plans the edit of an open file without writing anything.
    public func plan(file: ELFFile, request: EditRequest) throws(EditError) -> RewritePlan {
        var log: [String] = []
        return try plan(file: file, request: request, log: &log)
    }

    /// `plan(file:request:)`, with the reasoning in `log` even when the edit is refused.
    public func plan(file: ELFFile, request: EditRequest, log: inout [String]) throws(EditError) -> RewritePlan {
        let outcome = try DynamicEditor(file: file).apply(request)
        log = outcome.log
        return try LayoutPlanner(file: file, outcome: outcome, pageSize: request.pageSize).plan(log: &log)
    }

    /// Edits the file at `path`, writing to `output` (default: replacing `path`).
    ///
    /// The file is locked while it is read, edited and replaced, so concurrent edits of
    /// one file are serialised and none is lost (see `AtomicFileWriter`).
    /// The written temporary file is read back from disk and must pass every structural
    /// and semantic check before it replaces anything. A large file's planned image
    /// (`PlannedByteSource`) is also verified while its unchanged bulk is copied, so a
    /// wrong plan stops before a byte of it is written. On any failure the destination is
    /// left as it was and no temporary file remains.
    public func rewrite(path: String, request: EditRequest, output: String? = nil) throws -> Result {
        try rewrite(path: FilePath(path), request: request, output: output.map { FilePath($0) })
    }

    /// `rewrite(path:request:output:)` for paths as bytes (any bytes a Linux path may hold).
    ///
    /// Each path is resolved once, at the start (`AtomicFileWriter.resolve`): from then on
    /// the input is locked, checked and replaced through the directory and name found
    /// then, so a symbolic link swapped in meanwhile is never followed.
    public func rewrite(path: FilePath, request: EditRequest, output: FilePath? = nil) throws -> Result {
        let input = try writer.resolve(path, reading: true)
        let destination = try output.map { try writer.resolve($0) } ?? input
        return try rewrite(input: input, request: request, destination: destination)
    }

    private func rewrite(input: ResolvedPath, request: EditRequest, destination: ResolvedPath) throws -> Result {
        try writer.withLockedFile(at: input, exclusive: writer.namesSameFile(destination, asOpen: input)) { locked in
            try edit(source: locked.source, request: request, destination: destination, durableNow: true).result
        }
    }

    /// A file edited up to its replacement (`prepare`), waiting for `commit`.
    public struct Prepared: Sendable {
        public var result: Result
        /// The input and the destination as resolved at the start: an edit started again
        /// after a commit found the file replaced works on the same directory and name.
        let input: ResolvedPath
        let request: EditRequest
        let destination: ResolvedPath
        /// nil when nothing is left to do (nothing to change, or written in place).
        let pending: AtomicFileWriter.PendingReplacement?
    }

    /// Everything `rewrite` does except making the new file durable and renaming it over
    /// the destination. The input stays locked until the `Prepared` value is dropped;
    /// dropped without `commit`, the edit is abandoned and the new file removed. A file
    /// locked by anyone else throws `LockBusy` at once (edit it alone later, with
    /// `rewrite`), so that batches holding many locks never wait for each other.
    public func prepare(path: String, request: EditRequest, output: String? = nil) throws -> Prepared {
        try prepare(path: FilePath(path), request: request, output: output.map { FilePath($0) })
    }

    /// `prepare(path:request:output:)` for paths as bytes.
    public func prepare(path: FilePath, request: EditRequest, output: FilePath? = nil) throws -> Prepared {
        let input = try writer.resolve(path, reading: true)
        let destination = try output.map { try writer.resolve($0) } ?? input
        return try writer.withLockedFile(at: input, exclusive: writer.namesSameFile(destination, asOpen: input), wait: false, holding: { locked in
            let (result, pending) = try edit(source: locked.source, request: request, destination: destination, durableNow: false)
            pending?.keepLocked = locked
            return Prepared(result: result, input: input, request: request, destination: destination, pending: pending)
        })
    }

    /// Finishes prepared edits together, with one durability barrier for all of them
    /// (`AtomicFileWriter.commit`): no file is renamed before its data is on disk. Returns
    /// each file's error, nil where the file was replaced or had nothing to change. A file
    /// that another program renamed over the path meanwhile is edited again, by itself.
    public func commit(_ batch: [Prepared]) -> [(any Error)?] {
        let waiting = batch.indices.filter { batch[$0].pending != nil }
        let outcomes = writer.commit(waiting.map { batch[$0].pending! })
        var errors = [(any Error)?](repeating: nil, count: batch.count)
        for (position, index) in waiting.enumerated() {
            guard let error = outcomes[position] else { continue }
            if error is TargetReplaced {
                do {
                    _ = try rewrite(input: batch[index].input, request: batch[index].request, destination: batch[index].destination)
                } catch {
                    errors[index] = error
                }
            } else {
                errors[index] = error
            }
        }
        return errors
    }

    /// Reads, plans, verifies and writes; with `durableNow` also makes the new file
    /// durable and renames it, else returns it pending.
    private func edit(source: FileByteSource, request: EditRequest, destination: ResolvedPath,
                      durableNow: Bool) throws -> (result: Result, pending: AtomicFileWriter.PendingReplacement?) {
        let file = try ELFFile(source: source)
        var decisions: [String] = []
        let planned = Swift.Result { () throws(EditError) -> RewritePlan in try self.plan(file: file, request: request, log: &decisions) }
        explain?(decisions)
        let plan = try planned.get()
        let check = EditCheck(original: file, request: request)
        if plan.isEmpty && writer.names(destination, file: source) {
            // Nothing to change is right only if the file already says what was asked.
            let problems = check.problems(edited: file)
            if !problems.isEmpty { throw EditError.verificationFailed(problems) }
            return (Result(changed: false, plan: plan), nil)
        }
        // The plan's image, read through `PlannedByteSource`. The writer runs it where it
        // costs nothing, beside the copy of a large file's unchanged bulk (a refused edit
        // then stops before a byte of the plan is written), and where nothing else can judge:
        // before a character device or FIFO (`--output /dev/null`) is written in place.
        // A regular file's plan is judged once, on the written file below: on a small
        // library's --set-rpath (callgrind, release build) verifying both the plan and the
        // written file cost 8.77 M instructions, against 8.22 M for the plan alone.
        let verifyPlan = {
            let problems = check.problems(edited: try ELFFile(source: PlannedByteSource(base: source, plan: plan)))
            if !problems.isEmpty { throw EditError.verificationFailed(problems) }
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
            var problems = WrittenImageCheck(plan: plan, written: written).problems()
            if problems.isEmpty { problems = check.problems(edited: try ELFFile(source: written)) }
            if !problems.isEmpty { throw EditError.verificationFailed(problems) }
        }
        let result = Result(changed: !plan.isEmpty, plan: plan)
        if durableNow {
            try writer.write(plan: plan, input: source, to: destination.path, resolved: destination, verifyPlan: verifyPlan, check: checkWritten)
            return (result, nil)
        }
        return (result, try writer.prepare(plan: plan, input: source, to: destination.path, resolved: destination,
                                           verifyPlan: verifyPlan, check: checkWritten))
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

    package func problems(edited: ELFFile) -> [String] {
        newStructureProblems(edited)
            + IndependentVerifier(original: original, edited: edited, request: request).problems().map(\.description)
    }

    package func newStructureProblems(_ edited: ELFFile) -> [String] {
        let found = StructureVerifier(file: edited).problems()
        // The original is checked only when the edited file has problems (almost never):
        // one problem the input already had is not the edit's.
        guard !found.isEmpty else { return [] }
        let preexisting = Set(StructureVerifier(file: original).problems().map(\.identity))
        return found.filter { !preexisting.contains($0.identity) }.map(\.description)
    }
}

/// The writer did what the plan says: the file has the planned size and every patched
/// and appended byte is in place. (The bulk is copied by the kernel; the plan itself was
/// verified before writing.)
struct WrittenImageCheck {
    let plan: RewritePlan
    let written: any ByteSource

    func problems() -> [String] {
        guard written.size == plan.newSize else {
            return ["the written file has 0x\(hex(written.size)) bytes, the plan 0x\(hex(plan.newSize))"]
        }
        var regions = plan.patches.map { ($0.offset, $0.bytes) }
        if !plan.appended.isEmpty { regions.append((plan.appendOffset, plan.appended)) }
        for (offset, bytes) in regions {
            guard let actual = try? written.bytes(at: offset, count: UInt64(bytes.count), "written bytes"), actual == bytes else {
                return ["the written file differs from the plan at offset 0x\(hex(offset))"]
            }
        }
        return []
    }
}
