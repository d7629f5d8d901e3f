#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore
import ELFKitLoader
import ELFKitDiagnosis

/// Writes a bundle plan: each program at its place (DIR/bin, or the path its input
/// directory gave it), each plugin at its `--plugin` directory, and each library to
/// DIR/lib, with an `$ORIGIN`-relative DT_RUNPATH that leads to DIR/lib, the target's
/// loader as PT_INTERP, and the plan's DT_NEEDED replacements. Nothing outside DIR is
/// written, and the sources are only read.
///
/// Each copy is written by `writeCopy`, which the caller gives: the command line passes
/// `Rewriter.rewrite`, so that every copy is verified like any edit. Taking it as a value
/// keeps the executor free of the pipeline, so that it can live in a library target below
/// the one that holds `Rewriter`.
package struct BundleExecutor {
    /// Writes `destination`: `source` edited by `request`, verified, or an error saying why not.
    package typealias CopyWriter = (_ source: BytePath, _ request: EditRequest, _ destination: BytePath) throws -> Void

    /// The run paths written in bin/ and lib/ (`BundlePlan.runPath(toLibraryDirectoryFrom:)`
    /// gives the one for any place).
    package static let programRunPath = "$ORIGIN/../lib"
    package static let libraryRunPath = "$ORIGIN"

    /// The bundle directory (DIR).
    package let output: String
    package let writeCopy: CopyWriter

    package init(output: String, writeCopy: @escaping CopyWriter) {
        self.output = output
        self.writeCopy = writeCopy
    }

    /// Every path the plan writes, relative to DIR, in writing order: what the bundle's
    /// manifest lists.
    package static func entries(of plan: BundlePlan) -> [String] {
        plan.programs.map(\.location) + plan.libraries.map { "lib/" + $0.name }
    }

    /// Writes every copy of `plan` and returns the warnings about what the copies still
    /// hold (`leftoverPaths`). Stops at the first copy that cannot be written; the copies
    /// written before it stay (a rerun with `--update` replaces them).
    package func write(_ plan: BundlePlan) throws(BundleError) -> [String] {
        _ = try BundleExecutor.makeDirectories(output, "lib")
        var leftovers: [String] = []
        for program in plan.programs {
            let directory = PathText.directory(of: program.location)
            _ = try BundleExecutor.makeDirectories(output, directory == "." ? "" : directory)
            var request = EditRequest()
            if program.isDynamic, let runPath = program.runPath {
                request.runPath = .set(Array(runPath.utf8))
                request.replaceNeeded = replacements(plan, program.location)
            }
            if let interpreter = program.interpreter, interpreter != program.originalInterpreter {
                request.interpreter = ByteText.bytes(interpreter)
            }
            let destination = output + "/" + program.location
            try copy(program.source, request, to: destination)
            leftovers += BundleExecutor.leftoverPaths(source: program.source, copy: destination, shownAs: program.location)
        }
        let lib = output + "/lib"
        for library in plan.libraries {
            var request = EditRequest()
            request.runPath = .set(Array(BundleExecutor.libraryRunPath.utf8))
            request.replaceNeeded = replacements(plan, "lib/\(library.name)")
            try copy(library.source, request, to: lib + "/" + library.name)
            leftovers += BundleExecutor.leftoverPaths(source: library.source, copy: lib + "/" + library.name,
                                                      shownAs: "lib/\(library.name)")
        }
        return leftovers
    }

    private func replacements(_ plan: BundlePlan, _ owner: String) -> [(old: [UInt8], new: [UInt8])] {
        (plan.pathNeeded[owner] ?? []).map { (ByteText.bytes($0.old), ByteText.bytes($0.new)) }
    }

    /// One copy: `writeCopy` reads `source` (never changes it) and writes `destination`.
    /// Anything but a regular file at the destination is removed first, so that a
    /// symbolic link there cannot lead the write outside the bundle.
    private func copy(_ source: String, _ request: EditRequest, to destination: String) throws(BundleError) {
        var status = stat()
        if BytePath(destination).withCString({ lstat($0, &status) }) == 0 && status.st_mode & S_IFMT != S_IFREG {
            guard BytePath(destination).withCString({ unlink($0) }) == 0 else {
                throw BundleError("cannot remove \(destination): \(systemErrorMessage(errno))")
            }
        }
        do {
            try writeCopy(BytePath(source), request, BytePath(destination))
        } catch {
            throw BundleError("\(source) -> \(destination): \(error)")
        }
    }

    /// The build-machine paths of `source` (its run path, DT_NEEDED names with a '/')
    /// whose bytes are still in `copy` as a whole string: unreferenced, in the old place
    /// of a string table that had to move (swelf does not overwrite old table bytes), but
    /// visible to `strings`. Reported, so the promise "no build-machine path remains" is
    /// never broken silently.
    package static func leftoverPaths(source: String, copy: String, shownAs name: String) -> [String] {
        guard let original = try? ELFFile(path: BytePath(source)), let dynamic = (try? original.dynamic()) ?? nil,
              let written = try? FileByteSource(path: BytePath(copy)),
              let bytes = try? written.bytes(at: 0, count: written.size, copy) else { return [] }
        var paths: [String] = []
        if let runpath = (try? dynamic.runpath()) ?? nil { paths.append(runpath) }
        if let rpath = (try? dynamic.rpath()) ?? nil { paths.append(rpath) }
        paths += ((try? dynamic.needed()) ?? []).filter { $0.contains("/") }
        var result: [String] = []
        for path in paths where path.contains("/") && !path.hasPrefix("$ORIGIN") && !path.hasPrefix("${ORIGIN}") {
            let framed = [0] + ByteText.bytes(path) + [0]
            if BundleExecutor.contains(bytes, framed) {
                result.append("\(name): the old string '\(path)' remains as unreferenced bytes (a string table that grew was moved; its old bytes are not overwritten)")
            }
        }
        return result
    }

    package static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        var start = 0
        while start <= haystack.count - needle.count {
            guard let first = haystack[start...].firstIndex(of: needle[0]), first <= haystack.count - needle.count else { return false }
            if haystack[first ..< first + needle.count].elementsEqual(needle) { return true }
            start = first + 1
        }
        return false
    }

    /// `DIR/relative`, each directory on the way created if needed; a symbolic link or
    /// another kind of file there is refused (the bundle is written inside DIR only).
    package static func makeDirectories(_ directory: String, _ relative: String) throws(BundleError) -> String {
        var path = directory
        var paths = [directory]
        for component in relative.split(separator: "/") {
            path += "/" + component
            paths.append(path)
        }
        for path in paths {
            var status = stat()
            if BytePath(path).withCString({ lstat($0, &status) }) == 0 {
                guard status.st_mode & S_IFMT == S_IFDIR else {
                    let what = status.st_mode & S_IFMT == S_IFLNK
                        ? "a symbolic link (refused: the bundle stays inside its directory)" : "not a directory"
                    throw BundleError("\(path) exists and is \(what)")
                }
                continue
            }
            guard BytePath(path).withCString({ mkdir($0, 0o755) }) == 0 else {
                throw BundleError("cannot create \(path): \(systemErrorMessage(errno))")
            }
        }
        return path
    }
}

/// Why a bundle could not be gathered or written, in words for the user.
package struct BundleError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
