/// A string table (`.dynstr`, `.shstrtab`): NUL-terminated strings addressed by offset.
package struct StringTable: Sendable {
    package let bytes: [UInt8]
    /// File offset of the table, for error messages.
    package let fileOffset: UInt64

    package init(bytes: [UInt8], fileOffset: UInt64) {
        self.bytes = bytes
        self.fileOffset = fileOffset
    }

    /// The string starting at `offset`. It must start inside the table and be
    /// NUL-terminated inside it.
    package func string(at offset: UInt64) throws(ELFError) -> String {
        guard offset < UInt64(bytes.count) else {
            throw ELFError(.invalid, "string offset 0x\(hex(offset)) is outside the string table of 0x\(hex(bytes.count)) bytes",
                           offset: fileOffset)
        }
        let start = Int(offset)
        guard let end = bytes[start...].firstIndex(of: 0) else {
            throw ELFError(.invalid, "string at table offset 0x\(hex(offset)) is not NUL-terminated",
                           offset: fileOffset &+ offset)  // offset < count, and fileOffset + count fits the file
        }
        return ByteText.string(bytes[start ..< end])
    }

    /// The raw bytes of the string at `offset` (without its NUL), for byte-exact work.
    package func rawString(at offset: UInt64) throws(ELFError) -> ArraySlice<UInt8> {
        guard offset < UInt64(bytes.count), let end = bytes[Int(offset)...].firstIndex(of: 0) else {
            throw ELFError(.invalid, "bad string offset 0x\(hex(offset))", offset: fileOffset)
        }
        return bytes[Int(offset) ..< end]
    }
}
