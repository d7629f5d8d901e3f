#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The line that says how far long work has come (`bundle`, the patch mode with many
/// files): `swelf: bundle: writing: 12/303 files`, on stderr, redrawn in place (`\r`, then
/// "erase to the end of the line") at most ten times a second, and erased at the end, so
/// that nothing of it stays on the screen or mixes with the report.
///
/// Only when stderr is a terminal (not `TERM=dumb`) and not under `-q`: a pipe, a file or a log never
/// gets a byte of it. It is written straight to the descriptor, after the buffered
/// stderr, so that it never sits inside another message.
final class ProgressLine {
    private let terminal: Terminal
    private let label: String
    private var total: Int
    /// What is counted: "files", "programs".
    private let unit: String
    let enabled: Bool
    private var lastDraw: Double?
    private var drawn = false

    init(terminal: Terminal, label: String, total: Int, unit: String = "files") {
        self.terminal = terminal
        self.label = label
        self.total = total
        self.unit = unit
        // A terminal that cannot erase a line (TERM=dumb, an editor's shell buffer) would
        // show every drawing: none there either.
        let dumb = getenv("TERM").map { String(cString: $0) == "dumb" } ?? false
        enabled = terminal.verbosity != .quiet && isatty(2) == 1 && !dumb && terminal.programName == "swelf"
    }

    /// `done` of `total` finished; drawn when a tenth of a second has passed since the
    /// last drawing (the first is drawn at once).
    func update(_ done: Int) {
        update(done, of: total)
    }

    /// `update`, with a total learnt as the work goes (the files under a directory).
    func update(_ done: Int, of total: Int) {
        guard enabled else { return }
        self.total = total
        let now = ProgressLine.seconds()
        if let lastDraw, now - lastDraw < 0.1 && done < total { return }
        lastDraw = now
        draw("\r\u{1B}[K\(terminal.programName): \(label): \(done)/\(total) \(unit)")
        drawn = true
    }

    /// Erases the line (before the report, an error or the end).
    func clear() {
        guard enabled, drawn else { return }
        draw("\r\u{1B}[K")
        drawn = false
    }

    private func draw(_ text: String) {
        terminal.standardError.flush()
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = write(2, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }   // a lost progress line is no error
                done += n
            }
        }
    }

    private static func seconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
