import ELFKitCore
import Testing

/// `ByteText` carries any bytes in a String and gives them back exactly.
@Suite struct ByteTextTests {
    @Test func roundTripsEveryByteString() {
        var generator = SplitMix64(seed: 8)
        var cases: [[UInt8]] = [
            [], Array("libc.so.6".utf8), Array("caf\u{e9} \u{20ac}".utf8), [0x2f, 0xe9], [0xff, 0xfe, 0x80],
            [0xef, 0x9e, 0x80], [0xef, 0x9f, 0xbf],   // the UTF-8 of U+F780 and U+F7FF, the escape range itself
            [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82],   // surrogate, overlong, > U+10FFFF, cut short
        ]
        for _ in 0 ..< 5000 {
            let count = Int(generator.next() % 12)
            cases.append((0 ..< count).map { _ in
                // Mostly high bytes and pieces of the escape range's encoding.
                let pick = generator.next() % 4
                return pick == 0 ? UInt8(truncatingIfNeeded: generator.next() % 0x80) : pick == 1 ? [0xef, 0x9e, 0x9f][Int(generator.next() % 3)]
                                                                                             : UInt8(truncatingIfNeeded: 0x80 | generator.next())
            })
        }
        for bytes in cases {
            let text = ByteText.string(bytes)
            #expect(ByteText.bytes(text) == bytes, "\(bytes)")
            #expect(BytePath(text).bytes == bytes)
            if let valid = String(validating: bytes, as: UTF8.self), !valid.unicodeScalars.contains(where: { (0xF780 ... 0xF7FF).contains($0.value) }) {
                #expect(text == valid, "valid UTF-8 must stay as it is")
            } else {
                #expect(ByteText.hasEscapes(text))
            }
        }
    }
}
