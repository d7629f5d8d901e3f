#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKit

/// A file named on the command line (an `@FILE` value, a symbol map) that could not be read.
/// Worded as patchelf words it: "getting info about 'F': No such file or directory".
struct ArgumentFileError: Error, CustomStringConvertible {
    let path: FilePath
    let operation: String
    let reason: String
    var description: String { "\(operation) '\(path)': \(reason)" }
}

/// Small file helpers for the command line (the core library reads through `ByteSource`).
enum FileSystem {
    /// The whole contents of a small file (an `@FILE` argument, a symbol map).
    /// Bytes, exactly as the file holds them.
    static func readContents(_ path: FilePath) throws -> [UInt8] {
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

    /// Whether `path` names something that exists and is not a regular file (after
    /// following symbolic links): a device such as /dev/null, a FIFO, a socket.
    static func isSpecialFile(_ path: FilePath) -> Bool {
        var status = stat()
        guard path.withCString({ stat($0, &status) }) == 0 else { return false }
        let type = status.st_mode & S_IFMT
        return type != S_IFREG && type != S_IFDIR
    }

    /// Copies the regular file `source` into `destination`, opened for writing without
    /// being replaced (a device or FIFO cannot be renamed over and must not be).
    static func copyContents(of source: FilePath, into destination: FilePath) throws {
        let input = source.withCString { open($0, O_RDONLY | O_CLOEXEC) }
        guard input >= 0 else { throw CommandError("cannot read \(source): \(systemErrorMessage(errno))") }
        defer { close(input) }
        let output = destination.withCString { open($0, O_WRONLY | O_TRUNC | O_CLOEXEC) }
        guard output >= 0 else { throw CommandError("cannot open \(destination) for writing: \(systemErrorMessage(errno))") }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress!, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw CommandError("cannot read \(source): \(systemErrorMessage(errno))") }
            if count == 0 { break }
            var done = 0
            while done < count {
                let written = buffer.withUnsafeBytes { write(output, $0.baseAddress! + done, count - done) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { throw CommandError("cannot write \(destination): \(systemErrorMessage(errno))") }
                done += written
            }
        }
    }

    /// A new private directory for temporary files.
    static func temporaryDirectory() throws -> FilePath {
        var base = "/tmp"
        if let value = getenv("TMPDIR"), value.pointee != 0 { base = String(cString: value) }
        var template = Array((base + "/swelf-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw CommandError("cannot create a temporary directory in \(base): \(systemErrorMessage(errno))")
        }
        return FilePath(bytes: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) })
    }
}
