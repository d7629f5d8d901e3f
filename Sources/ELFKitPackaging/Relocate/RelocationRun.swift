#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

/// The files under `swelf relocate`'s PATHs and their sites: walked once, planned in
/// parallel (`RelocationPlanner`), nothing written.
///
/// The walk uses `lstat` alone: a symbolic link is a site to re-point, never followed (a
/// link to a directory outside the tree must not lead the relocation there), and a FIFO,
/// socket or device inside the tree is left alone unopened. A file reached by several
/// names (hard links) is planned once, through its first name; its other names are linked
/// to the new file after the write (`hardLinks`).
package struct RelocationRun: Sendable {
    /// The files with at least one site (changed, or refused), in walk order.
    package var files: [RelocationFilePlan] = []
    /// Regular files and links looked at.
    package var scanned = 0
    /// One line per file or PATH that could not be examined.
    package var errors: [String] = []
    package var warnings: [String] = []
    /// The other names, inside the PATHs, of a file reached by several hard links, by the
    /// name it is planned and written through: linked to the new file once it is written.
    package var hardLinks: [String: [String]] = [:]

    package init() {}

    /// Walks `paths` and plans each entry, `jobs` at a time.
    package static func plan(paths: [String], map: RelocationMap, origin: Bool = false, jobs: Int) -> RelocationRun {
        var run = RelocationRun()
        var entries: [String] = []
        var seen: Set<[UInt64]> = []
        var firstName: [[UInt64]: String] = [:]
        func visit(_ path: String, top: Bool) {
            var status = stat()
            guard lstat(path, &status) == 0 else {
                run.errors.append("\(path): cannot stat: \(String(cString: strerror(errno)))")
                return
            }
            // A PATH that is a link to a directory (`/opt/app -> app-1.2`) is walked, as
            // `find -H` does: the user named the tree through it. Links inside are not.
            var target = stat()
            if top && (status.st_mode & S_IFMT) == S_IFLNK && stat(path, &target) == 0 && (target.st_mode & S_IFMT) == S_IFDIR {
                status = target
            }
            switch status.st_mode & S_IFMT {
            case S_IFDIR:
                guard let directory = opendir(path) else {
                    run.errors.append("\(path): cannot read the directory: \(String(cString: strerror(errno)))")
                    return
                }
                var names: [String] = []
                while let entry = readdir(directory) {
                    let name = withUnsafePointer(to: entry.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
                    if name != "." && name != ".." { names.append(name) }
                }
                closedir(directory)
                for name in names.sorted() { visit(path.hasSuffix("/") ? path + name : path + "/" + name, top: false) }
            case S_IFREG:
                let identity = [UInt64(status.st_dev), UInt64(status.st_ino)]
                if status.st_nlink > 1 {
                    if let first = firstName[identity] {
                        // Written once, through the first name; this one is linked to the
                        // new file after (names outside the PATHs, such as a package
                        // cache's, keep the old content: the write makes a new inode).
                        run.hardLinks[first, default: []].append(path)
                        return
                    }
                    firstName[identity] = path
                }
                guard seen.insert(identity).inserted else { return }
                entries.append(path)
            case S_IFLNK:
                entries.append(path)
            default:
                // A FIFO or device named on the command line is a mistake worth a line; one
                // found inside a tree is simply not a file to relocate.
                if top { run.errors.append("\(path): not a regular file, directory or symbolic link; left alone") }
            }
        }
        for path in paths { visit(path, top: true) }
        run.scanned = entries.count
        let planner = RelocationPlanner(map: map, origin: origin)
        let paths = entries
        let results = Overlap.map(count: paths.count, jobs: jobs) { index in
            Result { () throws(RelocationError) -> RelocationFilePlan? in try planner.plan(path: paths[index]) }
        }
        for result in results {
            switch result {
            case .success(let plan?):
                run.files.append(plan)
                run.warnings += plan.warnings
            case .success(nil): break
            case .failure(let error): run.errors.append(error.description)
            }
        }
        let absolute = run.files.filter(\.originKeptAbsolute)
        if let first = absolute.first {
            run.warnings.append("--origin: \(absolute.count) file\(absolute.count == 1 ? "" : "s") (\(first.path) first) lie under no OLD "
                + "and no NEW, so where they will be is unknown: their run paths stay absolute")
        }
        return run
    }

    /// The refusal lines, one per refused site.
    package var refusals: [String] { files.flatMap { $0.sites.compactMap(\.refusal) } }

    /// What the writes did, for the report.
    package struct Outcome: Sendable {
        /// Files whose write failed, with the error line.
        package var failed: [String: String] = [:]
        /// Files due a change that were not written (the run stopped first).
        package var notWritten: Set<String> = []
        package init() {}
    }

    /// The paths written (or to write, with a dry run).
    package func written(_ outcome: Outcome) -> [RelocationFilePlan] {
        files.filter { $0.changes && outcome.failed[$0.path] == nil && !outcome.notWritten.contains($0.path) }
    }

    static func show(_ bytes: [UInt8]) -> String { ByteText.string(bytes) }

    /// One line per site: `FILE: KIND[ SECTION][ at 0xOFFSET]: BEFORE -> AFTER`, and
    /// `refused: REASON` for one that is not rewritten.
    package func text() -> String {
        var out = ""
        for file in files {
            for site in file.sites {
                if let left = site.left {
                    out += "\(file.path): left: \(left)\n"
                    continue
                }
                var line = "\(file.path): \(site.kind.rawValue)"
                if let section = site.section { line += " \(section)" }
                if let offset = site.offset { line += " at 0x\(String(offset, radix: 16))" }
                line += ": \(RelocationRun.show(site.before)) -> \(RelocationRun.show(site.after))"
                if site.padding == "slash" { line += " (same length, padded with /)" }
                if site.refusal != nil { line += " (refused)" }
                out += line + "\n"
            }
        }
        return out
    }

    /// The last line: files scanned, changed, sites, refused (and failures when any).
    package func summaryLine(dryRun: Bool, outcome: Outcome = Outcome()) -> String {
        let changed = written(outcome).count
        let sites = files.reduce(0) { $0 + $1.sites.filter { $0.kind != .left }.count }
        let left = files.reduce(0) { $0 + $1.sites.filter { $0.kind == .left }.count }
        let refusedFiles = files.filter(\.isRefused).count
        var line = "relocate: \(scanned) files scanned, \(changed) \(dryRun ? "to change" : "changed"), \(sites) sites, "
            + "\(refusals.count) refused"
        if refusedFiles > 0 { line += " (in \(refusedFiles) file\(refusedFiles == 1 ? "" : "s"))" }
        if left > 0 { line += ", \(left) left" }
        if !outcome.failed.isEmpty || !outcome.notWritten.isEmpty {
            line += ", \(outcome.failed.count) failed, \(outcome.notWritten.count) not written"
        }
        if !errors.isEmpty { line += ", \(errors.count) errors" }
        return line
    }

    /// The same as one JSON document (`JSONEnvelope`: command, ok, files).
    package func json(dryRun: Bool, ok: Bool, outcome: Outcome = Outcome()) -> JSON {
        let writtenPaths = Set(written(outcome).map(\.path))
        let entries = files.map { file -> JSON in
            let error = outcome.failed[file.path] ?? file.sites.compactMap(\.refusal).first
            return JSONEnvelope.entry(file: .string(file.path), ok: error == nil, error: error, [
                ("kind", .string(file.kind.rawValue)),
                ("changed", .bool(writtenPaths.contains(file.path))),
                ("sites", .array(file.sites.map { site in
                    .object([("kind", .string(site.kind.rawValue)), ("section", .optional(site.section)),
                             ("offset", site.offset.map { .int(Int64($0)) } ?? .null),
                             ("before", .bytes(site.before)), ("after", .bytes(site.after)),
                             ("padding", .optional(site.padding)), ("refused", .optional(site.refusal)),
                             ("left", .optional(site.left))])
                })),
            ])
        }
        return JSONEnvelope.document(command: "relocate", ok: ok, [
            ("files", .array(entries)),
            ("dry_run", .bool(dryRun)),
            ("summary", .object([("scanned", .int(Int64(scanned))), ("changed", .int(Int64(writtenPaths.count))),
                                 ("sites", .int(Int64(files.reduce(0) { $0 + $1.sites.filter { $0.kind != .left }.count }))),
                                 ("left", .int(Int64(files.reduce(0) { $0 + $1.sites.filter { $0.kind == .left }.count }))),
                                 ("refused", .int(Int64(refusals.count))), ("failed", .int(Int64(outcome.failed.count))),
                                 ("not_written", .int(Int64(outcome.notWritten.count)))])),
            ("warnings", .array(warnings.map(JSON.string))),
            ("errors", .array(errors.map(JSON.string))),
        ])
    }
}
