#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore
import ELFKitLoader

/// The files under `autopatch`'s paths: the ELF files to plan, the names that symbolic
/// links and hard links give them (a soname chain `libfoo.so.1 -> libfoo.so.1.0.0` makes the
/// file a provider of `libfoo.so.1`), and a count of everything else, which is left alone.
///
/// Only `lstat` decides what an entry is, so a FIFO or a socket is never opened. A file is
/// known by its device and inode, not by a name: a file reached by two names (two PATHs, a
/// symbolic link, a hard link, a directory link) is planned, and so written, once. A
/// symbolic link to a directory inside the tree is followed once: a directory whose device
/// and inode were walked already is not walked again (so a loop of directory links ends),
/// and links are followed only after every PATH was walked through its real directories,
/// so that a file is named by its real place when it has one. A link that leads out of
/// every PATH is a warning and is not followed.
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

    /// A file as the kernel knows it: a name reached twice leads to the same identity.
    struct Identity: Hashable {
        let device: UInt64
        let inode: UInt64
        init(_ status: stat) {
            device = UInt64(status.st_dev)
            inode = UInt64(status.st_ino)
        }
    }

    /// The ELF files, in walk order (each PATH in turn, entries in byte order of names).
    package var files: [Entry] = []
    /// Symbolic links to regular files, and hard links, as names of their targets.
    package var aliases: [Alias] = []
    /// The other names (hard links, in walk order) of a file of `files`, by its `path`:
    /// the file is written once, through `path`; its other names must then be linked to
    /// the new file, or they keep the old content (an atomic replacement makes a new inode).
    package var hardLinks: [String: [String]] = [:]
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
    /// The ELF files seen, by identity: their index in `files`.
    var seenFiles: [Identity: Int] = [:]
    /// The regular files seen that are not ELF files: counted once.
    var seenOthers: Set<Identity> = []
    /// The directories walked: each is walked once, whatever leads to it.
    var walkedDirectories: Set<Identity> = []
    /// Symbolic links to directories inside the tree, followed after the PATHs.
    var directoryLinks: [String] = []

    package init() {}

    /// Walks `paths`: a directory recursively (only its top when `recurse` is false), a
    /// file as itself. A path that does not exist is an error line, not a stop.
    ///
    /// - Parameters:
    ///   - paths: the trees or files given on the command line.
    ///   - recurse: whether to enter subdirectories of a directory PATH (and directory links).
    /// - Returns: the walk's files, aliases, hard links, count of other files and errors.
    package static func walk(_ paths: [String], recurse: Bool) -> AutopatchWalk {
        var walk = AutopatchWalk()
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
                walk.enter(path, recurse: recurse)
            } else {
                walk.consider(path)
            }
        }
        // Links found inside a directory reached through a link are appended as it is walked.
        var next = 0
        while next < walk.directoryLinks.count {
            walk.enter(walk.directoryLinks[next], recurse: recurse)
            next += 1
        }
        return walk
    }

    /// Adds the entries of `directory`, entering subdirectories when `recurse`; nothing
    /// when that directory (device and inode) was walked already.
    ///
    /// `realDirectory`: the directory's canonical path when the caller knows it (a real
    /// subdirectory of a directory whose canonical path is known: that path joined with
    /// its name), else nil (`realpath` is asked).
    /// `entry`: its `lstat` as an entry of its parent, a directory (so no link), or nil.
    mutating func enter(_ directory: String, recurse: Bool, entry: stat? = nil, realDirectory knownRealDirectory: String? = nil) {
        var status = stat()
        if let entry {
            status = entry
        } else {
            guard BytePath(directory).withCString({ stat($0, &status) }) == 0 else {
                errors.append("\(directory): \(systemErrorMessage(errno))")
                return
            }
        }
        guard walkedDirectories.insert(Identity(status)).inserted else { return }
        guard let names = AutopatchWalk.entryNames(of: directory) else {
            errors.append("\(directory): \(systemErrorMessage(errno))")
            return
        }
        // The directory's canonical path, once: a regular file's entry in it is then
        // canonical as the directory joined with its name (it is no link, and the name is
        // neither `.` nor `..`), so the walk needs no `realpath` per file, whose lookup
        // costs one `readlink` per component of the path. Nil (realpath failed): each file
        // is resolved on its own, as before, and names its own error.
        let realDirectory = knownRealDirectory ?? AutopatchWalk.realPath(directory)
        for name in names {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            var status = stat()
            guard BytePath(path).withCString({ lstat($0, &status) }) == 0 else {
                errors.append("\(path): \(systemErrorMessage(errno))")
                continue
            }
            switch status.st_mode & S_IFMT {
            case S_IFDIR:
                // A real directory (lstat: no link), so canonical as its parent's path
                // joined with its name, like a regular file below.
                if recurse { enter(path, recurse: recurse, entry: status, realDirectory: realDirectory.map { PathText.join($0, name) }) }
            case S_IFLNK:
                follow(path, name: name, directory: directory, realDirectory: realDirectory, recurse: recurse)
            case S_IFREG:
                consider(path, entry: status, realPath: realDirectory.map { PathText.join($0, name) })
            default:
                special(path, status)
            }
        }
    }

    /// A regular file (or a file PATH): an ELF file when it starts with the ELF magic,
    /// else counted. A file seen before under another name is not taken again: a second
    /// name in another place (a hard link) becomes one of its aliases and hard links.
    ///
    /// - Parameters:
    ///   - entry: the `lstat` of a directory entry already found to be a regular file (so
    ///     no link: its `stat` would say the same), or nil to `stat` the path here.
    ///   - realPath: the file's canonical path when the caller knows it (its canonical
    ///     directory joined with its name), or nil to ask `realpath`.
    mutating func consider(_ path: String, entry: stat? = nil, realPath knownRealPath: String? = nil) {
        var status = stat()
        if let entry {
            status = entry
        } else {
            guard BytePath(path).withCString({ stat($0, &status) }) == 0 else {
                errors.append("\(path): \(systemErrorMessage(errno))")
                return
            }
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            special(path, status)
            return
        }
        let identity = Identity(status)
        if let index = seenFiles[identity] {
            let first = files[index]
            // The same name again (a file PATH inside a directory PATH) adds nothing.
            guard let real = knownRealPath ?? AutopatchWalk.realPath(path), real != first.realPath,
                  !aliases.contains(where: { $0.target == first.realPath && $0.directory + "/" + $0.name == real }) else { return }
            // The same inode under another real name: a hard link. It names the file as a
            // provider in its own directory, and is relinked after the write.
            hardLinks[first.path, default: []].append(path)
            aliases.append(Alias(name: PathText.lastComponent(of: real), directory: AutopatchPlanner.directory(of: real),
                                 target: first.realPath))
            return
        }
        guard !seenOthers.contains(identity) else { return }
        guard AutopatchWalk.hasELFMagic(path) else {
            seenOthers.insert(identity)
            otherFiles += 1
            return
        }
        guard let real = knownRealPath ?? AutopatchWalk.realPath(path) else {
            errors.append("\(path): \(systemErrorMessage(errno))")
            return
        }
        seenFiles[identity] = files.count
        files.append(Entry(path: path, realPath: real))
    }

    /// An entry that is neither a file, a directory nor a link (a FIFO, a socket, a
    /// device): counted with the other files, never opened, and named in one warning, so
    /// that a FIFO in a tree is seen to be left alone rather than silently skipped.
    mutating func special(_ path: String, _ status: stat) {
        otherFiles += 1
        let what = switch status.st_mode & S_IFMT {
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        default: "not a regular file"
        }
        warnings.append("\(path): \(what), left alone")
    }

    /// A symbolic link: to a regular file inside the tree, a name of its target in the
    /// link's directory; to a directory inside the tree, a directory to walk (once, after
    /// the PATHs). A loop, a dangling link and a link out of the tree add nothing and get
    /// a warning; a link to anything else (a FIFO) adds nothing.
    /// `realDirectory`: the canonical path of `directory` when known (nil: `realpath`).
    mutating func follow(_ path: String, name: String, directory: String, realDirectory knownRealDirectory: String? = nil, recurse: Bool) {
        var status = stat()
        guard BytePath(path).withCString({ stat($0, &status) }) == 0 else {
            let reason = errno == ELOOP ? "a loop of symbolic links" : "a dangling symbolic link (\(systemErrorMessage(errno)))"
            warnings.append("\(path): \(reason), left alone")
            return
        }
        let type = status.st_mode & S_IFMT
        guard type == S_IFREG || type == S_IFDIR, let target = AutopatchWalk.realPath(path),
              let realDirectory = knownRealDirectory ?? AutopatchWalk.realPath(directory) else { return }
        guard roots.contains(where: { target == $0 || target.hasPrefix($0 == "/" ? "/" : $0 + "/") }) else {
            warnings.append("\(path): a symbolic link out of the tree (to \(target)), not followed")
            return
        }
        if type == S_IFDIR {
            if recurse { directoryLinks.append(path) }
        } else {
            aliases.append(Alias(name: name, directory: realDirectory, target: target))
        }
    }

    /// The names in `directory` but `.` and `..`, in byte order (so that walks and
    /// indexes do not depend on the file system's listing order); nil when it cannot be
    /// opened (errno says why).
    static func entryNames(of directory: String) -> [String]? {
        guard let stream = BytePath(directory).withCString({ opendir($0) }) else { return nil }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in ByteText.string(Array(raw.prefix { $0 != 0 })) }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(stream)
        return names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
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
