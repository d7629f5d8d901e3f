// Sets the RUNPATH of a program to `$ORIGIN/lib`: it then finds its libraries in the `lib`
// folder beside it, wherever it is copied. Usage: set-origin-rpath PROGRAM
import ELFKit
import Glibc

let request = EditRequest(runPath: .set("$ORIGIN/lib"))
do {
    // Reads, plans, writes a temporary file, verifies it, and only then renames it over.
    let result = try Rewriter().rewrite(path: CommandLine.arguments[1], request: request)
    print(result.changed ? "RUNPATH set to $ORIGIN/lib" : "RUNPATH was already $ORIGIN/lib")
} catch {
    // A RewriteError: invalid input, refused, failed verification, busy, not writable, or a
    // file-system error with its errno. In every case the file is as it was.
    print("unchanged: \(error)")
    exit(1)
}
