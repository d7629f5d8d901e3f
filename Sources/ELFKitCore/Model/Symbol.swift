/// One `Elf32_Sym`/`Elf64_Sym`, widened to 64-bit fields.
///
/// `package`, not public: the editor, the verifier and the bundler read symbols through
/// it, but no public API hands one out.
package struct ELFSymbol: Hashable, Sendable {
    /// `st_name`: an offset in the symbol table's string table.
    package var nameOffset: UInt32
    /// `st_info`: the binding (high 4 bits) and the type (low 4 bits).
    package var info: UInt8
    /// `st_other`: the visibility (low 2 bits).
    package var other: UInt8
    /// `st_shndx`: the index of the section that defines the symbol, 0 (`SHN_UNDEF`) when
    /// undefined.
    package var sectionIndex: UInt16
    /// `st_value`: usually the symbol's virtual address.
    package var value: UInt64
    /// `st_size`: the size in bytes of the object or function, 0 when unknown.
    package var size: UInt64

    /// The two classes order the fields differently.
    package static func decode(_ decoder: inout ByteDecoder) throws(ELFError) -> ELFSymbol {
        let name = try decoder.readU32()
        if decoder.format.is64 {
            let info = try decoder.readU8()
            let other = try decoder.readU8()
            let section = try decoder.readU16()
            return ELFSymbol(nameOffset: name, info: info, other: other, sectionIndex: section,
                          value: try decoder.readU64(), size: try decoder.readU64())
        }
        let value = UInt64(try decoder.readU32())
        let size = UInt64(try decoder.readU32())
        return ELFSymbol(nameOffset: name, info: try decoder.readU8(), other: try decoder.readU8(),
                      sectionIndex: try decoder.readU16(), value: value, size: size)
    }

    package func encode(into encoder: inout ByteEncoder) throws(ELFError) {
        encoder.writeU32(nameOffset)
        if encoder.format.is64 {
            encoder.writeU8(info)
            encoder.writeU8(other)
            encoder.writeU16(sectionIndex)
            encoder.writeU64(value)
            encoder.writeU64(size)
        } else {
            try encoder.writeWord(value, "st_value")
            try encoder.writeWord(size, "st_size")
            encoder.writeU8(info)
            encoder.writeU8(other)
            encoder.writeU16(sectionIndex)
        }
    }

    /// Is the symbol defined in this object (not SHN_UNDEF)?
    package var isDefined: Bool { sectionIndex != 0 }
}

/// A relocation's `r_info` split into symbol index and type, per class.
package struct RelocationInfo: Sendable {
    package var symbol: UInt64
    package var type: UInt64

    package init(raw: UInt64, format: ELFFormat) {
        if format.is64 {
            symbol = raw >> 32
            type = raw & 0xffff_ffff
        } else {
            symbol = raw >> 8
            type = raw & 0xff
        }
    }

    package func raw(format: ELFFormat) -> UInt64 { format.is64 ? symbol << 32 | type : symbol << 8 | type }
}
