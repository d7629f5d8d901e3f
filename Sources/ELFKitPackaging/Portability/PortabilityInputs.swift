#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore
import ELFKitLoader

/// The analysis's first step: the paths given, with each directory replaced by the ELF
/// files under it.
extension PortabilityReport {
    /// The paths to analyse, in order, and a warning for each directory with no ELF file.
    struct ExpandedInputs {
        var paths: [String] = []
        var notes: [Note] = []
    }

    static func expandDirectories(_ given: [String], fileSystem: LoaderFileSystem) -> ExpandedInputs {
        var inputs = ExpandedInputs()
        for path in given {
            guard fileSystem.isDirectory(path) else {
                inputs.paths.append(path)
                continue
            }
            let found = elfFiles(under: path)
            if found.isEmpty { inputs.notes.append(Note(severity: .warning, message: "\(path): no ELF file under it")) }
            inputs.paths += found
        }
        return inputs
    }

    /// Every ELF file under `directory`, depth first, names in byte order. Symbolic
    /// links are not followed (a link to a file elsewhere in the tree would count it
    /// twice; a link to a directory could loop).
    ///
    /// - Parameter directory: The directory to walk; one that cannot be opened gives nothing.
    /// - Returns: The paths of the regular files that start with the ELF magic
    ///   (`\x7fELF`), each under `directory`.
    public static func elfFiles(under directory: String) -> [String] {
        var result: [String] = []
        var pending = [directory]
        while let current = pending.popLast() {
            guard let stream = BytePath(current).withCString({ opendir($0) }) else { continue }
            var names: [[UInt8]] = []
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
                if name == [0x2e] || name == [0x2e, 0x2e] { continue }
                names.append(name)
            }
            closedir(stream)
            names.sort { $0.lexicographicallyPrecedes($1) }
            var subdirectories: [String] = []
            for name in names {
                let path = (current.hasSuffix("/") ? current : current + "/") + ByteText.string(name)
                var info = stat()
                guard BytePath(path).withCString({ lstat($0, &info) }) == 0 else { continue }
                let type = info.st_mode & S_IFMT
                if type == S_IFDIR {
                    subdirectories.append(path)
                } else if type == S_IFREG, isELF(path) {
                    result.append(path)
                }
            }
            pending.append(contentsOf: subdirectories.reversed())
        }
        return result
    }

    static func isELF(_ path: String) -> Bool {
        guard let source = try? FileByteSource(path: BytePath(path)), source.size >= 4,
              let magic = try? source.bytes(at: 0, count: 4, "ELF magic") else { return false }
        return magic == [0x7f, 0x45, 0x4c, 0x46]
    }
}
