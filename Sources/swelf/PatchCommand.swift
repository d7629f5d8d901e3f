import ELFKit

/// Applies an edit request to one file and writes the result safely.
struct PatchCommand {
    let terminal: Terminal
    let debug: Bool

    func patch(file: ELFFile, path: String, edits: EditRequest, output: String?) throws {
        throw CommandError("editing is not available yet")
    }

    func copyUnchanged(path: String, to output: String) throws {
        throw CommandError("editing is not available yet")
    }
}

struct VerifyCommand {
    let terminal: Terminal
    let json: Bool
    func run(_ files: [String]) -> ExitCode {
        terminal.error("verify is not available yet")
        return .failure
    }
}
