/// Which compiler's string data a file holds when its strings are packed back to back
/// with no NUL between them, their lengths in the code: Go (the linker packs every string
/// constant) and Rust (rustc merges its `&str` literals the same way). A C string's rules
/// (it ends at its NUL, NULs may pad it) do not hold there: `swelf relocate` rewrites such
/// data per occurrence, to the same length.
///
/// Recognised by what the toolchains leave in every program: Go by its build information
/// (`GoBuildInfo`); Rust by the `rustc version` line rustc has written to `.comment` since
/// about 1.73, or, for older releases (Debian's 1.63 writes none), by the name
/// `RUST_BACKTRACE` in its loaded data, which the standard library's panic handler reads
/// in every program linked with it, stripped or not.
package enum PackedStrings: String, Sendable {
    case go = "Go", rust = "Rust"

    /// The language of `file` whose strings are packed, or nil for C-like data. A
    /// malformed section counts as absent.
    package static func language(of file: ELFFile) -> PackedStrings? {
        if (try? GoBuildInfo.read(from: file)) != nil { return .go }
        if let comment = file.section(named: ".comment")?.header, comment.type != .nobits, comment.size <= 1 << 16,
           let bytes = try? file.source.bytes(at: comment.offset, count: comment.size, ".comment") {
            // Each producer's line starts after a NUL (or at the start).
            var start = 0
            while start < bytes.count {
                let end = bytes[start...].firstIndex(of: 0) ?? bytes.count
                if bytes[start ..< end].starts(with: rustcMarker) { return .rust }
                start = end + 1
            }
        }
        for section in file.sectionHeaders where section.type == .progbits && section.flags.contains(.alloc)
            && !section.flags.contains(.execInstr) && contains(rustStandardLibraryMarker, file.source, section.offset, section.size) {
            return .rust
        }
        return nil
    }

    static let rustcMarker = Array("rustc version ".utf8)
    static let rustStandardLibraryMarker = Array("RUST_BACKTRACE".utf8)

    /// Whether `needle` occurs in `source`'s bytes `[offset, offset + size)`, read a block
    /// at a time (a large program's data is never held whole).
    static func contains(_ needle: [UInt8], _ source: any ByteSource, _ offset: UInt64, _ size: UInt64) -> Bool {
        guard Checked.fits(start: offset, length: size, within: source.size), size >= UInt64(needle.count) else { return false }
        let block: UInt64 = 1 << 20
        let overlap = UInt64(needle.count - 1)
        var position = offset
        let end = offset + size
        while position < end {
            let count = min(block, end - position)
            guard count >= UInt64(needle.count), let bytes = try? source.readBytes(at: position, count: Int(count)) else { return false }
            var index = 0
            while let first = bytes[index...].firstIndex(of: needle[0]), first + needle.count <= bytes.count {
                if bytes[first ..< first + needle.count].elementsEqual(needle) { return true }
                index = first + 1
            }
            guard position + count < end else { break }
            position += count - overlap
        }
        return false
    }
}
