#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKit

/// Small file helpers for the command line (the core library reads through `ByteSource`).
enum FileSystem {
    /// The whole contents of a small file (an `@FILE` argument, a symbol map).
    static func readText(_ path: String) throws -> String {
        let source = try FileByteSource(path: path)
        guard source.size <= 64 << 20 else { throw CommandError("\(path): file too large") }
        let bytes = try source.bytes(at: 0, count: source.size, path)
        return String(decoding: bytes, as: UTF8.self)
    }
}
