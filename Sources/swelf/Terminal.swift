#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKit

/// Buffered output to a file descriptor, written with `write(2)` in full on `flush`.
///
/// Output is bytes, not `String`: a path with invalid UTF-8 is printed exactly as the
/// file holds it, as patchelf does.
final class OutputStream {
    /// nil: a capturing stream, whose bytes the caller takes (`take`) and prints later.
    private let descriptor: Int32?
    /// `-q`: everything written is dropped (stdout under `--quiet`).
    var discarding: Bool
    private var buffer: [UInt8] = []
    /// The `errno` of the first write that failed (a full disk, `/dev/full`, a closed
    /// pipe); later output is dropped. The run's exit status must not claim success when
    /// its output was lost, so `main` reports it and fails.
    private(set) var writeError: Int32?

    init(descriptor: Int32?, discarding: Bool = false) {
        self.descriptor = descriptor
        self.discarding = discarding
    }

    /// The buffered bytes, removed from the stream.
    func take() -> [UInt8] {
        defer { buffer = [] }
        return buffer
    }

    /// Text as UTF-8, except that names carried as `ByteText` are written as their bytes.
    func write(_ text: String) { buffer.append(contentsOf: ByteText.bytes(text)) }
    func write(bytes: some Sequence<UInt8>) { buffer.append(contentsOf: bytes) }
    func line(_ text: String) {
        write(text)
        buffer.append(0x0a)
    }
    func line(bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
        buffer.append(0x0a)
    }

    func flush() {
        if discarding { buffer.removeAll(keepingCapacity: true) }
        guard let descriptor else { return }   // capturing: kept for the caller
        defer { buffer.removeAll(keepingCapacity: true) }
        guard writeError == nil else { return }   // the stream is already broken: drop
        var done = 0
        let failure: Int32? = buffer.withUnsafeBytes { raw in
            while done < raw.count {
                let n = Glibc.write(descriptor, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += n
            }
            return nil
        }
        writeError = failure
    }
}

/// How much swelf's own commands say (`-q`, `-v`); patchelf's personality is always `.normal`.
///   - quiet: nothing on stdout (the exit status is the answer), and on stderr only errors:
///     no warning, no progress line;
///   - normal: the reports, errors and warnings, identical warnings about more than three
///     files said once (`RepeatedWarnings`), and a progress line when stderr is a terminal;
///   - verbose: as normal, but every warning about every file on its own line.
enum Verbosity {
    case quiet, normal, verbose
}

/// A warning about a file, kept to be said later.
struct FileWarning: Sendable {
    var file: BytePath?
    var message: String
}

/// The process's standard streams and program name: passed to commands, never global.
final class Terminal {
    let standardOutput: OutputStream
    let standardError: OutputStream
    /// `swelf`, or `patchelf` when run as patchelf: the prefix of every message.
    let programName: String
    /// argv[0], which patchelf's usage text shows.
    let invokedAs: String

    /// `capturing`: nothing is written to the process's streams; the commands' output
    /// stays in the buffers for the caller to take (a file worked on in parallel).
    /// `-q`, `-v`: see `Verbosity`. Set once the command line is parsed; `-q` makes
    /// stdout drop what is written to it.
    var verbosity: Verbosity {
        didSet { standardOutput.discarding = verbosity == .quiet }
    }

    init(personality: Personality = .swelf, invokedAs: String = "swelf", capturing: Bool = false,
         verbosity: Verbosity = .normal) {
        self.verbosity = verbosity
        standardOutput = OutputStream(descriptor: capturing ? nil : 1, discarding: verbosity == .quiet)
        standardError = OutputStream(descriptor: capturing ? nil : 2)
        programName = personality.programName
        self.invokedAs = invokedAs
    }

    /// A one-line error on stderr: `swelf: FILE: message` (`patchelf: …` as patchelf).
    func error(_ message: String, file: BytePath? = nil) {
        if let file {
            // The file name as its bytes, as the user typed it.
            standardError.write("\(programName): ")
            standardError.write(bytes: file.bytes)
            standardError.line(": \(message)")
        } else {
            standardError.line("\(programName): \(message)")
        }
    }

    /// Warnings are kept until `printCollectedWarnings` (the patch mode with many files),
    /// to say identical ones once.
    var collectsWarnings = false
    private(set) var collectedWarnings: [FileWarning] = []

    /// A warning, `swelf: FILE: warning: message`; nothing under `-q`.
    func warning(_ message: String, file: BytePath? = nil) {
        guard verbosity != .quiet else { return }
        if collectsWarnings {
            collectedWarnings.append(FileWarning(file: file, message: message))
        } else {
            error("warning: \(message)", file: file)
        }
    }

    /// The collected warnings, removed (a file worked on in a captured terminal).
    func takeWarnings() -> [FileWarning] {
        defer { collectedWarnings = [] }
        return collectedWarnings
    }

    func collect(_ warnings: [FileWarning]) { collectedWarnings += warnings }

    /// The collected warnings, each as `warning` prints it, except that an identical
    /// warning about more than three files is one line (`RepeatedWarnings`):
    /// `swelf: warning: 5 files (a, b, c and 2 more): message`.
    func printCollectedWarnings() {
        let warnings = takeWarnings()
        guard !warnings.isEmpty else { return }
        let texts = warnings.map { warning in
            warning.file.map { ByteText.string($0.bytes) + ": " + warning.message } ?? warning.message
        }
        let subjects = warnings.compactMap { $0.file.map { ByteText.string($0.bytes) } }
        standardOutput.flush()
        for (first, line) in RepeatedWarnings.lines(texts, subjects: subjects) {
            if line == texts[first] {
                error("warning: \(warnings[first].message)", file: warnings[first].file)
            } else {
                error("warning: \(line)")
            }
        }
    }

    func flush() {
        standardOutput.flush()
        standardError.flush()
    }

    /// The loop of the commands that report on each file (`show`, `verify`, `doctor`,
    /// `ldd`): `report` prints a file's text at once, or under `json` returns its entry
    /// (`JSONEnvelope.entry`), and says whether the file passed. Under `json` the entries
    /// are printed at the end as one document whose `files` is an array, one entry per
    /// file whatever their number, a file that failed included.
    func eachFile<Path>(_ files: [Path], command: String, json: Bool,
                        _ report: (Path) -> (entry: JSON?, passed: Bool)) -> ExitCode {
        var status = ExitCode.success
        var entries: [JSON] = []
        for path in files {
            let (entry, passed) = report(path)
            if !passed { status = .failure }
            if let entry { entries.append(entry) }
        }
        if json {
            standardOutput.line(JSONEnvelope.files(command: command, ok: status == .success, entries).serialized())
        }
        return status
    }
}
