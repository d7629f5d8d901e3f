/// Decodes fixed-size ELF records from bytes already read and bounds-checked.
///
/// `get…(at:)` reads at an absolute position; `read…()` reads at the cursor and
/// advances it. Both check the remaining length, so even a record shorter than its
/// declared layout gives an error rather than a trap.
package struct ByteDecoder {
    package let bytes: [UInt8]
    package let format: ELFFormat
    /// File offset of `bytes[0]`, for error messages.
    package let baseOffset: UInt64
    package var position: Int = 0

    package init(_ bytes: [UInt8], format: ELFFormat, baseOffset: UInt64) {
        self.bytes = bytes
        self.format = format
        self.baseOffset = baseOffset
    }

    // Specialised here for the four widths, and the specialisations exported: the other
    // modules' table readers call it with concrete types, but a generic function of another
    // module runs unspecialised, each shift and or through the integer protocols' witness
    // tables (a twentieth of a one-file edit's instructions, from the verifier's hash-table
    // reads). @inlinable did not get it specialised across the modules.
    @_specialize(exported: true, where T == UInt8)
    @_specialize(exported: true, where T == UInt16)
    @_specialize(exported: true, where T == UInt32)
    @_specialize(exported: true, where T == UInt64)
    package func getInteger<T: FixedWidthInteger & UnsignedInteger>(at index: Int, as: T.Type = T.self) throws(ELFError) -> T {
        let width = MemoryLayout<T>.size
        guard index >= 0, index <= bytes.count - width else {
            throw ELFError(.truncated, "record too short for a \(width)-byte field",
                           offset: baseOffset &+ UInt64(max(index, 0)))
        }
        // In range (checked above): one unaligned load, then the byte order.
        let raw = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: index, as: T.self) }
        return format.isBigEndian ? T(bigEndian: raw) : T(littleEndian: raw)
    }

    package mutating func readU8() throws(ELFError) -> UInt8 { try advance(getInteger(at: position), by: 1) }
    package mutating func readU16() throws(ELFError) -> UInt16 { try advance(getInteger(at: position), by: 2) }
    package mutating func readU32() throws(ELFError) -> UInt32 { try advance(getInteger(at: position), by: 4) }
    package mutating func readU64() throws(ELFError) -> UInt64 { try advance(getInteger(at: position), by: 8) }

    /// A class-sized field (Elf32_Addr/Off/Word or Elf64_Addr/Off/Xword), widened to 64 bits.
    package mutating func readWord() throws(ELFError) -> UInt64 {
        format.is64 ? try readU64() : UInt64(try readU32())
    }

    private mutating func advance<T>(_ value: T, by width: Int) -> T {
        position += width
        return value
    }
}

/// Encodes ELF records for the writer. Values are kept as 64-bit natives everywhere
/// else; narrowing to a 32-bit field happens here, and a value that does not fit is an
/// error, never a silent truncation.
package struct ByteEncoder {
    package let format: ELFFormat
    package private(set) var bytes: [UInt8] = []

    package init(format: ELFFormat, capacity: Int = 0) {
        self.format = format
        bytes.reserveCapacity(capacity)
    }

    package mutating func write<T: FixedWidthInteger & UnsignedInteger>(_ value: T) {
        // The value's bytes in the file's order, appended at once (a byte at a time was
        // 150 instructions per field on the planner's header tables).
        withUnsafeBytes(of: format.isBigEndian ? value.bigEndian : value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    package mutating func writeU8(_ value: UInt8) { bytes.append(value) }
    package mutating func writeU16(_ value: UInt16) { write(value) }
    package mutating func writeU32(_ value: UInt32) { write(value) }
    package mutating func writeU64(_ value: UInt64) { write(value) }

    /// A class-sized field; in a 32-bit file a value above 0xffffffff is refused.
    package mutating func writeWord(_ value: UInt64, _ what: @autoclosure () -> String) throws(ELFError) {
        if format.is64 {
            write(value)
        } else {
            guard let narrow = UInt32(exactly: value) else {
                throw ELFError(.overflow, "\(what()) does not fit a 32-bit field", value: value)
            }
            write(narrow)
        }
    }

    /// Narrows a 64-bit value into a field that is 32 bits in both classes.
    package mutating func writeU32(checked value: UInt64, _ what: @autoclosure () -> String) throws(ELFError) {
        guard let narrow = UInt32(exactly: value) else {
            throw ELFError(.overflow, "\(what()) does not fit a 32-bit field", value: value)
        }
        write(narrow)
    }

    package mutating func writeU16(checked value: UInt64, _ what: @autoclosure () -> String) throws(ELFError) {
        guard let narrow = UInt16(exactly: value) else {
            throw ELFError(.overflow, "\(what()) does not fit a 16-bit field", value: value)
        }
        write(narrow)
    }

    package mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }
}
