#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

// Mirrors ResolutionProbe/FileSystemResolutionProbe in ELFKitEdit/Edits/ResolutionCacheBuilder.swift
// because the verifier depends on the core alone and asks the file system itself, not
// through the probe of the editor it judges (its tests can give the two different answers).
/// The verifier's own access(2) questions for `--build-resolution-cache`, behind a seam
/// so that its tests need no real files. It does not share the editor's probe.
package protocol VerifierPathProbe: Sendable {
    /// `access(path, F_OK) == 0`.
    func exists(_ path: [UInt8]) -> Bool
    /// `access(path, R_OK) == 0`.
    func isReadable(_ path: [UInt8]) -> Bool
}

package struct AccessPathProbe: VerifierPathProbe {
    package init() {}
    package func exists(_ path: [UInt8]) -> Bool { BytePath(bytes: path).withCString { access($0, F_OK) == 0 } }
    package func isReadable(_ path: [UInt8]) -> Bool { BytePath(bytes: path).withCString { access($0, R_OK) == 0 } }
}

/// What the edited file must hold of a resolution cache note, worked out from the
/// original, the request and the edited file's own run path and needed list.
struct ResolutionCacheExpectation {
    /// The original's `.note.nixos.ldcache` section.
    let originalSection: (index: Int, header: SectionHeader)?
    /// The original's note must be gone: the edit changed the run path or the needed list.
    let dropped: Bool
    /// The descriptor the edited file's note must have; nil: no note at all.
    let descriptor: [UInt8]?
    /// The note is new (not the original's, kept).
    let isNew: Bool

    init(original: ELFFile, edited: ELFFile, request: EditRequest, probe: any VerifierPathProbe) throws {
        originalSection = original.section(named: ResolutionCacheNote.sectionName)
        let before = try Self.runPathAndNeeded(original)
        let after = try Self.runPathAndNeeded(edited)
        var dropped = false
        if originalSection != nil {
            switch request.runPath {
            case .remove?: dropped = true
            case .shrink? where before.runPath == nil: dropped = true
            default: break
            }
            if !request.addNeeded.isEmpty || before.runPath != after.runPath || before.needed != after.needed { dropped = true }
        }
        self.dropped = dropped
        let kept = originalSection.flatMap { dropped ? nil : ResolutionCacheNote.descriptor(of: $0.header, in: original) }
        if request.buildResolutionCache, originalSection == nil || dropped, let runPath = after.runPath, !after.needed.isEmpty {
            descriptor = Self.resolve(runPath: runPath, needed: after.needed, probe: probe)
            isNew = descriptor != nil
        } else {
            descriptor = kept
            isNew = false
        }
    }

    private static func runPathAndNeeded(_ file: ELFFile) throws -> (runPath: [UInt8]?, needed: [[UInt8]]) {
        guard let dynamic = try file.dynamic() else { return (nil, []) }
        let needed = try dynamic.all(.needed).map { try dynamic.rawString(at: $0) }
        let runPath = try (dynamic.first(.runpath) ?? dynamic.first(.rpath)).map { try dynamic.rawString(at: $0) }
        return (runPath, needed)
    }

    /// The resolution as the note's reader expects it, written here from the format's
    /// definition (see `ResolutionCacheNote`), not taken from the editor.
    static func resolve(runPath: [UInt8], needed: [[UInt8]], probe: any VerifierPathProbe) -> [UInt8]? {
        var found: [[UInt8]: [[UInt8]]] = [:]
        // Each DT_NEEDED entry counts, a repeated name too (its entries then repeat, as
        // patchelf writes them).
        let names = needed.filter { !$0.contains(UInt8(ascii: "/")) }
        for directory in directories(of: runPath) {
            // Only an absolute directory can be looked into now: an empty or relative one is
            // relative to the current directory of the process that will load the program,
            // so the loader must search it in its place (a bare `?` for the empty one).
            let searchOnly = directory.first != UInt8(ascii: "/") || directory.contains(UInt8(ascii: "$"))
                || probe.exists(directory + Array("/glibc-hwcaps".utf8))
            for name in names {
                let path = directory + Array("/".utf8) + name
                if searchOnly {
                    found[name, default: []].append(Array("?".utf8) + directory)
                } else if probe.isReadable(path) {
                    found[name, default: []].append(Array("=".utf8) + path)
                }
            }
        }
        guard !found.isEmpty else { return nil }
        var descriptor: [UInt8] = []
        for name in found.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            descriptor += name + [0] + Array(found[name]!.joined(separator: Array(":".utf8))) + [0]
        }
        return descriptor + [0]
    }

    /// The run path's directories in the note's order: each `:` ends one, empty or not,
    /// and the text after the last `:` is one only when it is not empty (the note's
    /// writer, patchelf, leaves out a trailing empty one: nothing after it can pass it).
    static func directories(of runPath: [UInt8]) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var current: [UInt8] = []
        for byte in runPath {
            if byte == UInt8(ascii: ":") {
                result.append(current)
                current = []
            } else {
                current.append(byte)
            }
        }
        if !current.isEmpty { result.append(current) }
        return result
    }

    /// The PT_NOTE of `file` that covers exactly `section`.
    static func noteHeader(in file: ELFFile, covering section: SectionHeader) -> ProgramHeader? {
        file.programHeaders.first {
            $0.type == .note && $0.offset == section.offset && $0.fileSize == section.size && section.size > 0
        }
    }
}

/// (e) The resolution cache note: present with the recomputed descriptor, covered by a
/// PT_NOTE, in a read-only PT_LOAD that overlaps no other; or gone, with its headers and
/// its bytes.
struct ResolutionCacheCheck {
    let context: IndependentVerifier.Context

    func run(_ problems: inout [VerificationProblem]) throws {
        let expectation = context.resolutionCache
        let edited = context.edited
        func report(_ message: String) { problems.append(VerificationProblem(.notes, message)) }
        let sections = edited.sectionNames().enumerated().filter { $0.element == ResolutionCacheNote.sectionName }
        guard let descriptor = expectation.descriptor else {
            if !sections.isEmpty { report("a .note.nixos.ldcache section remains (section \(sections[0].offset))") }
            if let old = expectation.originalSection?.header, expectation.dropped {
                if ResolutionCacheExpectation.noteHeader(in: edited, covering: old) != nil {
                    report("the PT_NOTE of the dropped resolution cache note remains")
                }
                try checkZeroed(old, &problems)
            }
            return
        }
        guard sections.count == 1, let index = sections.first?.offset else {
            return report("expected one .note.nixos.ldcache section, found \(sections.count)")
        }
        let section = edited.sectionHeaders[index]
        guard section.type == .note, section.flags.contains(.alloc) else {
            return report(".note.nixos.ldcache is not an allocated SHT_NOTE section")
        }
        guard let note = ResolutionCacheNote.descriptor(of: section, in: edited) else {
            return report(".note.nixos.ldcache does not parse as a NixOS note of type 0x\(hex(UInt64(ResolutionCacheNote.type)))")
        }
        if note != descriptor {
            report(".note.nixos.ldcache's descriptor differs from the resolution of the edited file's run path and needed libraries")
        }
        guard let header = ResolutionCacheExpectation.noteHeader(in: edited, covering: section), header.virtualAddress == section.address else {
            return report("no PT_NOTE covers .note.nixos.ldcache at offset 0x\(hex(section.offset))")
        }
        let loads = edited.programHeaders.filter { $0.type == .load }
        guard let load = loads.first(where: { load in
            load.offset <= section.offset && (load.fileEnd ?? 0) >= section.offset + section.size
                && section.address &- load.virtualAddress == section.offset - load.offset
        }) else {
            return report(".note.nixos.ldcache is not loaded by a PT_LOAD at its address")
        }
        if expectation.isNew && (load.flags.contains(.write) || load.flags.contains(.execute)) {
            report("the PT_LOAD holding .note.nixos.ldcache is not read-only")
        }
        for other in loads where other != load {
            if let a = load.memoryEnd, let b = other.memoryEnd, load.virtualAddress < b && other.virtualAddress < a {
                report("the PT_LOAD holding .note.nixos.ldcache overlaps another PT_LOAD")
            }
        }
    }

    /// The dropped note's bytes are zero where its range is still in the file and holds
    /// nothing new (a rebuilt segment or moved header table may use the space).
    private func checkZeroed(_ old: SectionHeader, _ problems: inout [VerificationProblem]) throws {
        let edited = context.edited
        guard old.type != .nobits, old.size > 0, Checked.fits(start: old.offset, length: old.size, within: edited.source.size)
        else { return }
        let end = old.offset + old.size
        // A PT_LOAD the original did not have (a rebuilt segment) may hold new bytes there.
        let reused = edited.programHeaders.contains {
            $0.type == .load && $0.offset < end && ($0.fileEnd ?? 0) > old.offset && !context.original.programHeaders.contains($0)
        }
            || edited.sectionHeaders.contains { $0.type != .nobits && $0.size > 0 && $0.offset < end && $0.offset &+ $0.size > old.offset }
            || (edited.header.sectionHeaderOffset < end
                && edited.header.sectionHeaderOffset + UInt64(edited.sectionHeaders.count) * edited.format.sectionHeaderSize > old.offset)
        if reused { return }
        if try edited.source.bytes(at: old.offset, count: old.size, "dropped note").contains(where: { $0 != 0 }) {
            problems.append(VerificationProblem(.notes, "the bytes of the dropped resolution cache note at 0x\(hex(old.offset)) were not zeroed"))
        }
    }
}
