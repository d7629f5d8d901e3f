#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore
import ELFKitLoader

/// The providers' own run paths (rule `provider-runpath`). auto-patchelf.py's
/// `populate_cache` reads the DT_RUNPATH (else DT_RPATH) of every library it indexes and
/// indexes the files of each absolute entry without `$ORIGIN` too, breadth first, each
/// directory once: first for the tree (whose directories are searched as the tree is,
/// recursively unless `--no-recurse`), then, after `--libs`, for the `--libs` libraries
/// (one level). A library of a Nix store path found through `--libs` so brings the
/// libraries its own run path names, which the hook never lists.
extension AutopatchPlanner {
    /// Whether auto-patchelf.py reads the run path of a file of this name: its glob `*.so*`.
    static func isLibraryName(_ name: String) -> Bool { fnmatch("*.so*", name, 0) == 0 }

    /// The files of the run-path directories of `libraries` (host paths), by name, in the
    /// order found: each absolute entry (without `$ORIGIN` or another `$` token) is a
    /// directory on the target (read inside `--root`), listed once (`visited`: canonical
    /// host directories already indexed, the PATHs or the `--libs` directories), its
    /// entries in byte order, links followed wherever they lead (as `--libs`), every
    /// regular file a candidate by its name in the directory it was found in; the run
    /// paths of those whose names match `*.so*` are followed in turn.
    /// - Parameters:
    ///   - libraries: the indexed files whose run paths start the search.
    ///   - recurse: whether subdirectories of a run-path directory are listed too
    ///     (auto-patchelf.py globs them as it globs the tree); directory links are not.
    ///   - visited: directories not to list again.
    func runPathProviders(of libraries: [String], recurse: Bool, visited: Set<String>) -> [(name: String, candidate: Candidate)] {
        let fileSystem = environment.fileSystem
        var queue: [String] = []
        // Each entry is queued once: a tree of 20,000 libraries sharing one run path
        // would otherwise look its directory up 20,000 times.
        var queued: Set<String> = []
        var visited = visited
        var read: Set<String> = []
        func enqueue(_ list: String?) {
            for entry in (list ?? "").split(separator: ":").map(String.init) where entry.hasPrefix("/") && !entry.contains("$") {
                if queued.insert(entry).inserted { queue.append(entry) }
            }
        }
        func follow(_ path: String) {
            guard read.insert(path).inserted else { return }
            enqueue(AutopatchPlanner.runPath(of: path, in: fileSystem))
        }
        // The tree's libraries are read in parallel (thousands of files, each opened and
        // its dynamic section parsed), their entries then queued in the libraries' order.
        let lists = Overlap.map(count: libraries.count, jobs: options.jobs) { AutopatchPlanner.runPath(of: libraries[$0], in: fileSystem) }
        for (path, list) in zip(libraries, lists) where read.insert(path).inserted { enqueue(list) }
        var found: [(name: String, candidate: Candidate)] = []
        var next = 0
        while next < queue.count {
            let entry = queue[next]
            next += 1
            guard let directory = fileSystem.canonicalPath(fileSystem.targetPath(entry)), AutopatchPlanner.isDirectory(directory),
                  visited.insert(directory).inserted else { continue }
            for (name, path, parent) in AutopatchPlanner.entries(of: directory, recurse: recurse, depth: 0) {
                guard let target = fileSystem.canonicalPath(path), fileSystem.status(target)?.isRegular ?? false else { continue }
                found.append((name, Candidate(path: target, directory: fileSystem.pathInTarget(parent), rule: .providerRunPath)))
                if AutopatchPlanner.isLibraryName(name) { follow(target) }
            }
        }
        return found
    }

    /// The DT_RUNPATH of the ELF file at `path`, else its DT_RPATH; nil when it has
    /// neither or cannot be read.
    static func runPath(of path: String, in fileSystem: LoaderFileSystem) -> String? {
        guard let file = try? fileSystem.open(path), let dynamic = (try? file.dynamic()) ?? nil else { return nil }
        return ((try? dynamic.runpath()) ?? nil) ?? ((try? dynamic.rpath()) ?? nil)
    }

    /// The entries of `directory` (not `.` and `..`) in byte order of their names, as
    /// (name, path, directory); with `recurse`, then those of each subdirectory (not a
    /// link to one), in the same order, to a depth of 64.
    static func entries(of directory: String, recurse: Bool, depth: Int) -> [(String, String, String)] {
        guard let names = AutopatchWalk.entryNames(of: directory) else { return [] }
        let prefix = directory == "/" ? "/" : directory + "/"
        var result = names.map { ($0, prefix + $0, directory) }
        guard recurse, depth < 64 else { return result }
        for name in names {
            var status = stat()
            guard BytePath(prefix + name).withCString({ lstat($0, &status) }) == 0, status.st_mode & S_IFMT == S_IFDIR else { continue }
            result += entries(of: prefix + name, recurse: true, depth: depth + 1)
        }
        return result
    }
}
