#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore
import ELFKitLoader
import ELFKitDiagnosis

/// One file a bundle takes from its inputs, and where in the bundle it goes.
package struct BundleInput: Sendable {
    /// What the file is to the bundle.
    package enum Kind: Sendable {
        /// A program: to `bin/NAME`, or to its path under its input directory.
        case program
        /// A shared library named as an argument: to `lib/`, under its soname.
        case library
        /// A library the programs dlopen, placed by `--plugin FILE:DIR` at `DIR/NAME`.
        case plugin
    }

    /// The path as given (or found under an input directory).
    package let path: String
    /// Its path inside the bundle (`bin/app`, `libexec/plugins/helper`,
    /// `bin/plugins/libplug.so`); for a library, `lib/` and its file name (the planner
    /// names it by its soname).
    package let location: String
    package let kind: Kind

    package init(path: String, location: String, kind: Kind) {
        self.path = path
        self.location = location
        self.kind = kind
    }
}

/// The files a bundle's inputs name: a program file stands for itself, a directory for
/// every program under it (its layout kept), a shared library goes to `lib/`, and
/// `--plugin FILE:DIR` places a library where its program loads it.
package enum BundleInputs {
    /// The files of `inputs` and `plugins`, in order. A program directly inside an input
    /// directory (or named as a file) goes to `bin/`; one deeper keeps its path under the
    /// input directory (`libexec/plugins/helper`), so that a program that finds its
    /// helpers by a path relative to itself still finds them. An input that does not
    /// exist is an error naming it.
    package static func files(in inputs: [String], plugins: [(file: String, directory: String)]) throws(BundleError) -> [BundleInput] {
        var files: [BundleInput] = []
        for input in inputs {
            var status = stat()
            guard BytePath(input).withCString({ stat($0, &status) }) == 0 else {
                throw BundleError("\(input): \(systemErrorMessage(errno))")
            }
            if status.st_mode & S_IFMT == S_IFDIR {
                files += programsUnder(input, relative: "")
            } else if isSharedLibrary(input) {
                files.append(BundleInput(path: input, location: "lib/" + lastComponent(input), kind: .library))
            } else {
                files.append(BundleInput(path: input, location: "bin/" + lastComponent(input), kind: .program))
            }
        }
        for (file, directory) in plugins {
            var status = stat()
            guard BytePath(file).withCString({ stat($0, &status) }) == 0 else {
                throw BundleError("--plugin \(file): \(systemErrorMessage(errno))")
            }
            guard status.st_mode & S_IFMT == S_IFREG else { throw BundleError("--plugin \(file): not a regular file") }
            let inside = directory.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
            files.append(BundleInput(path: file, location: (inside.isEmpty ? "" : inside + "/") + lastComponent(file), kind: .plugin))
        }
        return files
    }

    /// Whether `directory`, the DIR of `--plugin FILE:DIR`, is a path inside the bundle:
    /// relative, without `..` (a plugin may not be placed outside the bundle).
    package static func isInsideBundle(_ directory: String) -> Bool {
        !directory.hasPrefix("/") && !directory.split(separator: "/").contains("..")
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

    /// A shared library, as `doctor` tells one from a program: ET_DYN without PT_INTERP
    /// that is not static-pie. (A PIE program has PT_INTERP; a library that can also be
    /// run, libc.so.6, is still taken as a program here: name it as a plugin instead.)
    static func isSharedLibrary(_ path: String) -> Bool {
        guard let file = try? ELFFile(path: BytePath(path)) else { return false }
        return file.header.type == .sharedObject && file.firstSegment(.interp) == nil && !file.isStaticPIE
    }

    /// Every program under `directory`, in name order: regular files (symbolic links are
    /// not followed, so nothing is taken twice) that are ELF programs: a PT_INTERP, or
    /// static (ET_EXEC, or static-pie). Shared libraries are left to the resolution.
    /// `relative`: the path of `directory` under the input directory ("" at its top).
    package static func programsUnder(_ directory: String, relative: String) -> [BundleInput] {
        var result: [BundleInput] = []
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
                result += programsUnder(path, relative: relative.isEmpty ? name : relative + "/" + name)
            } else if status.st_mode & S_IFMT == S_IFREG, let file = try? ELFFile(path: BytePath(path)),
                      ((try? file.interpreter()) ?? nil) != nil || file.header.type == .executable || file.isStaticPIE {
                result.append(BundleInput(path: path, location: relative.isEmpty ? "bin/" + name : relative + "/" + name,
                                          kind: .program))
            }
        }
        return result
    }
}
