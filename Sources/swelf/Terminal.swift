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
    private var buffer: [UInt8] = []
    /// The `errno` of the first write that failed (a full disk, `/dev/full`, a closed
    /// pipe); later output is dropped. The run's exit status must not claim success when
    /// its output was lost, so `main` reports it and fails.
    private(set) var writeError: Int32?

    init(descriptor: Int32?) { self.descriptor = descriptor }

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
    init(personality: Personality = .swelf, invokedAs: String = "swelf", capturing: Bool = false) {
        standardOutput = OutputStream(descriptor: capturing ? nil : 1)
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
