import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

@Suite struct CheckedArithmeticTests {
    @Test func addDetectsOverflow() throws {
        #expect(try Checked.add(1, 2, "x") == 3)
        #expect(try Checked.add(UInt64.max - 1, 1, "x") == .max)
        let error = #expect(throws: ELFError.self) { try Checked.add(UInt64.max, 1, "sum", at: 0x40) }
        #expect(error?.kind == .overflow)
        #expect(error?.offset == 0x40)
        #expect(error?.message.contains("sum") == true)
    }

    @Test func multiplyDetectsOverflow() throws {
        #expect(try Checked.multiply(0xffff, 56, "x") == 0xffff * 56)
        #expect(try Checked.multiply(0, .max, "x") == 0)
        #expect(throws: ELFError.self) { try Checked.multiply(1 << 32, 1 << 32, "x") }
        #expect(throws: ELFError.self) { try Checked.multiply(UInt64.max, 2, "x") }
    }

    @Test func intConversion() throws {
        #expect(try Checked.int(UInt64(Int.max), "x") == Int.max)
        let error = #expect(throws: ELFError.self) { try Checked.int(UInt64(Int.max) + 1, "count") }
        #expect(error?.value == UInt64(Int.max) + 1)
    }

    @Test func fitsCannotOverflow() {
        #expect(Checked.fits(start: 0, length: 10, within: 10))
        #expect(Checked.fits(start: 10, length: 0, within: 10))
        #expect(!Checked.fits(start: 11, length: 0, within: 10))
        #expect(!Checked.fits(start: 5, length: 6, within: 10))
        #expect(!Checked.fits(start: 1, length: .max, within: 10))
        #expect(!Checked.fits(start: .max, length: .max, within: .max - 1))
        #expect(Checked.fits(start: .max, length: 0, within: .max))
    }

    @Test func alignUp() throws {
        #expect(try Checked.alignUp(0, to: 0x1000, "x") == 0)
        #expect(try Checked.alignUp(1, to: 0x1000, "x") == 0x1000)
        #expect(try Checked.alignUp(0x1000, to: 0x1000, "x") == 0x1000)
        #expect(try Checked.alignUp(7, to: 0, "x") == 7)
        #expect(try Checked.alignUp(7, to: 1, "x") == 7)
        #expect(throws: ELFError.self) { try Checked.alignUp(.max, to: 16, "x") }
    }
}
