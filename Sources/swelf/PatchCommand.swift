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
    /// False with `--no-durability`.
    var durable = true
    /// True with `--allow-read-only`.
    var allowReadOnly = false

    /// The pipeline for `path`; with `--debug` it shows the plan's reasoning as soon as the
    /// file is planned, so it is shown even when the planner or the verifier then refuses.
    private func rewriter(for path: BytePath) -> Rewriter {
        guard debug else { return Rewriter(durable: durable, allowReadOnly: allowReadOnly) }
        let terminal = self.terminal
        return Rewriter(durable: durable, allowReadOnly: allowReadOnly, explain: { decisions in
            for line in decisions {
                terminal.standardError.write(bytes: Array("\(terminal.programName): ".utf8) + path.bytes)
                terminal.standardError.line(": \(line)")
            }
            terminal.standardError.flush()
        })
    }

    func patch(path: BytePath, edits: EditRequest, output: BytePath?) throws {
        // A device or FIFO given as --output is written in place by the writer, never
        // renamed over (see AtomicFileWriter).
        let result = try rewriter(for: path).rewrite(path: path, request: edits, output: output)
        warn(result.warnings, file: path)
        if debug && !result.changed {
            terminal.error("nothing to change; file left untouched", file: path)
        }
    }

    /// The edit of `path` in place, up to its replacement: for `Rewriter.commit`, which
    /// makes many files durable at once. The file stays locked until then.
    func prepare(path: BytePath, edits: EditRequest) throws -> Rewriter.Prepared {
        let prepared = try rewriter(for: path).prepare(path: path, request: edits)
        warn(prepared.result.warnings, file: path)
        if debug && !prepared.result.changed {
            terminal.error("nothing to change; file left untouched", file: path)
        }
        return prepared
    }

    /// Warnings as patchelf prints them (`warning: …`), or as swelf's own messages.
    private func warn(_ warnings: [String], file: BytePath) {
        for warning in warnings {
            if terminal.programName == "patchelf" {
                terminal.standardError.line("warning: \(warning)")
            } else {
                terminal.error("warning: \(warning)", file: file)
            }
        }
    }
}

/// `swelf verify`: the structural checks of the round-trip verifier, on any file.
///
/// A file that passes prints `FILE: ok` on stdout. Every problem is printed on stderr
/// (`swelf: FILE: problem`), so a script that keeps stdout sees only the files that
/// passed, and the status is 1. A file no loader maps (a core dump, an object file, a
/// kernel module) is not judged as a program: verify says what it is, on stderr, and
/// fails, since "ok" would claim it is a consistent, loadable file.
struct VerifyCommand {
    let terminal: Terminal
    let json: Bool

    func run(_ files: [BytePath]) -> ExitCode {
        terminal.eachFile(files, command: "verify", json: json) { path in
            var problems: [String]
            do {
                let file = try ELFFile(path: path)
                if let kind = UnloadableKind(file) {
                    problems = ["\(kind): verify checks only those"]
                } else {
                    problems = StructureVerifier(file: file).problems().map(\.description)
                }
            } catch {
                problems = ["\(error)"]
            }
            if json {
                // Errors go to stderr in every form; the JSON on stdout holds them as data.
                for problem in problems { terminal.error(problem, file: path) }
                return (JSONEnvelope.entry(file: .bytes(path.bytes), ok: problems.isEmpty, error: problems.first,
                                           [("problems", .array(problems.map(JSON.string)))]), problems.isEmpty)
            } else if problems.isEmpty {
                terminal.standardOutput.line(bytes: path.bytes + Array(": ok".utf8))
            } else {
                // stdout first, so the two streams stay in file order on a terminal.
                terminal.standardOutput.flush()
                for problem in problems { terminal.error(problem, file: path) }
            }
            return (nil, problems.isEmpty)
        }
    }
}
