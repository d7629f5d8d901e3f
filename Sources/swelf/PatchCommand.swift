import ELFKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Applies an edit request to one file and writes the result safely.
struct PatchCommand {
    let terminal: Terminal
    let debug: Bool
    var keepOldSections = false
    /// False with `--no-durability`.
    var durable = true

    func patch(path: FilePath, edits: EditRequest, output: FilePath?) throws {
        let name = terminal.programName
        if debug {
            // The plan's reasoning first, so that it is shown even when the verifier then
            // refuses the result.
            let plan = try Rewriter().plan(file: try ELFFile(path: path), request: edits)
            for line in plan.log { terminal.standardError.write(bytes: Array("\(name): ".utf8) + path.bytes); terminal.standardError.line(": \(line)") }
            terminal.standardError.flush()
        }
        if keepOldSections { try checkOldSectionsKept(path: path, edits: edits) }
        // A device or FIFO given as --output is written in place by the writer, never
        // renamed over (see AtomicFileWriter).
        let result = try Rewriter(durable: durable).rewrite(path: path, request: edits, output: output)
        warn(result.plan.warnings, file: path)
        if debug && !result.changed {
            terminal.error("nothing to change; file left untouched", file: path)
        }
    }

    /// The edit of `path` in place, up to its replacement: for `Rewriter.commit`, which
    /// makes many files durable at once. The file stays locked until then.
    func prepare(path: FilePath, edits: EditRequest) throws -> Rewriter.Prepared {
        let name = terminal.programName
        if debug {
            let plan = try Rewriter().plan(file: try ELFFile(path: path), request: edits)
            for line in plan.log { terminal.standardError.write(bytes: Array("\(name): ".utf8) + path.bytes); terminal.standardError.line(": \(line)") }
        }
        if keepOldSections { try checkOldSectionsKept(path: path, edits: edits) }
        let prepared = try Rewriter(durable: durable).prepare(path: path, request: edits)
        warn(prepared.result.plan.warnings, file: path)
        if debug && !prepared.result.changed {
            terminal.error("nothing to change; file left untouched", file: path)
        }
        return prepared
    }

    /// Warnings as patchelf prints them (`warning: …`), or as swelf's own messages.
    private func warn(_ warnings: [String], file: FilePath) {
        for warning in warnings {
            if terminal.programName == "patchelf" {
                terminal.standardError.line("warning: \(warning)")
            } else {
                terminal.error("warning: \(warning)", file: file)
            }
        }
    }

    /// `--no-clobber-old-sections`: every section the edit moves must keep its old bytes
    /// at its old offset. swelf never fills a moved table's old place, but the program
    /// header table may grow over it, and a later table may be placed there; such an edit
    /// is refused. The oracle is the original file against the planned image.
    private func checkOldSectionsKept(path: FilePath, edits: EditRequest) throws {
        let source = try FileByteSource(path: path)
        let original = try ELFFile(source: source)
        let plan = try Rewriter().plan(file: original, request: edits)
        let planned = try ELFFile(source: PlannedByteSource(base: source, plan: plan))
        for (index, old) in original.sectionHeaders.enumerated() where old.type != .nobits && old.size > 0 && index > 0 {
            if index < planned.sectionHeaders.count, planned.sectionHeaders[index].offset == old.offset { continue }
            let limit = min(source.size, plan.newSize)
            guard old.offset <= limit, old.size <= limit - old.offset else {
                throw CommandError("--no-clobber-old-sections: the old place of section \(index) (offset 0x\(String(old.offset, radix: 16))) is not kept in the output")
            }
            let before = try source.bytes(at: old.offset, count: old.size, "section \(index)")
            let after = try PlannedByteSource(base: source, plan: plan).bytes(at: old.offset, count: old.size, "section \(index)")
            guard before == after else {
                throw CommandError("--no-clobber-old-sections: this edit moves section \(index) and overwrites its old bytes at offset 0x\(String(old.offset, radix: 16)) (the program header table or a moved table takes that space); refused")
            }
        }
    }
}

/// `swelf verify`: the structural checks of the round-trip verifier, on any file.
struct VerifyCommand {
    let terminal: Terminal
    let json: Bool

    func run(_ files: [FilePath]) -> ExitCode {
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
                reports.append(.object([("file", .bytes(path.bytes)), ("ok", .bool(problems.isEmpty)),
                                        ("problems", .array(problems.map(JSON.string)))]))
            } else if problems.isEmpty {
                terminal.standardOutput.line(bytes: path.bytes + Array(": ok".utf8))
            } else {
                for problem in problems { terminal.standardOutput.line(bytes: path.bytes + Array(": \(problem)".utf8)) }
            }
        }
        if json { terminal.standardOutput.line((reports.count == 1 ? reports[0] : .array(reports)).serialized()) }
        return status
    }
}
