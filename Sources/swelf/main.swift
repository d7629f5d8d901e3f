#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

let terminal = Terminal()
let status = Swelf(terminal: terminal).run(Array(CommandLine.arguments.dropFirst()))
terminal.flush()
exit(status.rawValue)
