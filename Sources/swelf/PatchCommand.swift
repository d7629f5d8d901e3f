import ELFKit

/// Applies an edit request to one file and writes the result safely.
struct PatchCommand {
    let terminal: Terminal
    let debug: Bool

    func patch(path: String, edits: EditRequest, output: String?) throws {
        let result = try Rewriter().rewrite(path: path, request: edits, output: output)
        if debug {
            for line in result.plan.log { terminal.standardError.line("swelf: \(path): \(line)") }
            if !result.changed { terminal.standardError.line("swelf: \(path): nothing to change; file left untouched") }
        }
    }
}

/// `swelf verify`: the structural checks of the round-trip verifier, on any file.
struct VerifyCommand {
    let terminal: Terminal
    let json: Bool

    func run(_ files: [String]) -> ExitCode {
        var status = ExitCode.success
        var reports: [JSON] = []
        for path in files {
            var problems: [String]
            do {
                problems = StructureVerifier(file: try ELFFile(path: path)).problems().map(\.description)
            } catch {
                problems = ["\(error)"]
            }
            if !problems.isEmpty { status = .failure }
            if json {
                reports.append(.object([("file", .string(path)), ("ok", .bool(problems.isEmpty)),
                                        ("problems", .array(problems.map(JSON.string)))]))
            } else if problems.isEmpty {
                terminal.standardOutput.line("\(path): ok")
            } else {
                for problem in problems { terminal.standardOutput.line("\(path): \(problem)") }
            }
        }
        if json { terminal.standardOutput.line((reports.count == 1 ? reports[0] : .array(reports)).serialized()) }
        return status
    }
}
