import ELFKitCore

/// The bytes after the ELF image (docs/overlay-design.md §12): what the headers do not
/// describe, `[imageEnd, file size)`. Programs that carry their payload there (bun ≤ 1.3.11,
/// Nuitka onefile, deno's trailer, libsui ≤ 0.12, AppImage, self-extractors) find it from
/// the end of the file, from absolute offsets, or at the image end they compute; a growing
/// edit keeps it the file's tail and, for deno's trailer, adjusts the stored offsets.
package struct Overlay: Sendable {
    /// The formats swelf recognises from a few bytes (§12.5), in the order it tries them.
    package enum Format: Sendable, Equatable {
        /// A UPX-packed program: the stub is not the program, and `upx -d` needs the file
        /// as UPX wrote it. Every edit is refused.
        case upx
        /// bun `--compile` ≤ 1.3.11: `"\n---- Bun! ----\n"` and a u64 at the end.
        case bunOld
        /// deno compile's `d3n0l4nd` trailer of `size` (24 or 40) bytes holding big-endian
        /// absolute file positions.
        case denoTrailer(size: Int)
        /// libsui ≤ 0.12 (deno): u32 0x501e, then a hash and a length, at the end.
        case libsui
        /// Nuitka onefile: the last 8 bytes give the payload's size; it starts with `KA`.
        case nuitka
        /// AppImage type 2: `AI\x02` at offset 8; the runtime computes the image end.
        case appImage
        /// Bytes of no known format.
        case unknown

        /// The format's name as messages print it.
        package var name: String {
            switch self {
            case .upx: return "UPX-packed program"
            case .bunOld: return "bun --compile (trailer at the end of the file)"
            case .denoTrailer(let size): return "deno compile (\(size)-byte d3n0l4nd trailer with absolute offsets)"
            case .libsui: return "deno/libsui (trailer at the end of the file)"
            case .nuitka: return "Nuitka onefile (payload size at the end of the file)"
            case .appImage: return "AppImage type 2"
            case .unknown: return "unknown format"
            }
        }

        /// Readers that find their payload from the end of the file: they break when new
        /// content follows it (`--overlay keep-offset`).
        package var readsFromEnd: Bool {
            switch self {
            case .bunOld, .libsui, .nuitka, .denoTrailer: return true
            default: return false
            }
        }
    }

    /// The image end E: where the overlay starts.
    package let start: UInt64
    /// The overlay's length L (the file ends at `start + length`).
    package let length: UInt64
    /// What the overlay was recognised as.
    package let format: Format

    /// The first file offset past every byte the headers describe (§12.1): the ELF header,
    /// the program header table and every segment's file bytes, every section with file
    /// bytes, the section header table. Every sum is checked: a header that points past
    /// 2^64 is a format error naming its offset, never a trap.
    /// - Parameter file: The file as read.
    /// - Returns: E, which may exceed the file's size when a header points past its end.
    /// - Throws: `ELFError.overflow` when an extent does not fit 64 bits.
    package static func imageEnd(of file: ELFFile) throws(ELFError) -> UInt64 {
        let format = file.format
        var end = UInt64(file.header.headerSize)
        if !file.programHeaders.isEmpty {
            let size = try Checked.multiply(UInt64(file.programHeaders.count), format.programHeaderSize, "program header table size")
            end = max(end, try Checked.add(file.header.programHeaderOffset, size, "program header table end", at: file.header.programHeaderOffset))
        }
        let phoff = file.header.programHeaderOffset
        for (index, segment) in file.programHeaders.enumerated() where segment.fileSize > 0 {
            end = max(end, try Checked.add(segment.offset, segment.fileSize, "segment end",
                                           at: phoff &+ UInt64(index) &* format.programHeaderSize))  // only names the place
        }
        let shoff = file.header.sectionHeaderOffset
        for (index, section) in file.sectionHeaders.enumerated() where index > 0 && section.hasFileData && section.size > 0 {
            end = max(end, try Checked.add(section.offset, section.size, "section end",
                                           at: shoff &+ UInt64(index) &* format.sectionHeaderSize))  // only names the place
        }
        if shoff != 0 && !file.sectionHeaders.isEmpty {
            let size = try Checked.multiply(UInt64(file.sectionHeaders.count), format.sectionHeaderSize, "section header table size")
            end = max(end, try Checked.add(shoff, size, "section header table end", at: shoff))
        }
        return end
    }

    /// The overlay of `file`, nil when the image ends the file or the bytes after it are
    /// zeros only (padding an earlier edit left after a shortened section header table:
    /// no program finds a payload in zeros, and the edit then places as before).
    /// - Parameter file: The file as read.
    /// - Throws: `ELFError` when the file cannot be read.
    package init?(file: ELFFile) throws(ELFError) {
        let size = file.source.size
        // A header whose extent passes 2^64 claims more than any file holds: nothing lies
        // after such an image, and the edit goes on (or fails) as it would without overlays.
        guard let end = try? Self.imageEnd(of: file), end < size else { return nil }
        let length = size - end
        let probe = try file.source.bytes(at: end, count: min(length, 4096), "overlay")
        if length <= 4096 && probe.allSatisfy({ $0 == 0 }) { return nil }
        start = end
        self.length = length
        format = try Self.recognise(file, start: end)
    }

    /// UPX in any file, overlay or not (§12.5 item 1): `UPX!` within 1 KiB after the
    /// program header table, or in the last 64 bytes.
    package static func isUPX(_ file: ELFFile) throws(ELFError) -> Bool {
        let size = file.source.size
        let magic = Array("UPX!".utf8)
        let phEnd = min(size, file.header.programHeaderOffset.addingReportingOverflow(
            UInt64(file.programHeaders.count) &* file.format.programHeaderSize).partialValue)  // clamped to the file below
        let head = try file.source.bytes(at: min(phEnd, size), count: min(1024, size - min(phEnd, size)), "after the program headers")
        let tail = try file.source.bytes(at: size - min(64, size), count: min(64, size), "end of the file")
        return contains(head, magic) || contains(tail, magic)
    }

    private static func contains(_ bytes: [UInt8], _ magic: [UInt8]) -> Bool {
        guard bytes.count >= magic.count else { return false }
        // Compared in place: a slice copied into an Array per position was one allocation
        // per byte of the kilobyte, on every edit (about 4% of autopatch's CPU time).
        // The first byte is tested alone before the slice is compared: a slice comparison at
        // every position was 22,000 instructions per kilobyte, on every edit.
        guard let first = magic.first else { return true }
        return (0 ... bytes.count - magic.count).contains {
            bytes[$0] == first && bytes[$0 ..< $0 + magic.count].elementsEqual(magic)
        }
    }

    /// §12.5, tail checks on the last 48 bytes, then the header's AppImage magic.
    private static func recognise(_ file: ELFFile, start: UInt64) throws(ELFError) -> Format {
        if try isUPX(file) { return .upx }
        let size = file.source.size
        let length = size - start
        let count = min(length, 48)
        let tail = try file.source.bytes(at: size - count, count: count, "overlay trailer")
        func at(_ back: Int, _ n: Int) -> [UInt8]? { back <= tail.count ? Array(tail[tail.count - back ..< tail.count - back + n]) : nil }
        func le64(_ bytes: [UInt8]) -> UInt64 { bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        if at(24, 16) == Array("\n---- Bun! ----\n".utf8) { return .bunOld }
        if at(24, 8) == Array("d3n0l4nd".utf8) { return .denoTrailer(size: 24) }
        if at(40, 8) == Array("d3n0l4nd".utf8) { return .denoTrailer(size: 40) }
        if at(16, 4) == [0x1e, 0x50, 0, 0] || at(8, 4) == [0x1e, 0x50, 0, 0] { return .libsui }
        if let last = at(8, 8) {
            let n = le64(last)
            if n <= length - 8, n >= 3 {
                let header = try file.source.bytes(at: size - 8 - n, count: 3, "Nuitka payload header")
                if header[0] == 0x4b, header[1] == 0x41, header[2] == 0x58 || header[2] == 0x59 { return .nuitka }
            }
        }
        let ident = try file.source.bytes(at: 8, count: 3, "e_ident padding")
        if ident == [0x41, 0x49, 0x02] { return .appImage }
        return .unknown
    }

    /// The changes the overlay needs when it moves from `start` to `newStart`: deno's
    /// trailer positions, each `+ (newStart - start)`, as patches at output offsets.
    /// - Throws: `EditError.refused(.overlay)` when a position lies outside the overlay
    ///   (it then points into the image, which swelf may have rewritten).
    package func patches(movingTo newStart: UInt64, in file: ELFFile) throws -> [RewritePlan.Patch] {
        guard case .denoTrailer(let size) = format, newStart != start else { return [] }
        let trailerOffset = start + length - UInt64(size)
        let trailer = try file.source.bytes(at: trailerOffset, count: UInt64(size), "deno trailer")
        var words: [UInt8] = []
        for word in stride(from: 8, to: size, by: 8) {
            let old = trailer[word ..< word + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard old >= start, old - start < length else {
                throw EditError.refused(EditRefusal(.overlay,
                    "\(format.name): position 0x\(hex(old)) is outside the bytes after the ELF image [0x\(hex(start)), 0x\(hex(start + length))); refusing to move them",
                    offset: trailerOffset + UInt64(word)))
            }
            let new = old - start + newStart  // < newStart + length, the new file's size
            words += (0 ..< 8).map { UInt8(truncatingIfNeeded: new >> (56 - 8 * UInt64($0))) }
        }
        return [RewritePlan.Patch(offset: newStart + length - UInt64(size) + 8, bytes: words)]
    }
}

/// The first `size` bytes of another source: the image without its overlay, which the
/// planner edits as if it were the whole file.
package final class PrefixByteSource: ByteSource {
    let base: any ByteSource
    /// The prefix's length.
    package let size: UInt64

    /// The first `size` bytes of `base` (`size` at most `base.size`).
    package init(_ base: any ByteSource, size: UInt64) {
        self.base = base
        self.size = min(size, base.size)
    }

    /// Reads from `base`, refusing anything past the prefix.
    package func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(ELFError) {
        guard Checked.fits(start: offset, length: UInt64(buffer.count), within: size) else {
            throw ELFError(.truncated, "read past the end of the ELF image", offset: offset)
        }
        try base.read(at: offset, into: buffer)
    }
}
