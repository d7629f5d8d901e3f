import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// A verifier that has never rejected a wrong plan has not been tested. Each case takes a
/// correct plan (one the verifier accepts) for a real subject, breaks it in one specific
/// way, and the verifier must reject the result.
@Suite struct VerifierSabotageTests {
    /// A plan with the bytes of the planned image at `offset` replaced.
    static func overlay(_ plan: RewritePlan, at offset: UInt64, _ bytes: [UInt8]) -> RewritePlan? {
        var plan = plan
        let end = offset + UInt64(bytes.count)
        if !plan.appended.isEmpty, offset >= plan.appendOffset, end <= plan.appendOffset + UInt64(plan.appended.count) {
            let start = Int(offset - plan.appendOffset)
            plan.appended.replaceSubrange(start ..< start + bytes.count, with: bytes)
            return plan
        }
        guard end <= plan.keptPrefix else { return nil }
        if let index = plan.patches.firstIndex(where: { $0.offset <= offset && end <= $0.offset + UInt64($0.bytes.count) }) {
            let start = Int(offset - plan.patches[index].offset)
            plan.patches[index].bytes.replaceSubrange(start ..< start + bytes.count, with: bytes)
            return plan
        }
        guard !plan.patches.contains(where: { $0.offset < end && offset < $0.offset + UInt64($0.bytes.count) }) else { return nil }
        plan.patches.append(RewritePlan.Patch(offset: offset, bytes: bytes))
        plan.patches.sort { $0.offset < $1.offset }
        return plan
    }

    static func image(_ base: ELFFile, _ plan: RewritePlan) throws -> ELFFile {
        try ELFFile(source: PlannedByteSource(base: base.source, plan: plan))
    }

    static func encode(_ headers: [ProgramHeader], _ format: ELFFormat) throws -> [UInt8] {
        var encoder = ByteEncoder(format: format)
        for header in headers { try header.encode(into: &encoder) }
        return encoder.bytes
    }

    /// The sabotages: a name and, for a planned image, the broken plans it makes.
    typealias Sabotage = (name: String, make: @Sendable (ELFFile, RewritePlan, EditRequest) throws -> [RewritePlan])

    static let sabotages: [Sabotage] = [
        ("a byte of the requested value flipped", { base, plan, request in
            let edited = try image(base, plan)
            guard let dynamic = try edited.dynamic(), let stringTable = dynamic.stringTableOffset else { return [] }
            var offsets: [UInt64] = []
            if request.soname != nil, let value = dynamic.first(.soname) { offsets.append(stringTable + value) }
            if case .set? = request.runPath, let value = dynamic.first(.runpath) ?? dynamic.first(.rpath) { offsets.append(stringTable + value) }
            if request.interpreter != nil, let interp = edited.firstSegment(.interp) { offsets.append(interp.offset) }
            return try offsets.compactMap { offset in
                let byte = try edited.source.bytes(at: offset, count: 1, "byte")[0]
                return overlay(plan, at: offset, [byte ^ 0x20])
            }
        }),
        ("a patch dropped", { base, plan, _ in
            // Except a patch that only clears obsolete bytes (the old place of a moved table, a
            // string of .dynstr nothing uses): without it the file keeps a stale copy, which
            // is no error of structure. The end-to-end tests look for such copies.
            var obsolete = plan.moves.map { ($0.from.offset, $0.from.fileEnd) }
            if let dynamic = try base.dynamic(), let start = dynamic.stringTableOffset {
                obsolete.append((start, start + dynamic.stringTableSize))
            }
            func clearsOnly(_ patch: RewritePlan.Patch) throws -> Bool {
                let before = try base.source.bytes(at: patch.offset, count: UInt64(patch.bytes.count), "patched")
                return patch.bytes.indices.allSatisfy { index in
                    let offset = patch.offset + UInt64(index)
                    return before[index] == patch.bytes[index]
                        || patch.bytes[index] == 0 && obsolete.contains { $0.0 <= offset && offset < $0.1 }
                }
            }
            return try plan.patches.indices.filter { try !clearsOnly(plan.patches[$0]) }.map { index in
                var broken = plan
                broken.patches.remove(at: index)
                return broken
            }
        }),
        ("the appended segment shifted by 8 bytes", { _, plan, _ in
            guard plan.appended.count > 8 else { return [] }
            var broken = plan
            broken.appended = [UInt8](repeating: 0, count: 8) + plan.appended.dropLast(8)
            return [broken]
        }),
        ("a new read-only segment mapped writable", { base, plan, _ in
            let edited = try image(base, plan)
            var headers = edited.programHeaders
            guard let index = headers.indices.first(where: {
                headers[$0].type == .load && !headers[$0].flags.contains(.write) && !base.programHeaders.contains(headers[$0])
            }) else { return [] }
            headers[index].flags.insert(.write)
            return [overlay(plan, at: edited.header.programHeaderOffset, try encode(headers, edited.format))].compactMap { $0 }
        }),
        ("an unrelated DT_NEEDED string changed", { base, plan, request in
            let edited = try image(base, plan)
            guard let dynamic = try edited.dynamic(), let stringTable = dynamic.stringTableOffset else { return [] }
            let touched = Set(request.addNeeded + request.removeNeeded + request.replaceNeeded.flatMap { [$0.old, $0.new] })
            guard let value = dynamic.all(.needed).first(where: { !touched.contains((try? dynamic.rawString(at: $0)) ?? []) }) else { return [] }
            let byte = try edited.source.bytes(at: stringTable + value, count: 1, "byte")[0]
            return [overlay(plan, at: stringTable + value, [byte == 0x41 ? 0x42 : 0x41])].compactMap { $0 }
        }),
        ("a .symtab value left stale or off", { base, plan, _ in
            let edited = try image(base, plan)
            guard let table = edited.sectionHeaders.first(where: { $0.type == .symtab }), table.entrySize > 0 else { return [] }
            var broken: [RewritePlan] = []
            // The planner's own .symtab patches undone: the values stay where the sections were.
            let end = table.offset + table.size
            let stale = plan.patches.filter { !($0.offset < end && table.offset < $0.offset + UInt64($0.bytes.count)) }
            if stale.count != plan.patches.count {
                var reverted = plan
                reverted.patches = stale
                broken.append(reverted)
            }
            // One value moved by 4 bytes.
            let valueAt: UInt64 = edited.format.is64 ? 8 : 4
            let width = edited.format.is64 ? 8 : 4
            let raw = try edited.source.bytes(at: table.offset + table.entrySize + valueAt, count: UInt64(width), "st_value")
            var bumped = raw
            let last = edited.format.isBigEndian ? width - 1 : 0
            bumped[last] = bumped[last] &+ 4
            if let plan = overlay(plan, at: table.offset + table.entrySize + valueAt, bumped) { broken.append(plan) }
            return broken
        }),
        ("a new PT_LOAD overlapping an existing one", { base, plan, _ in
            let edited = try image(base, plan)
            var headers = edited.programHeaders
            guard let index = headers.indices.last(where: { headers[$0].type == .load && !base.programHeaders.contains(headers[$0]) }),
                  let previous = base.programHeaders.last(where: { $0.type == .load }) else { return [] }
            let align = max(headers[index].alignment, 1)
            headers[index].virtualAddress = previous.virtualAddress / align * align + headers[index].offset % align
            headers[index].physicalAddress = headers[index].virtualAddress
            return [overlay(plan, at: edited.header.programHeaderOffset, try encode(headers, edited.format))].compactMap { $0 }
        }),
        ("the segment holding a moved program header table at another address", { base, plan, _ in
            // AT_PHDR is right only where that segment has the first PT_LOAD's distance
            // between address and offset: one page more breaks it (PT_PHDR follows along).
            let edited = try image(base, plan)
            let phoff = edited.header.programHeaderOffset
            guard phoff != base.header.programHeaderOffset else { return [] }
            var headers = edited.programHeaders
            guard let index = headers.indices.first(where: {
                headers[$0].type == .load && headers[$0].offset <= phoff && phoff < headers[$0].offset + headers[$0].fileSize
            }) else { return [] }
            let page = max(headers[index].alignment, 0x1000)
            for i in headers.indices where i == index || headers[i].type == .phdr {
                headers[i].virtualAddress += page
                headers[i].physicalAddress += page
            }
            return [overlay(plan, at: phoff, try encode(headers, edited.format))].compactMap { $0 }
        }),
        ("a byte of code changed", { base, plan, _ in
            // The last byte of the executable segment's file image is code (or its padding),
            // never one of the tables an edit may rewrite: they come before the code.
            guard let text = base.programHeaders.first(where: { $0.type == .load && $0.flags.contains(.execute) && $0.fileSize > 0 })
            else { return [] }
            let offset = text.offset + text.fileSize - 1
            let byte = try base.source.bytes(at: offset, count: 1, "code")[0]
            return [overlay(plan, at: offset, [~byte])].compactMap { $0 }
        }),
        ("the old place of a moved table given other bytes", { base, plan, request in
            // Obsolete bytes may only be cleared (or, with keepOldBytes, must stay as they
            // were); the grown program header table is left alone here.
            let edited = try image(base, plan)
            let table = edited.header.programHeaderOffset ..< edited.header.programHeaderOffset
                + UInt64(edited.programHeaders.count) * edited.format.programHeaderSize
            return try plan.moves.compactMap { move -> RewritePlan? in
                let old = move.from
                guard old.size > 0, old.fileEnd <= plan.keptPrefix else { return nil }
                guard let offset = (old.offset ..< old.fileEnd).reversed().first(where: { !table.contains($0) }) else { return nil }
                let now = try edited.source.bytes(at: offset, count: 1, "old place")[0]
                let wrong: UInt8 = request.keepOldBytes ? ~(try base.source.bytes(at: offset, count: 1, "old place")[0])
                    : (now == 0x5a ? 0x41 : 0x5a)
                return overlay(plan, at: offset, [wrong])
            }
        }),
        ("a cleared string of .dynstr kept in place refilled", { base, plan, _ in
            // Where the plan clears an obsolete string in .dynstr, write 'X's instead.
            guard !plan.moves.contains(where: { $0.from.kind == .dynamicStrings }),
                  let dynamic = try base.dynamic(), let start = dynamic.stringTableOffset else { return [] }
            let end = start + dynamic.stringTableSize
            for patch in plan.patches where patch.offset < end && start < patch.offset + UInt64(patch.bytes.count) {
                for (index, byte) in patch.bytes.enumerated() where byte == 0 {
                    let offset = patch.offset + UInt64(index)
                    guard offset >= start, offset < end, try base.source.bytes(at: offset, count: 1, "string")[0] != 0 else { continue }
                    return [overlay(plan, at: offset, [0x58])].compactMap { $0 }
                }
            }
            return []
        }),
        ("a byte of a symbol's name in .dynstr cleared", { base, plan, _ in
            let edited = try image(base, plan)
            guard let dynamic = try edited.dynamic(), let table = dynamic.stringTableOffset,
                  let symbols = try FileObjectCatalog(file: edited).object(.dynamicSymbols), symbols.size >= 2 * edited.format.symbolSize
            else { return [] }
            // Symbol 1's st_name, the first field of the record in both classes.
            let raw = try edited.source.bytes(at: symbols.offset + edited.format.symbolSize, count: 4, "st_name")
            let name = edited.format.isBigEndian ? raw.reduce(0) { $0 << 8 | UInt64($1) } : raw.reversed().reduce(0) { $0 << 8 | UInt64($1) }
            guard name > 0, try edited.source.bytes(at: table + name, count: 1, "name")[0] != 0 else { return [] }
            return [overlay(plan, at: table + name, [0])].compactMap { $0 }
        }),
    ]

    @Test("every sabotaged plan is rejected")
    func sabotagedPlansAreRejected() throws {
        var requests = PlannerTests.requests
        var request = EditRequest()
        request.removeNeeded = ["libunused.so"]
        requests.append(("remove-needed", request))
        request = EditRequest()
        request.addNeeded = (0 ..< 12).map { Array("libmany\($0).so".utf8) }
        requests.append(("add-many", request))
        request = EditRequest()
        request.runPath = .remove
        requests.append(("remove-rpath", request))
        request = EditRequest()
        request.runPath = .set(Array(("$ORIGIN/" + String(repeating: "long/", count: 60)).utf8))
        request.keepOldBytes = true
        requests.append(("set-rpath 300, keeping old bytes", request))

        var instances: [String: Int] = [:]
        var correctPlans = 0
        var failures: [String] = []
        for subject in PlannerTests.dynamicSubjects {
            let file = try ELFFile(source: MemoryByteSource(try subject.contents()))
            guard try file.dynamic() != nil else { continue }
            for (name, request) in requests where PlannerTests.applies(name, to: file) {
                guard let plan = try? Rewriter().plan(file: file, request: request), !plan.isEmpty else { continue }
                // Only a plan the verifier accepts can show that sabotage makes it reject.
                guard IndependentVerifier(original: file, edited: try Self.image(file, plan), request: request).problems().isEmpty
                else { continue }
                correctPlans += 1
                for sabotage in Self.sabotages {
                    for broken in try sabotage.make(file, plan, request) {
                        instances[sabotage.name, default: 0] += 1
                        let edited: ELFFile
                        do { edited = try Self.image(file, broken) } catch { continue }  // unreadable counts as rejected
                        if IndependentVerifier(original: file, edited: edited, request: request).problems().isEmpty {
                            failures.append("\(subject) \(name): '\(sabotage.name)' was accepted")
                        }
                    }
                }
            }
        }
        let summary = instances.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n")
        try? "correct plans: \(correctPlans)\n\(summary)\naccepted: \(failures.count)\n\(failures.joined(separator: "\n"))\n"
            .write(toFile: NSTemporaryDirectory() + "swelf-sabotage.txt", atomically: true, encoding: .utf8)
        #expect(correctPlans > 100, "too few correct plans to sabotage")
        for sabotage in Self.sabotages { #expect(instances[sabotage.name, default: 0] > 0, "no instance of '\(sabotage.name)'") }
        #expect(failures.isEmpty, "\(failures.count) sabotaged plans accepted:\n\(failures.prefix(20).joined(separator: "\n"))")
    }
}

// MARK: - The resolution cache note

/// A file system of a few paths, for the editor and the verifier alike: no real files.
struct FakePaths: ResolutionProbe, VerifierPathProbe {
    var readable: Set<[UInt8]> = []
    var directories: Set<[UInt8]> = []
    func exists(_ path: [UInt8]) -> Bool { readable.contains(path) || directories.contains(path) }
    func isReadable(_ path: [UInt8]) -> Bool { readable.contains(path) }
}

extension VerifierSabotageTests {
    static func planned(_ file: ELFFile, _ request: EditRequest, _ paths: FakePaths) throws -> (RewritePlan, ELFFile) {
        let outcome = try DynamicEditor(file: file, resolutionProbe: paths).apply(request)
        let plan = try LayoutPlanner(file: file, outcome: outcome, pageSize: request.pageSize).plan()
        let image = try self.image(file, plan)
        return (plan, try ELFFile(source: MemoryByteSource(image.source.bytes(at: 0, count: image.source.size, "image"))))
    }

    static func noteSection(_ file: ELFFile) -> SectionHeader? { ResolutionCacheNote.section(in: file)?.header }

    /// Builds a note from fake paths on every dynamic subject (the verifier must accept it),
    /// then breaks it: a descriptor byte flipped, its PT_NOTE dropped, the verifier's world
    /// changed. Then drops it with a run-path edit and breaks that: the bytes or the PT_NOTE
    /// kept; and rebuilds it against a new directory with the old descriptor kept (a stale entry).
    @Test("sabotaged resolution cache notes are rejected")
    func sabotagedResolutionCacheIsRejected() throws {
        var checked = 0
        var failures: [String] = []
        for subject in PlannerTests.dynamicSubjects {
            let file = try ELFFile(source: MemoryByteSource(try subject.contents()))
            guard let dynamic = try file.dynamic(), let first = dynamic.all(.needed).first,
                  file.firstSegment(.interp) != nil, !file.sectionHeaders.isEmpty else { continue }
            let library = try dynamic.rawString(at: first)
            let paths = FakePaths(readable: [Array("/fake/a/".utf8) + library, Array("/fake/b/".utf8) + library])
            var request = EditRequest()
            request.runPath = .set(Array("/fake/a".utf8))
            request.buildResolutionCache = true
            // A file with no room for two more program headers is refused (as for any new segment).
            guard let (plan, built) = try? Self.planned(file, request, paths) else { continue }
            func verify(_ original: ELFFile, _ edited: ELFFile, _ request: EditRequest, _ world: FakePaths = paths) -> [VerificationProblem] {
                IndependentVerifier(original: original, edited: edited, request: request, probe: world).problems()
            }
            let accepted = verify(file, built, request)
            guard accepted.isEmpty, let note = Self.noteSection(built) else {
                failures.append("\(subject): correct note rejected: \(accepted)"); continue
            }
            checked += 1
            func rejects(_ what: String, _ broken: RewritePlan?, _ original: ELFFile = file, _ request: EditRequest = request) {
                guard let broken else { return failures.append("\(subject): '\(what)' could not be made") }
                guard let edited = try? Self.image(original, broken) else { return }
                if verify(original, edited, request).isEmpty { failures.append("\(subject): '\(what)' was accepted") }
            }
            // A descriptor byte flipped (the first byte of the library name's entry).
            let descriptorStart = note.offset + 12 + 8
            let byte = try built.source.bytes(at: descriptorStart + UInt64(library.count) + 2, count: 1, "descriptor")[0]
            rejects("a descriptor byte flipped", Self.overlay(plan, at: descriptorStart + UInt64(library.count) + 2, [byte ^ 0x01]))
            // Its PT_NOTE dropped.
            var headers = built.programHeaders
            if let index = headers.firstIndex(where: { $0.type == .note && $0.offset == note.offset }) {
                headers[index] = ProgramHeader(type: .null, flags: [], offset: 0, virtualAddress: 0, physicalAddress: 0,
                                               fileSize: 0, memorySize: 0, alignment: 0)
                rejects("the note's PT_NOTE dropped", Self.overlay(plan, at: built.header.programHeaderOffset, try Self.encode(headers, built.format)))
            } else {
                failures.append("\(subject): no PT_NOTE for the note")
            }
            // The world changed: the library is no longer readable there.
            if verify(file, built, request, FakePaths()).isEmpty { failures.append("\(subject): a note naming a missing library was accepted") }

            // Dropped by a run-path change: accepted as planned; bytes or PT_NOTE kept: rejected.
            var change = EditRequest()
            change.runPath = .set(Array("/fake/b".utf8))
            guard let (dropPlan, dropped) = try? Self.planned(built, change, paths) else {
                failures.append("\(subject): no plan to drop the note"); continue
            }
            let droppedProblems = verify(built, dropped, change)
            if !droppedProblems.isEmpty || Self.noteSection(dropped) != nil {
                failures.append("\(subject): dropping the note was not accepted: \(droppedProblems)"); continue
            }
            var keptBytes = dropPlan
            keptBytes.patches.removeAll { $0.offset == note.offset && $0.bytes.allSatisfy { $0 == 0 } }
            rejects("the dropped note's bytes kept", keptBytes.patches.count < dropPlan.patches.count ? keptBytes : nil, built, change)
            var keptHeaders = dropped.programHeaders
            if let slot = keptHeaders.firstIndex(where: { $0.type == .null }),
               let old = built.programHeaders.first(where: { $0.type == .note && $0.offset == note.offset }) {
                keptHeaders[slot] = old
                rejects("the dropped note's PT_NOTE kept",
                        Self.overlay(dropPlan, at: dropped.header.programHeaderOffset, try Self.encode(keptHeaders, dropped.format)), built, change)
            }

            // Rebuilt against /fake/b: the old descriptor (naming /fake/a) kept is a stale entry.
            change.buildResolutionCache = true
            guard let (rebuildPlan, rebuilt) = try? Self.planned(built, change, paths), let newNote = Self.noteSection(rebuilt),
                  verify(built, rebuilt, change).isEmpty else {
                failures.append("\(subject): rebuilding the note was not accepted"); continue
            }
            let oldNote = try built.source.bytes(at: note.offset, count: note.size, "old note")
            rejects("a stale entry kept", oldNote.count == Int(newNote.size) ? Self.overlay(rebuildPlan, at: newNote.offset, oldNote) : nil,
                    built, change)
        }
        #expect(checked >= 8, "too few subjects with a note: \(checked)")
        #expect(failures.isEmpty, "\(failures.count) problems:\n\(failures.prefix(20).joined(separator: "\n"))")
    }
}
