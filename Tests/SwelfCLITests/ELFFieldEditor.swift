import Foundation

/// Sets named fields of an ELF file's bytes: the crafted-input generator for the hostile
/// fixtures and the structure-aware mutator.
///
/// It parses the pristine file on its own (class, byte order, tables found through the
/// headers and PT_DYNAMIC), independently of ELFKit, and knows where every field it can
/// set lives, so a mutation hits exactly the field it names.
struct ELFFieldEditor {
    var bytes: [UInt8]
    let is64: Bool
    let littleEndian: Bool

    /// One settable field: where it is and how wide.
    struct Field: CustomStringConvertible {
        let name: String
        let offset: Int
        let width: Int
        var description: String { name }
    }

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        is64 = bytes.count > 4 && bytes[4] == 2
        littleEndian = bytes.count > 5 && bytes[5] != 2
    }

    init(subject path: String) throws {
        self.init(Array(try Data(contentsOf: Repo.testBinaries.appendingPathComponent(path))))
    }

    var word: Int { is64 ? 8 : 4 }

    // MARK: Raw access

    func get(_ offset: Int, _ width: Int) -> UInt64 {
        guard offset >= 0, width <= bytes.count, offset <= bytes.count - width else { return 0 }
        var value: UInt64 = 0
        for index in 0 ..< width {
            let byte = UInt64(bytes[offset + (littleEndian ? width - 1 - index : index)])
            value = value << 8 | byte
        }
        return value
    }

    /// Writes the low `width` bytes of `value` (a value too wide for the field is truncated:
    /// for a 32-bit field 2⁶³ becomes 0, which is a boundary value too).
    mutating func put(_ offset: Int, _ width: Int, _ value: UInt64) {
        for index in 0 ..< width {
            let shift = UInt64(8 * (littleEndian ? index : width - 1 - index))
            bytes[offset + index] = UInt8(truncatingIfNeeded: value >> shift)
        }
    }

    func get(_ field: Field) -> UInt64 { get(field.offset, field.width) }
    mutating func set(_ field: Field, _ value: UInt64) { put(field.offset, field.width, value) }

    // MARK: File header

    var headerFields: [Field] {
        let names = ["e_phoff", "e_shoff", "e_phnum", "e_shnum", "e_shstrndx"]
        let offsets = is64 ? [0x20, 0x28, 0x38, 0x3c, 0x3e] : [0x1c, 0x20, 0x2c, 0x30, 0x32]
        let widths = is64 ? [8, 8, 2, 2, 2] : [4, 4, 2, 2, 2]
        return (0 ..< names.count).map { Field(name: names[$0], offset: offsets[$0], width: widths[$0]) }
    }

    func header(_ name: String) -> Field { headerFields.first { $0.name == name }! }

    // MARK: Program headers

    var programHeaderOffsets: [Int] {
        let offset = Int(get(header("e_phoff")))
        let count = Int(get(header("e_phnum")))
        let size = is64 ? 56 : 32
        guard count > 0, offset > 0, offset + count * size <= bytes.count else { return [] }
        return (0 ..< count).map { offset + $0 * size }
    }

    func programHeaderField(_ base: Int, _ name: String) -> Field {
        let layout: [String: (Int, Int)] = is64
            ? ["p_type": (0, 4), "p_offset": (8, 8), "p_vaddr": (16, 8), "p_paddr": (24, 8), "p_filesz": (32, 8), "p_memsz": (40, 8), "p_align": (48, 8)]
            : ["p_type": (0, 4), "p_offset": (4, 4), "p_vaddr": (8, 4), "p_paddr": (12, 4), "p_filesz": (16, 4), "p_memsz": (20, 4), "p_align": (28, 4)]
        let (at, width) = layout[name]!
        return Field(name: "\(name)[\((base - Int(get(header("e_phoff")))) / (is64 ? 56 : 32))]", offset: base + at, width: width)
    }

    func segments(type: UInt64) -> [Int] {
        programHeaderOffsets.filter { get($0, 4) == type }
    }

    /// The file offset of a virtual address, through the PT_LOAD segments.
    func fileOffset(ofAddress address: UInt64) -> Int? {
        for base in segments(type: 1) {
            let vaddr = get(programHeaderField(base, "p_vaddr"))
            let filesz = get(programHeaderField(base, "p_filesz"))
            if address >= vaddr && address - vaddr < filesz {
                return Int(get(programHeaderField(base, "p_offset")) + (address - vaddr))
            }
        }
        return nil
    }

    // MARK: Dynamic entries

    /// File offsets of the dynamic entries up to and including DT_NULL.
    var dynamicEntryOffsets: [Int] {
        guard let dynamic = segments(type: 2).first else { return [] }
        let start = Int(get(programHeaderField(dynamic, "p_offset")))
        let size = Int(get(programHeaderField(dynamic, "p_filesz")))
        var result: [Int] = []
        var position = start
        while position + 2 * word <= min(start + size, bytes.count) {
            result.append(position)
            if get(position, word) == 0 { break }
            position += 2 * word
        }
        return result
    }

    func dynamicTagField(_ entry: Int) -> Field {
        Field(name: "d_tag[\(hexString(get(entry, word)))]", offset: entry, width: word)
    }

    func dynamicValueField(_ entry: Int) -> Field {
        Field(name: "d_val[\(hexString(get(entry, word)))]", offset: entry + word, width: word)
    }

    func dynamicEntry(tag: UInt64) -> Int? {
        dynamicEntryOffsets.first { get($0, word) == tag }
    }

    func dynamicValue(tag: UInt64) -> UInt64? {
        dynamicEntry(tag: tag).map { get($0 + word, word) }
    }

    /// Sets the value of the first entry with `tag`; false when there is none.
    @discardableResult
    mutating func setDynamic(tag: UInt64, _ value: UInt64) -> Bool {
        guard let entry = dynamicEntry(tag: tag) else { return false }
        put(entry + word, word, value)
        return true
    }

    // MARK: Section headers

    var sectionHeaderOffsets: [Int] {
        let offset = Int(clamping: get(header("e_shoff")))
        let count = Int(get(header("e_shnum")))
        let size = is64 ? 64 : 40
        guard count > 0, offset > 0, offset <= bytes.count, count * size <= bytes.count - offset else { return [] }
        return (0 ..< count).map { offset + $0 * size }
    }

    func sectionHeaderField(_ base: Int, _ name: String) -> Field {
        let layout: [String: (Int, Int)] = is64
            ? ["sh_type": (4, 4), "sh_offset": (24, 8), "sh_size": (32, 8), "sh_link": (40, 4), "sh_info": (44, 4), "sh_entsize": (56, 8)]
            : ["sh_type": (4, 4), "sh_offset": (16, 4), "sh_size": (20, 4), "sh_link": (24, 4), "sh_info": (28, 4), "sh_entsize": (36, 4)]
        let (at, width) = layout[name]!
        return Field(name: "\(name)[\((base - Int(get(header("e_shoff")))) / (is64 ? 64 : 40))]", offset: base + at, width: width)
    }

    // MARK: Version needs and hash tables

    /// vn_cnt, vn_aux and vn_next of every Elf_Verneed.
    var versionNeedFields: [Field] {
        guard let address = dynamicValue(tag: 0x6fff_fffe), var entry = fileOffset(ofAddress: address) else { return [] }
        var fields: [Field] = []
        for index in 0 ..< Int(dynamicValue(tag: 0x6fff_ffff) ?? 0) where entry + 16 <= bytes.count {
            fields += [Field(name: "vn_cnt[\(index)]", offset: entry + 2, width: 2),
                       Field(name: "vn_aux[\(index)]", offset: entry + 8, width: 4),
                       Field(name: "vn_next[\(index)]", offset: entry + 12, width: 4)]
            let next = Int(get(entry + 12, 4))
            if next == 0 { break }
            entry += next
        }
        return fields
    }

    /// nbucket and nchain of `.hash`; nbuckets, symoffset and bloom size of `.gnu.hash`.
    var hashCountFields: [Field] {
        var fields: [Field] = []
        if let address = dynamicValue(tag: 4), let at = fileOffset(ofAddress: address) {
            let wide = is64 && get(0x12, 2) == 22  // s390x: 8-byte .hash entries
            let width = wide ? 8 : 4
            fields += [Field(name: "hash.nbucket", offset: at, width: width), Field(name: "hash.nchain", offset: at + width, width: width)]
        }
        if let address = dynamicValue(tag: 0x6fff_fef5), let at = fileOffset(ofAddress: address) {
            fields += [Field(name: "gnu_hash.nbuckets", offset: at, width: 4), Field(name: "gnu_hash.symoffset", offset: at + 4, width: 4),
                       Field(name: "gnu_hash.bloom_size", offset: at + 8, width: 4)]
        }
        return fields
    }

    /// Zeroes every `.gnu.hash` bucket: the table then hashes nothing.
    mutating func emptyGNUHashBuckets() {
        guard let address = dynamicValue(tag: 0x6fff_fef5), let at = fileOffset(ofAddress: address) else { return }
        let buckets = Int(get(at, 4))
        let bloom = Int(get(at + 8, 4))
        let start = at + 16 + bloom * word
        for index in 0 ..< buckets { put(start + 4 * index, 4, 0) }
    }

    /// Every field the mutator sets, for this file.
    var mutableFields: [Field] {
        var fields = headerFields
        for base in programHeaderOffsets {
            fields += ["p_offset", "p_vaddr", "p_filesz", "p_memsz", "p_align"].map { programHeaderField(base, $0) }
        }
        for entry in dynamicEntryOffsets {
            fields += [dynamicTagField(entry), dynamicValueField(entry)]
        }
        for base in sectionHeaderOffsets {
            fields += ["sh_offset", "sh_size", "sh_entsize", "sh_link", "sh_info"].map { sectionHeaderField(base, $0) }
        }
        return fields + versionNeedFields + hashCountFields
    }

    /// The boundary values for a field: 0, 1, size−1, size, 2³¹, 2³², 2⁶³, 2⁶⁴−1 and their
    /// neighbours, and the neighbours of the current value.
    func boundaryValues(for field: Field) -> [UInt64] {
        let current = get(field)
        let size = UInt64(bytes.count)
        var values: [UInt64] = [0, 1, size &- 1, size, size &+ 1, 1 << 31, (1 << 31) - 1, 1 << 32, (1 << 32) - 1,
                                1 << 63, (1 << 63) - 1, UInt64.max, UInt64.max - 1, current &+ 1, current &- 1]
        if field.width < 8 {
            let mask = field.width == 2 ? UInt64(0xffff) : UInt64(0xffff_ffff)
            values = values.map { $0 & mask } + [mask, mask - 1]
        }
        var seen: Set<UInt64> = [current]
        return values.filter { seen.insert($0).inserted }
    }
}

func hexString<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16) }
