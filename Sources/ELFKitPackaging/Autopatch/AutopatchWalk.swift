#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

/// The files under `autopatch`'s paths: the ELF files to plan, the names that symbolic
/// links give them (a soname chain `libfoo.so.1 -> libfoo.so.1.0.0` makes the file a
/// provider of `libfoo.so.1`), and a count of everything else, which is left alone.
///
/// Only `lstat` decides what an entry is, so a FIFO or a socket is never opened. Symbolic
/// links are not walked through in this slice (see docs/autopatch-design.md, Walk): a link
/// to a regular file inside the walk only adds a name.
package struct AutopatchWalk: Sendable {
    /// One ELF file found by the walk.
    package struct Entry: Sendable {
        /// The path as the walk reached it (PATH joined with the names below it).
        package let path: String
        /// Its canonical path (`realpath`): the directory `$ORIGIN` stands for.
        package let realPath: String
    }

    /// A name a symbolic link gives a file: `name` in `directory` (a real directory)
    /// leads to `target` (a real path).
    package struct Alias: Sendable {
        package let name: String
        package let directory: String
        package let target: String
    }

    /// The ELF files, in walk order (each PATH in turn, entries in byte order of names).
    package var files: [Entry] = []
    /// Symbolic links to regular files, as names of their targets.
    package var aliases: [Alias] = []
    /// Regular files that are not ELF (shell wrappers, data) and entries that are neither
    /// files nor directories (FIFOs, sockets, devices): counted, left alone.
    package var otherFiles = 0
    /// One line per entry that could not be examined (`PATH: message`).
    package var errors: [String] = []
    /// One line per symbolic link left alone: a loop, a dangling link, a link out of the
    /// tree (`PATH: message`).
    package var warnings: [String] = []
    /// The canonical paths of the directory PATHs: a link may only lead inside one.
    var roots: [String] = []

    package init() {}

    /// Walks `paths`: a directory recursively (only its top when `recurse` is false), a
    /// file as itself. A path that does not exist is an error line, not a stop.
    ///
    /// - Parameters:
    ///   - paths: the trees or files given on the command line.
    ///   - recurse: whether to enter subdirectories of a directory PATH.
    /// - Returns: the walk's files, aliases, count of other files and errors.
    package static func walk(_ paths: [String], recurse: Bool) -> AutopatchWalk {
        var walk = AutopatchWalk()
        var seen: Set<String> = []
        walk.roots = paths.compactMap { path in
            var status = stat()
            guard BytePath(path).withCString({ stat($0, &status) }) == 0, status.st_mode & S_IFMT == S_IFDIR else { return nil }
            return realPath(path)
        }
        for path in paths {
            var status = stat()
            guard BytePath(path).withCString({ stat($0, &status) }) == 0 else {
                walk.errors.append("\(path): \(systemErrorMessage(errno))")
                continue
            }
            if status.st_mode & S_IFMT == S_IFDIR {
                walk.enter(path, recurse: recurse, seen: &seen)
            } else {
                walk.consider(path, seen: &seen)
            }
        }
        return walk
    }

    /// Adds the entries of `directory`, entering subdirectories when `recurse`.
    mutating func enter(_ directory: String, recurse: Bool, seen: inout Set<String>) {
        guard let stream = BytePath(directory).withCString({ opendir($0) }) else {
            errors.append("\(directory): \(systemErrorMessage(errno))")
            return
        }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in ByteText.string(Array(raw.prefix { $0 != 0 })) }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(stream)
        for name in names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            var status = stat()
            guard BytePath(path).withCString({ lstat($0, &status) }) == 0 else {
                errors.append("\(path): \(systemErrorMessage(errno))")
                continue
            }
            switch status.st_mode & S_IFMT {
            case S_IFDIR:
                if recurse { enter(path, recurse: recurse, seen: &seen) }
            case S_IFLNK:
                addAlias(path, name: name, directory: directory)
            case S_IFREG:
                consider(path, seen: &seen)
            default:
                otherFiles += 1
            }
        }
    }

    /// A regular file (or a file PATH): an ELF file when it starts with the ELF magic,
    /// else counted. A file reached twice (two PATHs naming it) is taken once.
    mutating func consider(_ path: String, seen: inout Set<String>) {
        var status = stat()
        guard BytePath(path).withCString({ stat($0, &status) }) == 0, status.st_mode & S_IFMT == S_IFREG else {
            otherFiles += 1
            return
        }
        guard AutopatchWalk.hasELFMagic(path) else {
            otherFiles += 1
            return
        }
        guard let real = AutopatchWalk.realPath(path) else {
            errors.append("\(path): \(systemErrorMessage(errno))")
            return
        }
        if seen.insert(real).inserted { files.append(Entry(path: path, realPath: real)) }
    }

    /// A symbolic link to a regular file inside the tree: a name of its target in the
    /// link's directory. A loop, a dangling link and a link out of the tree add nothing and
    /// get a warning; a link to a directory is not followed (not yet: see the design).
    mutating func addAlias(_ path: String, name: String, directory: String) {
        var status = stat()
        guard BytePath(path).withCString({ stat($0, &status) }) == 0 else {
            let reason = errno == ELOOP ? "a loop of symbolic links" : "a dangling symbolic link (\(systemErrorMessage(errno)))"
            warnings.append("\(path): \(reason), left alone")
            return
        }
        guard status.st_mode & S_IFMT == S_IFREG, let target = AutopatchWalk.realPath(path),
              let realDirectory = AutopatchWalk.realPath(directory) else { return }
        guard roots.contains(where: { target.hasPrefix($0 == "/" ? "/" : $0 + "/") }) else {
            warnings.append("\(path): a symbolic link out of the tree (to \(target)), not followed")
            return
        }
        aliases.append(Alias(name: name, directory: realDirectory, target: target))
    }

    /// Whether the file starts with `\x7fELF` (read with `O_NONBLOCK`, so that a file that
    /// became a FIFO meanwhile cannot block the walk).
    static func hasELFMagic(_ path: String) -> Bool {
        let descriptor = BytePath(path).withCString { open($0, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var magic: [UInt8] = [0, 0, 0, 0]
        let count = magic.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, 4) }
        return count == 4 && magic == [0x7f, 0x45, 0x4c, 0x46]
    }

    /// The canonical path (`realpath`), or nil (errno says why).
    package static func realPath(_ path: String) -> String? {
        guard let resolved = BytePath(path).withCString({ realpath($0, nil) }) else { return nil }
        defer { free(resolved) }
        return BytePath(cString: resolved).description
    }
}
