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

    public init() {}

    /// Plans the edit of an open file without writing anything.
    public func plan(file: ELFFile, request: EditRequest) throws(EditError) -> RewritePlan {
        let outcome = try DynamicEditor(file: file).apply(request)
        return try LayoutPlanner(file: file, outcome: outcome, pageSize: request.pageSize).plan()
    }

    /// Edits the file at `path`, writing to `output` (default: replacing `path`). The
    /// result is verified before it replaces anything; on any failure the destination is
    /// left as it was.
    public func rewrite(path: String, request: EditRequest, output: String? = nil) throws -> Result {
        let source = try FileByteSource(path: path)
        let file = try ELFFile(source: source)
        let plan = try self.plan(file: file, request: request)
        let destination = output ?? path
        let sameFile = output == nil || AtomicFileWriter().resolvedTarget(destination) == AtomicFileWriter().resolvedTarget(path)
        if plan.isEmpty && sameFile {
            return Result(changed: false, plan: plan)
        }
        try AtomicFileWriter().write(plan: plan, input: source, to: destination) { temporary in
            let written = try ELFFile(path: temporary)
            let problems = EditVerifier(original: file, edited: written, request: request, plan: plan).problems()
            if !problems.isEmpty { throw EditError.verificationFailed(problems) }
        }
        return Result(changed: !plan.isEmpty, plan: plan)
    }
}
