import ELFKitCore

/// The parsing steps of `LoaderCache.init(source:)`, over the whole file held in
/// memory: the old format (libc5's, possibly followed by a new cache), the new format,
/// its extension directory, and the strings entries point at.
struct LoaderCacheParser {
    let bytes: [UInt8]
    var size: UInt64 { UInt64(bytes.count) }
    /// Strings already decoded, by file offset: ldconfig shares suffixes, so many
    /// entries point at the same bytes.
    var strings: [UInt64: String] = [:]
    /// Bytes scanned while looking for string terminators. Bounded so that a hostile
    /// file of many entries pointing into one long unterminated run costs linear time.
    var scanBudget: UInt64

    init(bytes: [UInt8]) {
        self.bytes = bytes
        scanBudget = UInt64(bytes.count) * 16 + (1 << 20)
    }

    mutating func parse() throws(ELFError) -> LoaderCache {
        if hasMagic(LoaderCache.oldMagic, at: 0) {
            return try parseOld()
        }
        guard hasMagic(LoaderCache.newMagic, at: 0) else {
            throw ELFError(size < UInt64(LoaderCache.newMagic.count) ? .truncated : .invalid,
                           "not an ld.so.cache: no \"ld.so-1.7.0\" or \"glibc-ld.so.cache1.1\" magic", offset: 0)
        }
        return try parseNew(at: 0, format: .new)
    }

    func hasMagic(_ magic: [UInt8], at offset: UInt64) -> Bool {
        guard Checked.fits(start: offset, length: UInt64(magic.count), within: size) else { return false }
        let start = Int(offset)  // fits within bytes.count, so within Int
        return bytes[start ..< start + magic.count].elementsEqual(magic)
    }

    // MARK: Old format, possibly with a new cache after it

    mutating func parseOld() throws(ELFError) -> LoaderCache {
        // The old part has no byte-order mark. Try host (little-endian) order first,
        // then big-endian, and keep the one that leads to a new-format header.
        var firstError: ELFError?
        for bigEndian in [false, true] {
            let decoder = ByteDecoder(bytes, format: ELFFormat(is64: true, isBigEndian: bigEndian), baseOffset: 0)
            let count = UInt64(try decoder.getInteger(at: 12, as: UInt32.self))
            let entriesEnd: UInt64
            do throws(ELFError) {
                let length = try Checked.multiply(count, LoaderCache.oldEntrySize, "old-format entry table size", at: 12)
                entriesEnd = try Checked.add(LoaderCache.oldHeaderSize, length, "old-format entry table end", at: 12)
                guard entriesEnd <= size else {
                    throw ELFError(.truncated,
                                   "old-format table of \(count) entries ends at 0x\(hex(entriesEnd)), past the end of the file (size 0x\(hex(size)))",
                                   offset: 12, value: count)
                }
            } catch {
                if firstError == nil { firstError = error }
                continue
            }
            // ALIGN_CACHE: the new header sits at the next multiple of its alignment.
            for alignment: UInt64 in [8, 4] {
                let newOffset = try Checked.alignUp(entriesEnd, to: alignment, "new-format header offset")
                if hasMagic(LoaderCache.newMagic, at: newOffset) {
                    return try parseNew(at: newOffset, format: .compatible)
                }
            }
            if !bigEndian {
                return try parseOldEntries(count: count, stringBase: entriesEnd, decoder: decoder)
            }
        }
        throw firstError ?? ELFError(.invalid, "old-format cache with no readable entry table", offset: 12)
    }

    mutating func parseOldEntries(count: UInt64, stringBase: UInt64, decoder: ByteDecoder) throws(ELFError) -> LoaderCache {
        var entries: [Entry] = []
        entries.reserveCapacity(Int(count))  // count * 12 fits in the file, so in Int
        for index in 0 ..< count {
            let offset = LoaderCache.oldHeaderSize + index * LoaderCache.oldEntrySize  // < entriesEnd, checked
            let at = Int(offset)
            let flags: UInt32 = try decoder.getInteger(at: at)
            let key: UInt32 = try decoder.getInteger(at: at + 4)
            let value: UInt32 = try decoder.getInteger(at: at + 8)
            entries.append(Entry(
                flags: flags,
                name: try string(base: stringBase, relative: key, "name of old-format entry \(index)", entryOffset: offset + 4),
                path: try string(base: stringBase, relative: value, "path of old-format entry \(index)", entryOffset: offset + 8),
                offset: offset))
        }
        return LoaderCache(entries: entries, format: .old, isBigEndian: false, generator: nil, hwcapsSubdirectories: [])
    }

    // MARK: New format

    mutating func parseNew(at header: UInt64, format: LoaderCache.Format) throws(ELFError) -> LoaderCache {
        guard Checked.fits(start: header, length: LoaderCache.newHeaderSize, within: size) else {
            throw ELFError(.truncated, "ld.so.cache header of 48 bytes extends past the end of the file (size 0x\(hex(size)))",
                           offset: header)
        }
        let h = Int(header)  // inside the file, so within Int
        let flagsOffset = header + 28
        let bigEndian: Bool
        switch bytes[h + 28] & 3 {
        case 0: bigEndian = false  // written by an ldconfig older than 2.32: host order
        case 2: bigEndian = false
        case 3: bigEndian = true
        default:
            throw ELFError(.invalid, "ld.so.cache is marked invalid (endianness flag 1)", offset: flagsOffset,
                           value: UInt64(bytes[h + 28]))
        }
        let decoder = ByteDecoder(bytes, format: ELFFormat(is64: true, isBigEndian: bigEndian), baseOffset: 0)
        let count = UInt64(try decoder.getInteger(at: h + 20, as: UInt32.self))
        let stringsLength = UInt64(try decoder.getInteger(at: h + 24, as: UInt32.self))
        let extensionOffset = UInt64(try decoder.getInteger(at: h + 32, as: UInt32.self))

        let tableStart = header + LoaderCache.newHeaderSize
        let tableLength = try Checked.multiply(count, LoaderCache.newEntrySize, "entry table size", at: header + 20)
        let tableEnd = try Checked.add(tableStart, tableLength, "entry table end", at: header + 20)
        guard tableEnd <= size else {
            throw ELFError(.truncated,
                           "table of \(count) entries ends at 0x\(hex(tableEnd)), past the end of the file (size 0x\(hex(size)))",
                           offset: header + 20, value: count)
        }
        let stringsEnd = try Checked.add(tableEnd, stringsLength, "string table end", at: header + 24)
        guard stringsEnd <= size else {
            throw ELFError(.truncated,
                           "string table of 0x\(hex(stringsLength)) bytes ends at 0x\(hex(stringsEnd)), past the end of the file (size 0x\(hex(size)))",
                           offset: header + 24, value: stringsLength)
        }

        let (generator, hwcapsNames) = try parseExtensions(at: extensionOffset, header: header, decoder: decoder)

        var entries: [Entry] = []
        entries.reserveCapacity(Int(count))  // count * 24 fits in the file, so in Int
        for index in 0 ..< count {
            let offset = tableStart + index * LoaderCache.newEntrySize  // < tableEnd, checked above
            let at = Int(offset)
            let flags: UInt32 = try decoder.getInteger(at: at)
            let key: UInt32 = try decoder.getInteger(at: at + 4)
            let value: UInt32 = try decoder.getInteger(at: at + 8)
            let osVersion: UInt32 = try decoder.getInteger(at: at + 12)
            let hwcap: UInt64 = try decoder.getInteger(at: at + 16)
            var subdirectory: String?
            if LoaderCache.isHwcapsExtension(hwcap) {
                let hwcapsIndex = UInt64(UInt32(truncatingIfNeeded: hwcap))
                guard hwcapsIndex < UInt64(hwcapsNames.count) else {
                    throw ELFError(.invalid,
                                   "entry \(index) refers to glibc-hwcaps subdirectory \(hwcapsIndex), but the cache lists \(hwcapsNames.count)",
                                   offset: offset + 16, value: hwcap)
                }
                subdirectory = hwcapsNames[Int(hwcapsIndex)]
            }
            entries.append(Entry(
                flags: flags,
                name: try string(base: header, relative: key, "name of entry \(index)", entryOffset: offset + 4),
                path: try string(base: header, relative: value, "path of entry \(index)", entryOffset: offset + 8),
                osVersion: osVersion, hwcap: hwcap, hwcapsSubdirectory: subdirectory, offset: offset))
        }
        return LoaderCache(entries: entries, format: format, isBigEndian: bigEndian, generator: generator,
                           hwcapsSubdirectories: hwcapsNames)
    }

    /// The extension directory. The checks are glibc's `cache_extension_load`, where a
    /// failure makes `ldconfig -p` report "Malformed extension data"; here it is an
    /// error. Sections with tags glibc does not know are skipped, as glibc does.
    mutating func parseExtensions(at offset: UInt64, header: UInt64,
                                  decoder: ByteDecoder) throws(ELFError) -> (String?, [String]) {
        if offset == 0 { return (nil, []) }  // no extensions: not an error
        let field = header + 32
        guard offset % 4 == 0 else {
            throw ELFError(.invalid, "extension directory offset is not a multiple of 4", offset: field, value: offset)
        }
        guard Checked.fits(start: offset, length: LoaderCache.extensionHeaderSize, within: size) else {
            throw ELFError(.truncated, "extension directory at 0x\(hex(offset)) extends past the end of the file (size 0x\(hex(size)))",
                           offset: field, value: offset)
        }
        let magic: UInt32 = try decoder.getInteger(at: Int(offset))
        guard magic == LoaderCache.extensionMagic else {
            throw ELFError(.invalid, "extension directory has the wrong magic number", offset: offset, value: UInt64(magic))
        }
        let count = UInt64(try decoder.getInteger(at: Int(offset) + 4, as: UInt32.self))
        let sectionsStart = offset + LoaderCache.extensionHeaderSize  // fits: checked above
        let sectionsLength = try Checked.multiply(count, LoaderCache.extensionSectionSize, "extension directory size", at: offset + 4)
        guard Checked.fits(start: sectionsStart, length: sectionsLength, within: size) else {
            throw ELFError(.truncated,
                           "extension directory of \(count) sections extends past the end of the file (size 0x\(hex(size)))",
                           offset: offset + 4, value: count)
        }
        var generator: String?
        var hwcapsNames: [String] = []
        for index in 0 ..< count {
            let at = sectionsStart + index * LoaderCache.extensionSectionSize  // inside the checked directory
            let tag: UInt32 = try decoder.getInteger(at: Int(at))
            let sectionOffset = UInt64(try decoder.getInteger(at: Int(at) + 8, as: UInt32.self))
            let sectionSize = UInt64(try decoder.getInteger(at: Int(at) + 12, as: UInt32.self))
            guard Checked.fits(start: sectionOffset, length: sectionSize, within: size) else {
                throw ELFError(.truncated,
                               "extension section \(index) (tag \(tag)) at 0x\(hex(sectionOffset)) of 0x\(hex(sectionSize)) bytes extends past the end of the file (size 0x\(hex(size)))",
                               offset: at + 8, value: sectionOffset)
            }
            let start = Int(sectionOffset), end = Int(sectionOffset + sectionSize)  // inside the file
            switch tag {
            case LoaderCache.extensionTagGenerator:
                generator = String(decoding: bytes[start ..< end], as: UTF8.self)
            case LoaderCache.extensionTagHwcaps:
                // glibc ignores a hwcaps section that is empty, misaligned or not a
                // whole number of 32-bit offsets; entries that need it then fail below.
                guard sectionSize > 0, sectionOffset % 4 == 0, sectionSize % 4 == 0 else {
                    hwcapsNames = []
                    continue
                }
                var names: [String] = []
                names.reserveCapacity(Int(sectionSize / 4))
                for element in stride(from: start, to: end, by: 4) {
                    let relative: UInt32 = try decoder.getInteger(at: element)
                    // ldconfig writes these relative to the new header, like entry
                    // strings. ld.so and `ldconfig -p` read them from the start of the
                    // file instead; the two agree except in the rare compat format
                    // (`ldconfig -c compat`), where glibc itself then sees garbage names
                    // and so never uses the glibc-hwcaps entries. The names here are the
                    // ones ldconfig meant.
                    names.append(try string(base: header, relative: relative,
                                            "glibc-hwcaps subdirectory name \(names.count)", entryOffset: UInt64(element)))
                }
                hwcapsNames = names
            default:
                continue
            }
        }
        return (generator, hwcapsNames)
    }

    // MARK: Strings

    /// The NUL-terminated string at `base + relative`, which must end inside the file.
    /// `entryOffset` is the file offset of the field that held the reference.
    mutating func string(base: UInt64, relative: UInt32, _ what: @autoclosure () -> String,
                         entryOffset: UInt64) throws(ELFError) -> String {
        let start = try Checked.add(base, UInt64(relative), what(), at: entryOffset)
        if let known = strings[start] { return known }
        guard start < size else {
            throw ELFError(.invalid,
                           "\(what()) starts at 0x\(hex(start)), outside the file (size 0x\(hex(size)))",
                           offset: entryOffset, value: UInt64(relative))
        }
        let first = Int(start)  // < size, so within Int
        // Scan no further than the remaining budget allows.
        let room = bytes.count - first
        let limit = first + (scanBudget < UInt64(room) ? Int(scanBudget) : room)
        guard let terminator = bytes[first ..< limit].firstIndex(of: 0) else {
            if limit < bytes.count {
                throw ELFError(.invalid, "\(what()): string references overlap too much (hostile cache?)",
                               offset: entryOffset, value: UInt64(relative))
            }
            throw ELFError(.invalid, "\(what()) at 0x\(hex(start)) has no terminating NUL before the end of the file",
                           offset: entryOffset, value: UInt64(relative))
        }
        scanBudget -= UInt64(terminator - first + 1)
        let text = ByteText.string(bytes[first ..< terminator])
        strings[start] = text
        return text
    }
}

private typealias Entry = LoaderCache.Entry
