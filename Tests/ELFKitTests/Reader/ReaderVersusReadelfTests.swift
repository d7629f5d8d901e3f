import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// Every TestBinaries file, read through `FileByteSource`, gives the facts binutils
/// `readelf` gives.
@Suite struct ReaderVersusReadelfTests {
    @Test func manifestIsPresent() {
        #expect(Subject.all.count >= 80, "TestBinaries/manifest.tsv missing or short")
    }

    @Test(arguments: Subject.all)
    func matchesReadelf(subject: Subject) throws {
        let facts = try ReadelfFacts(path: subject.url.path)
        let file = try ELFFile(path: subject.url.path)

        #expect(facts.elfClass == (file.format.is64 ? "ELF64" : "ELF32"))
        #expect(facts.data.hasSuffix(file.format.isBigEndian ? "big endian" : "little endian"))
        #expect(ReadelfFacts.machines[facts.machine] == file.header.machine.rawValue, "machine \(facts.machine)")
        #expect(facts.type.hasPrefix(file.header.type == .sharedObject ? "DYN" : file.header.type == .executable ? "EXEC" : "?"))
        #expect(facts.osABI == (file.header.osABI == .systemV ? "UNIX - System V" : "UNIX - GNU"))
        #expect(facts.programHeaderCount == file.programHeaders.count)
        #expect(facts.sectionHeaderCount == file.sectionHeaders.count)
        #expect(facts.segmentTypes.count == file.programHeaders.count)
        for (phdr, flags) in zip(file.programHeaders, facts.segmentFlags) {
            let expected = (phdr.flags.contains(.read) ? "R" : " ") + (phdr.flags.contains(.write) ? "W" : " ")
                + (phdr.flags.contains(.execute) ? "E" : " ")
            #expect(flags == expected, "flags of \(phdr.type)")
        }
        if let index = facts.segmentTypes.firstIndex(of: "GNU_STACK") {
            #expect(file.executableStack == facts.segmentFlags[index].contains("E"))
        } else {
            #expect(file.executableStack == nil)
        }

        #expect(try file.interpreter() == facts.interpreter)
        let dynamic = try file.dynamic()
        #expect((dynamic == nil) == facts.dynamicTags.isEmpty)
        #expect(dynamic?.entries.map(\.tag.rawValue) ?? [] == facts.dynamicTags)
        #expect(try dynamic?.needed() ?? [] == facts.needed)
        #expect(try dynamic?.soname() == facts.soname)
        #expect(try dynamic?.rpath() == facts.rpath)
        #expect(try dynamic?.runpath() == facts.runpath)

        // readelf -V walks sections, so it prints nothing for a file without them.
        let needs = try dynamic?.versionNeeds() ?? []
        let definitions = try dynamic?.versionDefinitions() ?? []
        if subject.hasSectionHeaders {
            #expect(needs.map(\.file) == facts.versionNeedFiles)
            #expect(needs.flatMap { $0.requirements.map(\.name) } == facts.versionNeedNames)
            #expect(definitions.map(\.name) == facts.versionDefinitionNames)
        } else {
            // The same subject with section headers must give the same versions.
            let twin = try ELFFile(path: subject.url.path.replacingOccurrences(of: "-noshdr", with: ""))
            let twinDynamic = try #require(try twin.dynamic())
            #expect(needs == (try twinDynamic.versionNeeds()))
            #expect(definitions == (try twinDynamic.versionDefinitions()))
            #expect(file.sectionNames().isEmpty)
        }
        if facts.versionNeedFiles.contains("libc.so.6") || subject.path.hasSuffix("needver") {
            #expect(!needs.isEmpty)
        }
        if subject.path.hasSuffix("libver.so.1") && !subject.path.contains("old/") {
            #expect(definitions.map(\.name).contains("VER_2"))
        }

        // Notes: readelf lists SHT_NOTE sections (or PT_NOTE without sections); the
        // reader walks PT_NOTE. Compare as multisets of (owner, size).
        let notes = try file.notes()
        let ours = notes.map { "\($0.name)/\($0.descriptor.count)" }.sorted()
        var theirs = facts.notes.map { "\($0.0)/\($0.1)" }.sorted()
        // gold's version note (.note.gnu.gold-version, GNU type 9) is a section outside every
        // PT_NOTE (not allocated): readelf lists it, the reader's walk of PT_NOTE does not.
        if subject.path.hasSuffix("/hello-gold"), let index = theirs.firstIndex(of: "GNU/9") { theirs.remove(at: index) }
        #expect(ours == theirs)

        // Section names resolve for files with a section table.
        if subject.hasSectionHeaders {
            let names = file.sectionNames()
            #expect(names.count == file.sectionHeaders.count)
            #expect(names.dropFirst().allSatisfy { $0 != nil })
            if dynamic != nil { #expect(file.section(named: ".dynamic") != nil) }
        }
    }

    @Test func memorySourceReadsTheSameAsFileSource() throws {
        for subject in Subject.all {
            let fromFile = try ELFFile(path: subject.url.path)
            let fromMemory = try ELFFile(source: MemoryByteSource(subject.contents()))
            #expect(fromFile.header == fromMemory.header)
            #expect(fromFile.programHeaders == fromMemory.programHeaders)
            #expect(fromFile.sectionHeaders == fromMemory.sectionHeaders)
            #expect(try fromFile.dynamic()?.entries == fromMemory.dynamic()?.entries)
        }
    }

    @Test func kindsFromTheManifest() throws {
        for subject in Subject.all {
            let file = try ELFFile(path: subject.url.path)
            switch subject.kind {
            case "static":
                #expect(file.isStatic, "\(subject)")
                #expect(!file.isPIE, "\(subject)")
            case "static-pie":
                #expect(file.isStaticPIE, "\(subject)")
                #expect(file.isPIE, "\(subject)")
            case "program":
                #expect(try file.interpreter() != nil, "\(subject)")
                #expect(file.isPIE == (file.header.type == .sharedObject), "\(subject)")
            case "library":
                #expect(try file.dynamic()?.soname() != nil, "\(subject)")
            default:
                Issue.record("unknown kind \(subject.kind) for \(subject)")
            }
        }
    }
}
