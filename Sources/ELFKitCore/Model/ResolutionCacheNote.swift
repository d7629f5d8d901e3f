/// patchelf's library resolution cache (`--build-resolution-cache`): an allocated note
/// section `.note.nixos.ldcache`, owner "NixOS", type `NT_NIXOS_LD_CACHE`, read by the
/// glibc loader patch in Nixpkgs. Its descriptor is, for each needed library in byte
/// order, `NAME\0ENTRIES\0`, then one more `\0`; ENTRIES are `=DIR/NAME` (a library
/// found at patch time) or `?DIR` (a directory the loader must search itself: empty (a
/// bare `?`, the current directory) or relative, or it holds a `$` token or a
/// `glibc-hwcaps` subdirectory), joined with `:` in run-path order.
///
/// Only the format lives here; the editor and the verifier each resolve on their own.
package enum ResolutionCacheNote {
    package static let sectionName = ".note.nixos.ldcache"
    package static let sectionNameBytes: [UInt8] = Array(sectionName.utf8)
    /// "NixOS" and its NUL (n_namesz 6).
    package static let owner: [UInt8] = Array("NixOS".utf8) + [0]
    package static let type: UInt32 = 0x63a8_6cb6

    /// The whole note: header, owner padded to 4, descriptor padded to 4.
    package static func encode(descriptor: [UInt8], format: ELFFormat) -> [UInt8] {
        var encoder = ByteEncoder(format: format)
        encoder.writeU32(UInt32(owner.count))
        encoder.writeU32(UInt32(truncatingIfNeeded: descriptor.count))
        encoder.writeU32(type)
        var bytes = encoder.bytes + owner
        bytes += [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4)
        bytes += descriptor
        bytes += [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4)
        return bytes
    }

    /// The descriptor from `(name, entries)` pairs, sorted by name bytes.
    package static func descriptor(_ entries: [(name: [UInt8], entries: [UInt8])]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (name, value) in entries.sorted(by: { $0.name.lexicographicallyPrecedes($1.name) }) {
            bytes += name + [0] + value + [0]
        }
        return bytes + [0]
    }

    /// The first section named `.note.nixos.ldcache` (patchelf finds it by name).
    package static func section(in file: ELFFile) -> (index: Int, header: SectionHeader)? {
        file.section(named: sectionName)
    }

    /// The descriptor the section holds, nil when it is not a complete note of the right
    /// owner and type inside the section and the file.
    package static func descriptor(of section: SectionHeader, in file: ELFFile) -> [UInt8]? {
        guard section.type != .nobits, section.size >= 12, section.size <= 1 << 24,
              Checked.fits(start: section.offset, length: section.size, within: file.source.size),
              let bytes = try? file.source.bytes(at: section.offset, count: section.size, sectionName),
              let notes = try? ELFNote.parseAll(bytes, format: file.format, baseOffset: section.offset, alignment: 4),
              let note = notes.first, note.name == "NixOS", note.type == type
        else { return nil }
        return note.descriptor
    }
}
