/// One entry of the dynamic section (`Elf32_Dyn`/`Elf64_Dyn`): a tag and its value,
/// widened to 64 bits.
public struct DynamicEntry: Hashable, Sendable {
    /// What the entry says (`d_tag`): DT_NEEDED, DT_RUNPATH, ...
    public var tag: DynamicTag
    /// The entry's value (`d_un`), read according to ``tag``: a virtual address
    /// (DT_STRTAB), a size in bytes (DT_STRSZ), a count, flag bits, or an offset into the
    /// dynamic string table (DT_NEEDED, see ``DynamicTag/isStringOffset``).
    public var value: UInt64

    /// An entry with this tag and value.
    /// - Parameters:
    ///   - tag: the entry's `d_tag`.
    ///   - value: the entry's `d_val` or `d_ptr`; an Elf32 file's must fit in 32 bits when written.
    public init(tag: DynamicTag, value: UInt64) {
        self.tag = tag
        self.value = value
    }

    package static func decode(_ decoder: inout ByteDecoder) throws(ELFError) -> DynamicEntry {
        DynamicEntry(tag: DynamicTag(rawValue: try decoder.readWord()), value: try decoder.readWord())
    }

    package func encode(into encoder: inout ByteEncoder) throws(ELFError) {
        try encoder.writeWord(tag.rawValue, "d_tag")
        try encoder.writeWord(value, "d_val of \(tag)")
    }
}
