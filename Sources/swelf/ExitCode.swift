/// Exit statuses. Usage errors follow sysexits(3), as swift-argument-parser does.
enum ExitCode: Int32 {
    case success = 0
    /// A file could not be read or is not a valid ELF file, or an edit was refused.
    case failure = 1
    /// The command line is wrong.
    case usage = 64
}

/// A command-line mistake, with the argument position it was found at.
struct UsageError: Error, CustomStringConvertible {
    let message: String
    /// Followed by "Try 'swelf --help'": false when the message says all there is (a
    /// `--root` that does not exist is not cured by reading the help).
    var hint = true
    var description: String { message }
}
