#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

// Mirrored by VerifierPathProbe/AccessPathProbe in ELFKitVerify/ResolutionCacheCheck.swift because the verifier asks the file system itself, not through the editor's probe.
/// The file-system questions `--build-resolution-cache` asks, behind a seam so that unit
/// tests need no real files (as `LibraryProbe` is for `--shrink-rpath`).
package protocol ResolutionProbe: Sendable {
    /// `access(path, F_OK) == 0`.
    func exists(_ path: [UInt8]) -> Bool
    /// `access(path, R_OK) == 0`.
    func isReadable(_ path: [UInt8]) -> Bool
}

/// The real file system, through access(2), as patchelf asks it.
package struct FileSystemResolutionProbe: ResolutionProbe {
    package init() {}
    package func exists(_ path: [UInt8]) -> Bool { BytePath(bytes: path).withCString { access($0, F_OK) == 0 } }
    package func isReadable(_ path: [UInt8]) -> Bool { BytePath(bytes: path).withCString { access($0, R_OK) == 0 } }
}

/// A resolution cache note to drop: the section that holds it, as the original file has it.
package struct DroppedResolutionCache: Sendable, Equatable {
    package var sectionIndex: Int
    package var section: SectionHeader
}

/// patchelf's resolution, from the final needed list and run path (facts from its
/// `buildResolutionCache` at master, after 0.19.0): run-path components in order (see
/// `components`); a component that is empty or relative, holds a `$` token, or has a
/// `glibc-hwcaps` subdirectory gives every searched name the hint `?DIR` (a bare `?` for
/// an empty one); any other gives `=DIR/NAME` for each searched name readable there.
/// Names with a `/` are opened as paths by the loader and are not searched.
struct ResolutionCacheBuilder {
    let probe: any ResolutionProbe

    static let alreadyPresent = "--build-resolution-cache: a resolution cache note is already present; rebuild from an unpatched binary"
    static let noDynamic = "--build-resolution-cache: no dynamic section (statically linked?); no cache written"
    static let nothingToResolve = "--build-resolution-cache: no DT_NEEDED entries or run path to resolve; no cache written"
    static let nothingResolved = "--build-resolution-cache: no libraries resolved against the run path; no cache written"

    /// The run path's components as patchelf splits it: an empty component between
    /// colons or before the first one counts (ld.so searches the current directory
    /// there), but one after the last colon does not (patchelf's split drops it, and
    /// nothing follows it that could skip its place). "" has none; ":" has one, empty.
    static func components(_ runPath: [UInt8]) -> [[UInt8]] {
        var components = runPath.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false).map(Array.init)
        if components.last?.isEmpty == true { components.removeLast() }
        return components
    }

    /// The descriptor, or nil when nothing resolved.
    func descriptor(runPath: [UInt8], needed: [[UInt8]], log: inout [String]) -> [UInt8]? {
        let slash = UInt8(ascii: "/")
        var entries: [[UInt8]: [UInt8]] = [:]
        func add(_ name: [UInt8], _ entry: [UInt8]) {
            if let current = entries[name] { entries[name] = current + [UInt8(ascii: ":")] + entry } else { entries[name] = entry }
        }
        let searched = needed.filter { !$0.contains(slash) }
        for directory in Self.components(runPath) {
            // An empty or relative component names the process's current directory at run
            // time, not swelf's now: probing it here would bake in a wrong `=` path, and
            // skipping it would let a later `=` entry jump ahead of that search position.
            // patchelf asks nothing of the file system for these, nor for `$` tokens.
            let runTimeOnly = directory.first != slash || directory.contains(UInt8(ascii: "$"))
            if runTimeOnly || probe.exists(directory + Array("/glibc-hwcaps".utf8)) {
                for name in searched { add(name, [UInt8(ascii: "?")] + directory) }
            } else {
                for name in searched {
                    let path = directory + [slash] + name
                    if probe.isReadable(path) { add(name, [UInt8(ascii: "=")] + path) }
                }
            }
        }
        guard !entries.isEmpty else { return nil }
        for (name, value) in entries.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            log.append("resolution cache: \(String(decoding: name, as: UTF8.self)) -> \(String(decoding: value, as: UTF8.self))")
        }
        return ResolutionCacheNote.descriptor(entries.map { (name: $0.key, entries: $0.value) })
    }
}

extension DynamicEditor {
    /// Drops a resolution cache note that the edit makes stale, and builds one when asked.
    func applyResolutionCache(_ request: EditRequest, _ outcome: inout EditOutcome) throws(EditError) {
        let existing = ResolutionCacheNote.section(in: file)
        guard existing != nil || request.buildResolutionCache else { return }
        let dynamic: DynamicSection?
        do { dynamic = try file.dynamic() } catch { throw .format(error) }
        if let existing, let dynamic, try invalidates(request, outcome, dynamic) {
            outcome.droppedResolutionCache = DroppedResolutionCache(sectionIndex: existing.index, section: existing.header)
            outcome.log.append("the run path or the needed libraries change: the resolution cache note (section \(existing.index)) is dropped")
        }
        guard request.buildResolutionCache else { return }
        let present = outcome.droppedResolutionCache == nil ? existing : nil
        func warn(_ message: String) throws(EditError) {
            if present != nil { throw .refused(EditRefusal(.resolutionCachePresent, ResolutionCacheBuilder.alreadyPresent, offset: present?.header.offset)) }
            outcome.warnings.append(message)
        }
        guard let dynamic else { return try warn(ResolutionCacheBuilder.noDynamic) }
        let list = EntryList(entries: outcome.entries, dynamic: dynamic)
        let needed = try list.neededNames()
        let runPath = try list.runPath()
        // patchelf's test is on the split run path: ":" (the current directory) is something to resolve.
        guard !needed.isEmpty, let runPath,
              !ResolutionCacheBuilder.components(runPath).isEmpty else { return try warn(ResolutionCacheBuilder.nothingToResolve) }
        guard let descriptor = ResolutionCacheBuilder(probe: resolutionProbe).descriptor(runPath: runPath, needed: needed, log: &outcome.log)
        else { return try warn(ResolutionCacheBuilder.nothingResolved) }
        if let present {
            guard ResolutionCacheNote.descriptor(of: present.header, in: file) == descriptor else {
                throw .refused(EditRefusal(.resolutionCachePresent, ResolutionCacheBuilder.alreadyPresent, offset: present.header.offset))
            }
            outcome.log.append("resolution cache already up to date")
            return
        }
        outcome.resolutionCacheNote = ResolutionCacheNote.encode(descriptor: descriptor, format: file.format)
    }

    /// patchelf drops the note on any run-path change (a new string; `--remove-rpath`
    /// always, `--shrink-rpath` of a file without one), any `--add-needed`, and any removal
    /// or replacement of a DT_NEEDED name that is present.
    private func invalidates(_ request: EditRequest, _ outcome: EditOutcome, _ dynamic: DynamicSection) throws(EditError) -> Bool {
        let before = EntryList(entries: dynamic.entries.enumerated().map { PlannedEntry(tag: $1.tag, value: .raw($1.value), originalIndex: $0) },
                               dynamic: dynamic)
        let after = EntryList(entries: outcome.entries, dynamic: dynamic)
        let oldRunPath = try before.runPath()
        switch request.runPath {
        case .remove?: return true
        case .shrink? where oldRunPath == nil: return true
        default: break
        }
        if !request.addNeeded.isEmpty { return true }
        if try after.runPath() != oldRunPath { return true }
        return try after.neededNames() != before.neededNames()
    }
}

extension EntryList {
    /// DT_RUNPATH's string, else DT_RPATH's (the loader's precedence).
    func runPath() throws(EditError) -> [UInt8]? {
        if let entry = entries.first(where: { $0.tag == .runpath }) { return try stringValue(entry) }
        if let entry = entries.first(where: { $0.tag == .rpath }) { return try stringValue(entry) }
        return nil
    }
}
