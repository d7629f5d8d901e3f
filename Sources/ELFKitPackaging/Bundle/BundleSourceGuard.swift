#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

/// Keeps a bundle out of its sources: the output directory may not be, contain, or lie
/// inside an input's own tree. Directories are compared by device and inode after the
/// links are resolved, never by path text, so that `.`, `..`, a symbolic link or a bind
/// mount cannot hide that two paths are one directory. (A bundle written over its
/// sources once replaced the source program and a soname link of the build tree.)
package enum BundleSourceGuard {
    /// A directory's identity.
    struct Identity: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    /// Refuses `output` when it is or lies inside one of `directories` (input
    /// directories), or contains one of `files` (programs, libraries and plugins read,
    /// through the links that lead to them as well as where they end).
    package static func check(output: String, directories: [String], files: [String]) throws(BundleError) {
        // Where the output is, or would be created: its nearest existing ancestor.
        let existing = nearestExisting(absolute(output))
        let outputChain = Set(chain(from: existing))
        for directory in directories {
            guard let input = identity(directory) else { continue }
            if outputChain.contains(input) {
                throw BundleError("\(output) is inside the input directory \(directory) (or is it): the bundle would be written into its sources; choose an output directory outside it")
            }
        }
        // Only an existing output directory can contain anything.
        guard let outputIdentity = identity(output) else { return }
        for file in files {
            var parents: Set<Identity> = []
            for path in [file, BundleInputs.realPath(file) ?? file] {
                parents.formUnion(chain(from: nearestExisting(directory(of: absolute(path)))))
            }
            if parents.contains(outputIdentity) {
                throw BundleError("\(output) contains the input \(file): the bundle would be written over its sources; choose an output directory outside them")
            }
        }
    }

    /// Device and inode of the directory (or file) at `path`, links followed.
    static func identity(_ path: String) -> Identity? {
        var status = stat()
        guard BytePath(path).withCString({ stat($0, &status) }) == 0 else { return nil }
        return Identity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }

    /// `path` and every directory above it, as identities, from its canonical path (no
    /// link left, so each parent by text is the real parent).
    static func chain(from path: String) -> [Identity] {
        var canonical = BundleInputs.realPath(path) ?? path
        var result: [Identity] = []
        while true {
            if let found = identity(canonical) { result.append(found) }
            let parent = directory(of: canonical)
            // "/" is its own parent; so is "." when the path could not be made absolute.
            if parent == canonical || canonical.isEmpty { return result }
            canonical = parent
        }
    }

    /// The path itself when it exists, else its nearest existing ancestor.
    static func nearestExisting(_ path: String) -> String {
        var current = path
        while identity(current) == nil && directory(of: current) != current && !current.isEmpty { current = directory(of: current) }
        return current
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = BytePath(cString: buffer).description
        return cwd == "/" ? "/" + path : cwd + "/" + path
    }

    /// The directory part of an absolute path: `/a/b` → `/a`, `/a` → `/`.
    static func directory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }
}
