/// One `Elf32_Dyn`/`Elf64_Dyn` entry.
public struct DynamicEntry: Hashable, Sendable {
    public var tag: DynamicTag
    public var value: UInt64

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
