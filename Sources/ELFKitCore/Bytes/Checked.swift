/// Checked arithmetic for values that come from the file.
///
/// Nothing read from an ELF file is trusted: every sum, product and narrowing goes
/// through these helpers, which turn an overflow into an `ELFError` naming the field
/// instead of a Swift trap.
package enum Checked {
    @inline(__always)
    package static func add(_ a: UInt64, _ b: UInt64, _ what: @autoclosure () -> String,
                    at offset: UInt64? = nil) throws(ELFError) -> UInt64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        if overflow { throw ELFError(.overflow, "\(what()) overflows: 0x\(hex(a)) + 0x\(hex(b))", offset: offset) }
        return sum
    }

    @inline(__always)
    package static func multiply(_ a: UInt64, _ b: UInt64, _ what: @autoclosure () -> String,
                         at offset: UInt64? = nil) throws(ELFError) -> UInt64 {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        if overflow { throw ELFError(.overflow, "\(what()) overflows: 0x\(hex(a)) * 0x\(hex(b))", offset: offset) }
        return product
    }

    /// A file-derived 64-bit value as a native `Int` (for counts and array sizes).
    @inline(__always)
    package static func int(_ value: UInt64, _ what: @autoclosure () -> String,
                    at offset: UInt64? = nil) throws(ELFError) -> Int {
        guard let result = Int(exactly: value) else {
            throw ELFError(.overflow, "\(what()) is too large", offset: offset, value: value)
        }
        return result
    }

    /// A value narrowed into a smaller field of the output (a 16-bit count, a 32-bit
    /// string offset, an ELF32 word): an error naming the field and carrying the value
    /// when it does not fit, never a truncation or a trap.
    @inline(__always)
    package static func narrow<Wide: BinaryInteger, Narrow: FixedWidthInteger>(
        _ value: Wide, to _: Narrow.Type, _ what: @autoclosure () -> String, at offset: UInt64? = nil
    ) throws(ELFError) -> Narrow {
        guard let result = Narrow(exactly: value) else {
            throw ELFError(.overflow, "\(what()) does not fit its \(Narrow.bitWidth)-bit field", offset: offset,
                           value: UInt64(truncatingIfNeeded: value))
        }
        return result
    }

    /// Is `[start, start + length)` inside `[0, limit)`? Checked by subtraction so the
    /// test itself cannot overflow.
    @inline(__always)
    package static func fits(start: UInt64, length: UInt64, within limit: UInt64) -> Bool {
        start <= limit && length <= limit - start
    }

    /// Round `value` up to a multiple of `alignment` (a power of two or zero/one).
    @inline(__always)
    package static func alignUp(_ value: UInt64, to alignment: UInt64, _ what: @autoclosure () -> String) throws(ELFError) -> UInt64 {
        guard alignment > 1 else { return value }
        let rest = value % alignment
        if rest == 0 { return value }
        return try add(value, alignment - rest, what())
    }
}
