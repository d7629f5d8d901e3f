#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SwelfStartup

// Everything lives in a function, not in top-level globals: no global state, and nothing
// here depends on the implicit main actor (the release binary is built without the
// Concurrency module, whose start-up work and pages swelf does not need; see scripts/install).
func runCommandLine() -> Never {
    // Under a file-size limit (`ulimit -f`) a write past it would kill the process with
    // SIGXFSZ and no message; ignored, the write fails with EFBIG, which is reported like
    // any write error, and the input is left as it was.
    signal(SIGXFSZ, SIG_IGN)
    // argv as the kernel gave it: bytes, never decoded (a file name or a value need not be UTF-8).
    // From SwelfStartup's constructor where there is one: a dynamically linked build's
    // CommandLine comes from the runtime library's /proc/self/maps reader, which finds no
    // arguments at all without /proc (a chroot, early boot).
    var startCount: Int32 = 0
    let start = swelf_start_arguments(&startCount)
    let count = start == nil ? Int(CommandLine.argc) : Int(startCount)
    let rawArguments: [[UInt8]] = (0 ..< count).map { index in
        guard let argument = start.map({ $0[index] }) ?? CommandLine.unsafeArgv[index] else { return [] }
        return Array(UnsafeRawBufferPointer(start: argument, count: strlen(argument)))
    }
    let invokedAs = rawArguments.first.map { String(decoding: $0, as: UTF8.self) } ?? "swelf"
    let personality = Personality.forProgramName(invokedAs)
    let terminal = Terminal(personality: personality, invokedAs: invokedAs)
    let status = Swelf(terminal: terminal, personality: personality,
                       debugFromEnvironment: getenv("PATCHELF_DEBUG") != nil).run(Array(rawArguments.dropFirst()))
    terminal.flush()
    // Output that did not reach its file (`> /dev/full`, a full disk) is a failure, said
    // once, on stderr: a script must not take a truncated report for a complete one.
    if let code = terminal.standardOutput.writeError {
        terminal.error("write error on standard output: \(String(cString: strerror(code)))")
        terminal.standardError.flush()
        exit(status == .success ? ExitCode.failure.rawValue : status.rawValue)
    }
    exit(status.rawValue)
}

runCommandLine()
