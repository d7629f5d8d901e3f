#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKit

/// A file named on the command line (an `@FILE` value, a symbol map) that could not be read.
/// Worded as patchelf words it: "getting info about 'F': No such file or directory".
struct ArgumentFileError: Error, CustomStringConvertible {
    let path: BytePath
    let operation: String
    let reason: String
    var description: String { "\(operation) '\(path)': \(reason)" }
}

/// Small file helpers for the command line (the core library reads through `ByteSource`).
enum FileSystem {
    /// The whole contents of a small file (an `@FILE` argument, a symbol map).
    /// Bytes, exactly as the file holds them.
    static func readContents(_ path: BytePath) throws -> [UInt8] {
        var status = stat()
        guard path.withCString({ stat($0, &status) }) == 0 else {
            throw ArgumentFileError(path: path, operation: "getting info about", reason: systemErrorMessage(errno))
        }
        let source: FileByteSource
        do {
            source = try FileByteSource(path: path)
        } catch {
            throw ArgumentFileError(path: path, operation: "reading", reason: error.message)
        }
        guard source.size <= 64 << 20 else { throw ArgumentFileError(path: path, operation: "reading", reason: "file too large") }
        return try source.bytes(at: 0, count: source.size, path.description)
    }
}
