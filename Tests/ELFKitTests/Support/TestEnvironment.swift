import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// SplitMix64: a tiny, seeded generator, so every mutated input can be rebuilt from
/// (file, seed, iteration) when a test fails.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// The four record formats.
let allFormats: [ELFFormat] = [
    ELFFormat(is64: false, isBigEndian: false), ELFFormat(is64: false, isBigEndian: true),
    ELFFormat(is64: true, isBigEndian: false), ELFFormat(is64: true, isBigEndian: true),
]

/// A copy of the subject `subject` with `padding` zero bytes that no section or segment
/// refers to (a file whose unchanged bulk is as large as wanted), with `mode`, named
/// `subject` alone in a new directory `swelf-<purpose>-<uuid>` under the temporary
/// directory.
///
/// The zeros go before the section header table (`e_shoff` moved past them), so they are
/// inside the ELF image: appended after it, more than a page of them would be an overlay
/// (data after the image), which an edit moves rather than keeps in place. Needs a 64-bit
/// little-endian subject whose section header table ends the file.
func scratchCopy(of subject: String, padding: Int = 0, mode: mode_t = 0o755, purpose: String) throws -> (directory: URL, path: String) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-\(purpose)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent("subject").path
    var program = try Subject.named(subject).contents()
    if padding > 0 {
        let header = try ELFFile(source: MemoryByteSource(program)).header
        guard header.format.is64, !header.format.isBigEndian,
              let start = Int(exactly: header.sectionHeaderOffset), start > 0,
              start + Int(header.sectionHeaderCount) * Int(header.sectionHeaderEntrySize) == program.count else {
            throw ELFError(.unsupported, "\(subject): padding needs a 64-bit little-endian file whose section header table ends it")
        }
        program.insert(contentsOf: [UInt8](repeating: 0, count: padding), at: start)
        withUnsafeBytes(of: UInt64(start + padding).littleEndian) { program.replaceSubrange(0x28 ..< 0x30, with: $0) }
    }
    try Data(program).write(to: URL(fileURLWithPath: path))
    chmod(path, mode)
    return (directory, path)
}

/// x86_64/hello padded with `padding` zero bytes, mode 0755 (see `scratchCopy`).
func paddedHelloScratchFile(padding: Int, purpose: String) throws -> (directory: URL, path: String) {
    try scratchCopy(of: "x86_64/hello", padding: padding, purpose: purpose)
}
