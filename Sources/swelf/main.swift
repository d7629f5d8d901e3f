#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

let invokedAs = CommandLine.arguments.first ?? "swelf"
let personality = Personality.forProgramName(invokedAs)
let terminal = Terminal(personality: personality, invokedAs: invokedAs)
let status = Swelf(terminal: terminal, personality: personality,
                   debugFromEnvironment: getenv("PATCHELF_DEBUG") != nil).run(Array(CommandLine.arguments.dropFirst()))
terminal.flush()
exit(status.rawValue)
