#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore
import ELFKitLoader
import ELFKitDiagnosis

/// The programs a bundle's inputs name: a file stands for itself, a directory for every
/// program under it.
package enum BundleInputs {
    /// The programs of `inputs`, in order, each with the name it gets in bin/. `output`,
    /// the bundle directory, is skipped where it lies inside an input directory. An input
    /// that does not exist is an error naming it.
    package static func programs(in inputs: [String], output: String) throws(BundleError) -> [(path: String, name: String)] {
        var programs: [(path: String, name: String)] = []
        for input in inputs {
            var status = stat()
            guard BytePath(input).withCString({ stat($0, &status) }) == 0 else {
                throw BundleError("\(input): \(systemErrorMessage(errno))")
            }
            if status.st_mode & S_IFMT == S_IFDIR {
                programs += programsUnder(input, skipping: realPath(output))
            } else {
                programs.append((input, lastComponent(input)))
            }
        }
        return programs
    }

    package static func lastComponent(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        return String(trimmed.split(separator: "/").last ?? trimmed)
    }

    /// The canonical path (`realpath`), or nil when there is none (the path does not exist).
    package static func realPath(_ path: String) -> String? {
        guard let resolved = BytePath(path).withCString({ realpath($0, nil) }) else { return nil }
        defer { free(resolved) }
        return BytePath(cString: resolved).description
    }

    /// Every program under `directory`, in name order: regular files (symbolic links are
    /// not followed, so nothing is taken twice) that are ELF programs: a PT_INTERP, or
    /// static (ET_EXEC, or static-pie). Shared libraries are left to the resolution.
    /// `skipping`: the bundle's own directory (canonical), when it lies inside an input
    /// directory: its programs are the previous run's copies, not inputs.
    package static func programsUnder(_ directory: String, skipping output: String?) -> [(path: String, name: String)] {
        var result: [(path: String, name: String)] = []
        var entries: [String] = []
        guard let stream = BytePath(directory).withCString({ opendir($0) }) else { return [] }
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                ByteText.string(Array(raw.prefix { $0 != 0 }))
            }
            if name != "." && name != ".." { entries.append(name) }
        }
        closedir(stream)
        for name in entries.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            var status = stat()
            guard BytePath(path).withCString({ lstat($0, &status) }) == 0 else { continue }
            if status.st_mode & S_IFMT == S_IFDIR {
                if let output, realPath(path) == output { continue }
                result += programsUnder(path, skipping: output)
            } else if status.st_mode & S_IFMT == S_IFREG, let file = try? ELFFile(path: BytePath(path)),
                      ((try? file.interpreter()) ?? nil) != nil || file.header.type == .executable || file.isStaticPIE {
                result.append((path, name))
            }
        }
        return result
    }
}
