import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

@Suite struct LifetimeTests {
    /// Regression: DynamicSection held its ELFFile, which caches the DynamicSection, so
    /// every file whose dynamic() was called leaked, with all of a MemoryByteSource's
    /// bytes (the 10x mutation run grew past 11 GB).
    @Test func fileIsReleasedOnceDynamicWasRead() throws {
        let elf = SyntheticELF(format: ELFFormat(is64: true, isBigEndian: false))
        weak var weakFile: ELFFile?
        weak var weakSource: MemoryByteSource?
        var dynamic: DynamicSection?
        do {
            let source = MemoryByteSource(elf.bytes)
            let file = try ELFFile(source: source)
            dynamic = try file.dynamic()
            _ = try file.dynamic()?.versionNeeds()
            weakFile = file
            weakSource = source
        }
        #expect(weakFile == nil, "ELFFile leaked")
        // The dynamic section outlives its file and still reads strings and versions.
        #expect(try dynamic?.needed() == elf.needed)
        #expect(try dynamic?.versionNeeds().first?.file == "libc.so.6")
        #expect(weakSource != nil)
        dynamic = nil
        #expect(weakSource == nil, "byte source leaked")
    }
}
