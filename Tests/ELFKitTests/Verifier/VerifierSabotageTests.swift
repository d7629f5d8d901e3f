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
