import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// Truncations and byte mutations of every TestBinaries file, parsed in-process through
/// `MemoryByteSource` with every reader API called. Each input must return or throw
/// `ELFError`; a Swift trap kills the test process, which is the failure.
///
/// Every input is rebuilt from (file, iteration): set SWELF_MUTATION_TRACE=1 to print
/// each one to stderr before it is parsed, so the last line before a crash names it,
/// and SWELF_MUTATION_ONLY=path:iteration to run just that input. SWELF_MUTATION_SCALE=N
/// multiplies the number of inputs (for a longer bug hunt).
@Suite struct MutationTests {
    static let baseSeed: UInt64 = 0x5357_454c_465f_4d55  // "SWELF_MU"
    static let iterationsPerFile = 1000
    /// Files larger than this get fewer mutations (their structures are just as small).
    static let largeFile = 500 * 1024
    static let iterationsPerLargeFile = 100

    @Test func thousandsOfMutatedInputs() throws {
        let subjects = Subject.all
        try #require(subjects.count >= 80, "TestBinaries/manifest.tsv missing or short")
        let environment = ProcessInfo.processInfo.environment
        let trace = environment["SWELF_MUTATION_TRACE"] != nil
        let only = environment["SWELF_MUTATION_ONLY"]
        let scale = max(1, Int(environment["SWELF_MUTATION_SCALE"] ?? "") ?? 1)

        /// Totals shared by the worker threads; every access holds `lock`.
        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            var total = 0, parsed = 0, threw = 0
            var problems: [String] = []
        }
        let tally = Tally()
        let start = Date()
        DispatchQueue.concurrentPerform(iterations: subjects.count) { index in
            let subject = subjects[index]
            guard let original = try? subject.contents() else {
                tally.lock.withLock { tally.problems.append("\(subject): cannot read") }
                return
            }
            let clean = exerciseReader(original)
            if !clean.parsed || clean.errors.contains(where: { $0.kind != .missing }) {  // static: no dynamic section
                tally.lock.withLock { tally.problems.append("\(subject): unmutated file gives errors: \(clean.errors)") }
            }
            let regions = Regions(of: original)
            let iterations = scale * (original.count > MutationTests.largeFile
                ? MutationTests.iterationsPerLargeFile : MutationTests.iterationsPerFile)
            var counts = (total: 0, parsed: 0, threw: 0)
            for iteration in 0 ..< iterations {
                if let only, only != "\(subject.path):\(iteration)" { continue }
                if trace { FileHandle.standardError.write(Data("mutation \(subject.path):\(iteration)\n".utf8)) }
                let input = mutate(original, regions: regions, seed: seed(for: subject.path, iteration: iteration))
                let outcome = exerciseReader(input)
                counts.total += 1
                if outcome.parsed { counts.parsed += 1 }
                if !outcome.errors.isEmpty { counts.threw += 1 }
            }
            tally.lock.withLock {
                tally.total += counts.total
                tally.parsed += counts.parsed
                tally.threw += counts.threw
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let (total, parsed, threw, problems) = (tally.total, tally.parsed, tally.threw, tally.problems)
        print("mutation test: \(total) mutated inputs (\(parsed) parsed, \(threw) gave at least one ELFError) "
            + "from \(subjects.count) files in \(String(format: "%.1f", seconds)) s")
        #expect(problems.isEmpty, "\(problems)")
        if only == nil {
            #expect(total >= 20_000)
            // Mutations must reach past the header check often, or they test little.
            #expect(parsed >= total / 4)
            #expect(threw >= total / 20)
        }
    }

    func seed(for path: String, iteration: Int) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for byte in path.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return MutationTests.baseSeed ^ hash ^ (UInt64(iteration) &* 0x9e37_79b9_7f4a_7c15)
    }
}

/// The byte ranges of a file that the reader interprets: mutations aim there.
struct Regions {
    var ranges: [Range<Int>] = []
    /// Offsets where a structure starts or ends: good truncation points.
    var boundaries: [Int] = []
    /// Offsets of class-sized fields (headers, dynamic entries) for whole-field overwrites.
    var wordSize = 8

    init(of bytes: [UInt8]) {
        let size = bytes.count
        func add(_ offset: UInt64, _ length: UInt64) {
            guard offset < UInt64(size) else { return }
            let end = Int(min(UInt64(size), offset + min(length, UInt64(size))))
            let start = Int(offset)
            guard end > start else { return }
            ranges.append(start ..< end)
            boundaries += [start, end, start + 1, end - 1]
        }
        add(0, 64)
        guard let file = try? ELFFile(source: MemoryByteSource(bytes)) else { return }
        let format = file.format
        wordSize = Int(format.wordSize)
        add(file.header.programHeaderOffset, UInt64(file.programHeaders.count) * format.programHeaderSize)
        add(file.header.sectionHeaderOffset, UInt64(file.sectionHeaders.count) * format.sectionHeaderSize)
        for phdr in file.programHeaders where [.dynamic, .interp, .note].contains(phdr.type) {
            add(phdr.offset, min(phdr.fileSize, 4096))
        }
        if let dynamic = try? file.dynamic() {
            if let offset = dynamic.stringTableOffset { add(offset, min(dynamic.stringTableSize, 4096)) }
            for tag in [DynamicTag.verneed, .verdef] {
                if let address = dynamic.first(tag), let offset = try? file.fileOffset(ofAddress: address) {
                    add(offset, 256)
                }
            }
        }
        if let index = file.sectionNameTableIndex {
            add(file.sectionHeaders[index].offset, min(file.sectionHeaders[index].size, 1024))
        }
    }
}

/// One mutated copy of `original`, fully determined by `seed`.
func mutate(_ original: [UInt8], regions: Regions, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    var bytes = original
    func interestingOffset(width: Int = 1) -> Int {
        guard !regions.ranges.isEmpty, Int.random(in: 0 ..< 10, using: &rng) < 9 else {
            return Int.random(in: 0 ... max(0, bytes.count - width), using: &rng)
        }
        let range = regions.ranges.randomElement(using: &rng)!
        var offset = Int.random(in: range, using: &rng)
        offset -= offset % width  // fields are naturally aligned within their structures
        return min(offset, max(0, bytes.count - width))
    }
    func overwrite(width: Int) {
        let offset = interestingOffset(width: width)
        guard offset + width <= bytes.count else { return }
        let size = UInt64(original.count)
        let specials: [UInt64] = [0, 1, 2, 0xff, 0xffff, 0xfffe, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0xffff_fff0,
                                  0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000, .max, .max - 1, size, size - 1, size + 1,
                                  size / 2, 0x1000, 0x10000, rng.next()]
        let value = specials.randomElement(using: &rng)!
        let bigEndian = bytes.count > 5 && bytes[5] == 2
        for i in 0 ..< width {
            let shift = bigEndian ? (width - 1 - i) * 8 : i * 8
            bytes[offset + i] = UInt8(truncatingIfNeeded: value >> UInt64(shift))
        }
    }
    let operations = Int.random(in: 1 ... 3, using: &rng)
    for _ in 0 ..< operations {
        switch Int.random(in: 0 ..< 100, using: &rng) {
        case 0 ..< 15:  // truncation, mostly at a structure boundary
            let boundaries = regions.boundaries.filter { $0 < bytes.count }
            if !boundaries.isEmpty, Bool.random(using: &rng) {
                bytes.removeSubrange(max(0, boundaries.randomElement(using: &rng)!) ..< bytes.count)
            } else {
                bytes.removeSubrange(Int.random(in: 0 ... bytes.count, using: &rng) ..< bytes.count)
            }
        case 15 ..< 45:  // flip a few bits
            guard !bytes.isEmpty else { break }
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &rng) {
                bytes[interestingOffset()] ^= UInt8(1) << UInt8.random(in: 0 ..< 8, using: &rng)
            }
        case 45 ..< 60:  // random bytes
            guard !bytes.isEmpty else { break }
            for _ in 0 ..< Int.random(in: 1 ... 8, using: &rng) {
                bytes[interestingOffset()] = UInt8.random(in: 0 ... 255, using: &rng)
            }
        default:  // overwrite a whole field with a value that breaks arithmetic
            overwrite(width: [2, 4, regions.wordSize].randomElement(using: &rng)!)
        }
    }
    return bytes
}
