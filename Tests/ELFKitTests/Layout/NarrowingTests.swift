import Foundation
import Testing
@testable import ELFKitCore
@testable import ELFKitEdit

/// Values the planner writes into fields narrower than the values themselves (issue 17,
/// "survive any size"): each is refused with an `ELFError` carrying the value, where an
/// unchecked conversion used to trap, and the counts take the gABI's extended numbering
/// when they pass its thresholds.
///
/// A `.dynstr` past 4 GiB cannot be built in a test's memory, so the offsets the planner
/// chose are set by hand, between the step that chose them and the step that encodes them.
@Suite struct NarrowingTests {
    static let hello = Repo.testBinaries.appendingPathComponent("x86_64/hello").path
    static let helloNoSections = Repo.testBinaries.appendingPathComponent("x86_64/hello-noshdr").path

    static func input(_ path: String, _ request: EditRequest) throws -> PlanInput {
        let file = try ELFFile(path: path)
        let outcome = try DynamicEditor(file: file).apply(request)
        return PlanInput(file: file, catalog: try FileObjectCatalog(file: file), outcome: outcome,
                         pageSize: LayoutPlanner.segmentAlignment(of: file))
    }

    /// Before: `UInt32(offset)` in SymbolRenaming trapped.
    @Test func symbolNameOffsetPast4GiBIsRefused() throws {
        var request = EditRequest()
        request.renameSymbols = [Array("puts".utf8): Array("renamed_puts".utf8)]
        let input = try Self.input(Self.hello, request)
        var log: [String] = []
        var offsets = try input.placeStrings(log: &log).symbolNameOffsets
        offsets[Array("renamed_puts".utf8)] = 1 << 32
        do {
            _ = try input.renameSymbols(symbolNameOffsets: offsets, versionSymbols: nil, log: &log)
            Issue.record("an st_name of 2^32 was accepted")
        } catch let error as ELFError {
            #expect(error.kind == .overflow && error.value == 1 << 32, "\(error)")
        }
    }

    /// Before: `UInt32(offset)` in VersionEdits trapped.
    @Test func versionFileOffsetPast4GiBIsRefused() throws {
        var request = EditRequest()
        request.replaceNeeded = [(Array("libc.so.6".utf8), Array("libc-renamed.so.6".utf8))]
        let input = try Self.input(Self.hello, request)
        var log: [String] = []
        var offsets = try input.placeStrings(log: &log).renamedFileOffsets
        #expect(offsets[Array("libc-renamed.so.6".utf8)] != nil)
        offsets[Array("libc-renamed.so.6".utf8)] = (1 << 32) + 5
        do {
            _ = try input.editVersionTables(renamedFileOffsets: offsets, log: &log)
            Issue.record("a vn_file of 2^32 + 5 was accepted")
        } catch let error as ELFError {
            #expect(error.kind == .overflow && error.value == (1 << 32) + 5, "\(error)")
        }
    }

    @Test func extendedNumberingEncodings() throws {
        #expect(ExtendedNumbering.sectionCount(0xfeff) == (0xfeff, 0))
        #expect(ExtendedNumbering.sectionCount(0xff00) == (0, 0xff00))
        #expect(ExtendedNumbering.sectionCount(70_001) == (0, 70_001))
        #expect(try ExtendedNumbering.nameTableIndex(0xfeff) == (0xfeff, 0))
        #expect(try ExtendedNumbering.nameTableIndex(0xff00) == (0xffff, 0xff00))
        #expect(try ExtendedNumbering.programHeaderCount(0xfffe) == (0xfffe, nil))
        #expect(try ExtendedNumbering.programHeaderCount(0xffff) == (0xffff, 0xffff))
        #expect(try ExtendedNumbering.programHeaderCount(70_000) == (0xffff, 70_000))
    }

    static let nullSection = SectionHeader(nameOffset: 0, type: .null, flags: [], address: 0, offset: 0, size: 0,
                                           link: 0, info: 0, alignment: 0, entrySize: 0)
    static let nullSegment = ProgramHeader(type: .null, flags: [], offset: 0, virtualAddress: 0, physicalAddress: 0,
                                           fileSize: 0, memorySize: 0, alignment: 0)

    /// Section counts on both sides of SHN_LORESERVE, from a file that uses the plain form.
    @Test func sectionCountCrossesTheThreshold() throws {
        for count in [0xfeff, 0xff00, 70_001] {
            let input = try Self.input(Self.hello, EditRequest())
            var tables = HeaderTables(file: input.file)
            tables.sectionHeaders += Array(repeating: Self.nullSection, count: count - input.file.sectionHeaders.count)
            var log: [String] = []
            let encoded = try input.encodeHeaderCounts(tables, log: &log)
            let extended = count >= 0xff00
            #expect(encoded.header.sectionHeaderCount == (extended ? 0 : UInt16(count)), "\(count)")
            #expect(encoded.sectionHeaders[0].size == (extended ? UInt64(count) : 0), "\(count)")
            // e_shstrndx is small and stays in the header.
            #expect(encoded.header.sectionNameTableIndex == input.file.header.sectionNameTableIndex)
            #expect(encoded.sectionHeaders[0].link == 0)
        }
    }

    /// Program header counts on both sides of PN_XNUM; without section headers there is
    /// nowhere for a count of 0xffff or more to go.
    @Test func programHeaderCountCrossesPNXNUM() throws {
        for count in [0xfffe, 0xffff, 70_000] {
            let input = try Self.input(Self.hello, EditRequest())
            var tables = HeaderTables(file: input.file)
            tables.programHeaders += Array(repeating: Self.nullSegment, count: count - tables.programHeaders.count)
            var log: [String] = []
            let encoded = try input.encodeHeaderCounts(tables, log: &log)
            #expect(encoded.header.programHeaderCount == UInt16(min(count, 0xffff)), "\(count)")
            #expect(encoded.sectionHeaders[0].info == (count >= 0xffff ? UInt32(count) : 0), "\(count)")
        }
        let input = try Self.input(Self.helloNoSections, EditRequest())
        var tables = HeaderTables(file: input.file)
        tables.programHeaders += Array(repeating: Self.nullSegment, count: 0xffff - tables.programHeaders.count)
        var log: [String] = []
        do {
            _ = try input.encodeHeaderCounts(tables, log: &log)
            Issue.record("0xffff program headers without section headers were accepted")
        } catch let error as EditError {
            guard case .refused(let refusal) = error else { throw error }
            #expect(refusal.kind == .noRoomForProgramHeaders, "\(refusal)")
        }
    }

    /// The reader takes e_phnum PN_XNUM's count from section 0's sh_info (synthetic file:
    /// hello with its program header count moved there).
    @Test func readerResolvesPNXNUM() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.hello)))
        let file = try ELFFile(source: MemoryByteSource(bytes))
        let count = file.programHeaders.count
        let section0 = Int(file.header.sectionHeaderOffset)
        bytes[0x38] = 0xff; bytes[0x39] = 0xff  // e_phnum = PN_XNUM
        bytes[section0 + 0x2c] = UInt8(count)  // sh_info of section 0
        let extended = try ELFFile(source: MemoryByteSource(bytes))
        #expect(extended.programHeaders == file.programHeaders)
    }
}
