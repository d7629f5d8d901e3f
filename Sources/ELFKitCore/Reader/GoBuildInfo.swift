/// The build information the Go linker leaves in every Go program: what
/// `go version -m FILE` prints, read without running the file.
///
/// `swelf doctor` uses it to explain a Go program's needs: a cgo build
/// (`CGO_ENABLED=1`) links against the system libc and so needs a compatible one on the
/// server, a pure-Go build does not.
///
/// Format (Go's `debug/buildinfo` and `runtime/debug`):
///
/// - A 32-byte header, 16-byte aligned in memory: the 14-byte magic `"\xff Go buildinf:"`,
///   a pointer size byte, a flags byte, then two pointer-sized fields.
///   Flags bit 0 is the byte order of those pointers (1 = big-endian); bit 1 says where
///   the strings are.
/// - Bit 1 set (Go 1.18 and later): the two pointer fields are unused and the header is
///   followed by two strings, each a uvarint length then that many bytes: the Go version,
///   then the module information.
/// - Bit 1 clear (before Go 1.18): the two fields are the addresses of Go string headers
///   `{data pointer, length}` for the version and the module information.
/// - The header lives in section `.go.buildinfo`. Without section headers, Go searches
///   the first PT_LOAD that is writable and not executable (current Go scans the whole
///   region in 1 MiB chunks; older releases read only its first 64 KiB), taking the first
///   copy of the magic at a 16-byte aligned address.
/// - The module information is framed by 16 sentinel bytes at each end (recognised, as
///   Go does, by length ≥ 33 and a newline 17 bytes from the end; otherwise the program
///   was built without modules and there is none). Inside are newline-terminated lines
///   `path\t…`, `mod\t<path>\t<version>[\t<sum>]`, `dep\t…` (same columns),
///   `=>\t<path>\t<version>\t<sum>` (replacement of the module on the line before) and
///   `build\t<key>=<value>`, where a key or value containing spaces, tabs, quotes or
///   line breaks is a Go quoted string (`-ldflags="-s -w"`).
///
/// Everything is untrusted: the search stays inside one segment's file image, varints
/// are at most 10 bytes and must not overflow, lengths must fit the segment, and every
/// problem is an `ELFError` naming the byte, never a trap.
public struct GoBuildInfo: Sendable, Equatable, CustomStringConvertible {
    /// A module: the main module, a dependency, or a dependency's replacement.
    public struct Module: Sendable, Hashable {
        /// The module path (`golang.org/x/sys`), the second column of its line.
        public var path: String
        /// The module version (`v0.5.0`, or `(devel)` for a main module built from a
        /// checkout), the third column.
        public var version: String
        /// The go.sum checksum (`h1:…`), empty when unknown (the main module, `(devel)`).
        public var sum: String
        /// Zero or one element: a struct cannot contain an optional of itself directly.
        private var replacementStorage: [Module]

        /// The module this one was replaced by (`=>` line), if any.
        public var replacement: Module? {
            get { replacementStorage.first }
            set { replacementStorage = newValue.map { [$0] } ?? [] }
        }

        /// A module as its `mod`, `dep` or `=>` line describes it.
        ///
        /// - Parameters:
        ///   - path: The module path.
        ///   - version: The module version.
        ///   - sum: The go.sum checksum; empty when unknown.
        ///   - replacement: The module it was replaced by, if any.
        public init(path: String, version: String, sum: String = "", replacement: Module? = nil) {
            self.path = path
            self.version = version
            self.sum = sum
            self.replacementStorage = replacement.map { [$0] } ?? []
        }
    }

    /// How the two strings were stored.
    public enum Encoding: Sendable, Hashable {
        /// Go 1.18 and later: varint-prefixed strings right after the header.
        case inline
        /// Before Go 1.18: pointers to Go string headers.
        case pointers(size: Int, bigEndian: Bool)
    }

    /// The toolchain version, e.g. `go1.19.8`.
    public var goVersion: String
    /// The main package's import path; nil when the module information has no `path` line.
    public var path: String?
    /// The module holding the main package; nil when there is no `mod` line.
    public var mainModule: Module?
    /// The `dep` lines: every module the program was built with, in file order, each
    /// with its replacement when the next line is `=>`.
    public var dependencies: [Module]
    /// `build` lines in file order, keys and values unquoted.
    public var settings: [(key: String, value: String)]
    /// How the version and module strings were stored.
    public var encoding: Encoding
    /// File offset of the 32-byte header (its magic).
    public var headerOffset: UInt64

    /// Build information from its parts (tests and comparisons; `read(from:)` reads it
    /// from a file).
    ///
    /// - Parameters:
    ///   - goVersion: The toolchain version, e.g. `go1.19.8`.
    ///   - path: The main package's import path.
    ///   - mainModule: The module holding the main package.
    ///   - dependencies: The dependency modules, in file order.
    ///   - settings: The `build` settings, in file order, unquoted.
    ///   - encoding: How the strings were stored.
    ///   - headerOffset: File offset of the 32-byte header.
    public init(goVersion: String, path: String? = nil, mainModule: Module? = nil, dependencies: [Module] = [],
                settings: [(key: String, value: String)] = [], encoding: Encoding = .inline, headerOffset: UInt64 = 0) {
        self.goVersion = goVersion
        self.path = path
        self.mainModule = mainModule
        self.dependencies = dependencies
        self.settings = settings
        self.encoding = encoding
        self.headerOffset = headerOffset
    }

    /// Whether every field is equal, `settings` compared pair by pair in order (tuples
    /// are not `Equatable`, so this cannot be synthesized).
    ///
    /// - Parameters:
    ///   - a: One build information.
    ///   - b: The other.
    /// - Returns: True when all fields are equal.
    public static func == (a: GoBuildInfo, b: GoBuildInfo) -> Bool {
        a.goVersion == b.goVersion && a.path == b.path && a.mainModule == b.mainModule
            && a.dependencies == b.dependencies && a.encoding == b.encoding && a.headerOffset == b.headerOffset
            && a.settings.count == b.settings.count
            && zip(a.settings, b.settings).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    // MARK: - Settings

    /// The value of the first `build` setting with this key (`CGO_ENABLED`, `-tags`, …).
    ///
    /// - Parameter key: The key, exactly as recorded (unquoted), e.g. `GOARCH`.
    /// - Returns: Its value, unquoted; nil when no `build` line has that key.
    public func setting(_ key: String) -> String? {
        settings.first { $0.key == key }?.value
    }

    /// `CGO_ENABLED`: true for `1`, false for `0`, nil when absent or anything else
    /// (binaries built before Go 1.18 record no settings).
    public var cgoEnabled: Bool? {
        switch setting("CGO_ENABLED") {
        case "1": return true
        case "0": return false
        default: return nil
        }
    }

    /// The `GOOS` setting, the target operating system (`linux`); nil when not recorded.
    public var goos: String? { setting("GOOS") }
    /// The `GOARCH` setting, the target architecture (`amd64`, `arm64`); nil when not
    /// recorded.
    public var goarch: String? { setting("GOARCH") }
    /// `-buildmode` (`exe`, `pie`, `c-shared`, …) when recorded.
    public var buildMode: String? { setting("-buildmode") }

    /// The `-tags` build tags (recorded comma-separated), e.g. `netgo`, `osusergo`.
    public var tags: [String] {
        guard let value = setting("-tags") else { return [] }
        return value.split(separator: ",", omittingEmptySubsequences: true).map(String.init)
    }

    // MARK: - Text

    /// The lines `go version -m FILE` prints after `FILE: `: the Go version, then each
    /// line of the module information indented by a tab, with keys and values quoted
    /// as Go's `strconv.Quote` does (exactly for ASCII; for other characters
    /// printability follows Swift's Unicode tables, which may differ from Go's). Like Go,
    /// a replaced module is followed by an empty line.
    public var description: String {
        var lines: [String] = []
        if let path, !path.isEmpty { lines.append("path\t\(path)") }
        func add(_ word: String, _ module: Module) {
            if let replacement = module.replacement {
                lines.append("\(word)\t\(module.path)\t\(module.version)")
                add("=>", replacement)
                lines.append("")  // Go's BuildInfo.String ends a replaced module with an extra newline
            } else {
                lines.append("\(word)\t\(module.path)\t\(module.version)\t\(module.sum)")
            }
        }
        if let mainModule, mainModule != Module(path: "", version: "") { add("mod", mainModule) }
        for dependency in dependencies { add("dep", dependency) }
        for (key, value) in settings {
            let shownKey = GoQuoting.keyNeedsQuotes(Array(key.utf8)) ? GoQuoting.quote(key) : key
            let shownValue = GoQuoting.valueNeedsQuotes(Array(value.utf8)) ? GoQuoting.quote(value) : value
            lines.append("build\t\(shownKey)=\(shownValue)")
        }
        return ([goVersion] + lines.map { "\t" + $0 }).joined(separator: "\n")
    }
}

// MARK: - Reading

extension GoBuildInfo {
    static let magic: [UInt8] = [0xff] + Array(" Go buildinf:".utf8)
    static let headerSize: UInt64 = 32
    static let alignment: UInt64 = 16
    /// Bytes read at a time while searching a segment for the magic.
    static let searchChunk: UInt64 = 1 << 20
    /// A sanity bound on the version and module strings. Real module information is a
    /// few hundred bytes per dependency; a length beyond this is garbage, and refusing
    /// it keeps a corrupt length from asking for a file-sized allocation.
    static let maximumStringLength: UInt64 = 64 << 20
    private static let sectionName = ".go.buildinfo"

    /// Reads the Go build information of `file`, or nil when it is not a Go program
    /// (no build-info header where Go puts one, or an empty version string, which Go
    /// also treats as "not a Go executable").
    ///
    /// A header that is present but damaged (cut short, a runaway varint, a string
    /// outside the file, a malformed line) throws, naming the byte.
    ///
    /// - Parameter file: The program to read; it is not run.
    /// - Returns: The version, module information and settings; nil when the file is not
    ///   a Go program. A program built without modules has only `goVersion`.
    /// - Throws: `ELFError`: `.invalid` when the region Go searches is not in a PT_LOAD's
    ///   file image, a pre-1.18 pointer size is not 4 or 8, a string length is implausibly
    ///   large or a module line is malformed; `.truncated` when the header, a varint or a
    ///   string is cut short by the end of its segment; `.overflow` when a varint
    ///   overflows 64 bits.
    public static func read(from file: ELFFile) throws(ELFError) -> GoBuildInfo? {
        guard let region = searchRegion(of: file), region.size > 0 else { return nil }
        guard let headerAddress = try findHeader(in: file, region: region) else { return nil }
        let headerOffset = try mappedOffset(file, address: headerAddress, length: headerSize, "Go build info header")
        let header = try file.source.bytes(at: headerOffset, count: headerSize, "Go build info header")

        let flags = header[15]
        let version: GoString
        let moduleInfo: GoString
        let encoding: Encoding
        if flags & 2 != 0 {
            encoding = .inline
            // headerAddress + 32 fits: the header's 32 bytes were just read through a segment.
            version = try inlineString(file, at: headerAddress &+ headerSize, "Go version string")
            moduleInfo = try inlineString(file, at: version.end, "Go module information")
        } else {
            let pointerSize = header[14]
            guard pointerSize == 4 || pointerSize == 8 else {
                throw ELFError(.invalid, "Go build info pointer size is not 4 or 8",  // header read: + 14 is in the file
                               offset: headerOffset &+ 14, value: UInt64(pointerSize))
            }
            let bigEndian = flags & 1 != 0
            encoding = .pointers(size: Int(pointerSize), bigEndian: bigEndian)
            let format = ELFFormat(is64: pointerSize == 8, isBigEndian: bigEndian)
            let fields = ByteDecoder(header, format: format, baseOffset: headerOffset)
            let versionPointer = try pointer(fields, at: 16)
            let modulePointer = try pointer(fields, at: 16 + Int(pointerSize))
            version = try stringHeaderTarget(file, at: versionPointer, format: format, "Go version string")
            moduleInfo = try stringHeaderTarget(file, at: modulePointer, format: format, "Go module information")
        }
        guard !version.bytes.isEmpty else { return nil }

        var info = GoBuildInfo(goVersion: String(decoding: version.bytes, as: UTF8.self),
                               encoding: encoding, headerOffset: headerOffset)
        let raw = moduleInfo.bytes
        if raw.count >= 33, raw[raw.count - 17] == UInt8(ascii: "\n") {
            // The 16-byte sentinels around the text (cmd/go's modload.infoStart/infoEnd).
            // moduleInfo.offset + 16 is inside the string just read, so inside the file.
            try info.parseModuleInfo(Array(raw[16 ..< raw.count - 16]), fileOffset: moduleInfo.offset &+ 16)
        }
        return info
    }

    /// Where Go looks: the `.go.buildinfo` section, else the file image of the first
    /// writable, non-executable PT_LOAD (`p_memsz` in Go, but only file bytes can hold
    /// the header).
    static func searchRegion(of file: ELFFile) -> (address: UInt64, size: UInt64, what: String)? {
        if let section = file.section(named: sectionName) {
            return (section.header.address, section.header.size, "section \(sectionName)")
        }
        for segment in file.loadSegments
        where segment.flags.intersection([.write, .execute]) == .write {
            return (segment.virtualAddress, segment.fileSize, "first writable PT_LOAD")
        }
        return nil
    }

    /// The address of the first 16-byte aligned magic in the region, or nil.
    /// The search is clipped to the file image of the segment holding the region's
    /// (aligned) start, as Go's reader is.
    static func findHeader(in file: ELFFile, region: (address: UInt64, size: UInt64, what: String)) throws(ELFError) -> UInt64? {
        let end = try Checked.add(region.address, region.size, "end of \(region.what)")
        let start = try Checked.alignUp(region.address, to: alignment, "start of \(region.what)")
        guard start < end else { return nil }
        guard let available = fileImageRemaining(file, at: start) else {
            throw ELFError(.invalid, "\(region.what) at address 0x\(hex(start)) is not in the file image of any PT_LOAD segment",
                           value: start)
        }
        let length = min(end - start, available)
        let magicLength = magic.count
        var chunkStart: UInt64 = 0
        while chunkStart < length {
            // Chunks are multiples of 16 bytes from an aligned start, so an aligned magic
            // never straddles two chunks. chunkStart < length <= available, so the
            // address sum is inside a segment and cannot overflow.
            let chunkLength = min(searchChunk, length - chunkStart)
            let address = start &+ chunkStart
            let chunk = try file.bytes(atAddress: address, length: chunkLength, "\(region.what) (searching for Go build info)")
            var index = 0
            while index <= chunk.count - magicLength {
                if chunk[index] == magic[0], chunk[index ..< index + magicLength].elementsEqual(magic) {
                    let position = chunkStart &+ UInt64(index)
                    guard headerSize <= length - position else {
                        throw ELFError(.truncated, "Go build info header is cut short by the end of \(region.what)",
                                       offset: try? file.fileOffset(ofAddress: address &+ UInt64(index)))
                    }
                    return start &+ position
                }
                index += Int(alignment)
            }
            chunkStart += chunkLength
        }
        return nil
    }

    /// Bytes of a string read from the file, with the file offset of its first byte and
    /// the address just past it.
    struct GoString {
        var bytes: [UInt8]
        var offset: UInt64
        var end: UInt64
    }

    /// A uvarint length followed by that many bytes, at `address`.
    static func inlineString(_ file: ELFFile, at address: UInt64, _ what: String) throws(ELFError) -> GoString {
        guard let available = fileImageRemaining(file, at: address) else {
            throw ELFError(.truncated, "\(what) at address 0x\(hex(address)) is past the end of its segment's file image",
                           value: address)
        }
        let offset = try file.fileOffset(ofAddress: address)
        let prefix = try file.source.bytes(at: offset, count: min(available, 10), "\(what) length")
        let (length, width) = try uvarint(prefix, what: what, offset: offset)
        guard length <= maximumStringLength else {
            throw ELFError(.invalid, "\(what) length is implausibly large", offset: offset, value: length)
        }
        guard length <= available - UInt64(width) else {
            throw ELFError(.truncated, "\(what) of 0x\(hex(length)) bytes runs past the end of its segment's file image",
                           offset: offset, value: length)
        }
        // All within `available` bytes of one segment's file image: no overflow.
        let dataOffset = offset &+ UInt64(width)
        let bytes = try file.source.bytes(at: dataOffset, count: length, what)
        return GoString(bytes: bytes, offset: dataOffset, end: address &+ UInt64(width) &+ length)
    }

    /// Decodes an unsigned LEB128 varint as Go's `binary.Uvarint` does: at most 10 bytes,
    /// the tenth at most 1. Returns the value and the number of bytes used.
    static func uvarint(_ bytes: [UInt8], what: String, offset: UInt64) throws(ELFError) -> (UInt64, Int) {
        var value: UInt64 = 0
        for (index, byte) in bytes.prefix(10).enumerated() {
            if byte < 0x80 {
                if index == 9 && byte > 1 { break }
                return (value | UInt64(byte) << (7 * UInt64(index)), index + 1)
            }
            value |= UInt64(byte & 0x7f) << (7 * UInt64(index))
        }
        if bytes.count < 10 && bytes.allSatisfy({ $0 >= 0x80 }) {
            throw ELFError(.truncated, "\(what) length (a varint) is cut short by the end of its segment", offset: offset)
        }
        throw ELFError(.overflow, "\(what) length (a varint) overflows 64 bits", offset: offset)
    }

    /// A pointer field of the pre-1.18 header, in the header's byte order and width.
    static func pointer(_ decoder: ByteDecoder, at index: Int) throws(ELFError) -> UInt64 {
        decoder.format.is64 ? try decoder.getInteger(at: index, as: UInt64.self)
            : UInt64(try decoder.getInteger(at: index, as: UInt32.self))
    }

    /// The bytes a Go string header `{data, length}` at `address` refers to.
    static func stringHeaderTarget(_ file: ELFFile, at address: UInt64, format: ELFFormat,
                                   _ what: String) throws(ELFError) -> GoString {
        let headerLength = 2 * format.wordSize
        let headerOffset = try mappedOffset(file, address: address, length: headerLength, "\(what) header")
        let raw = try file.source.bytes(at: headerOffset, count: headerLength, "\(what) header")
        let decoder = ByteDecoder(raw, format: format, baseOffset: headerOffset)
        let data = try pointer(decoder, at: 0)
        let length = try pointer(decoder, at: Int(format.wordSize))
        guard length <= maximumStringLength else {
            throw ELFError(.invalid, "\(what) length is implausibly large", offset: headerOffset, value: length)
        }
        if length == 0 { return GoString(bytes: [], offset: headerOffset, end: data) }
        let offset = try mappedOffset(file, address: data, length: length, what)
        let bytes = try file.source.bytes(at: offset, count: length, what)
        return GoString(bytes: bytes, offset: offset, end: data &+ length)  // mapped, so no overflow
    }

    /// `ELFFile.fileOffset(ofAddress:length:)` with the structure named in the error.
    static func mappedOffset(_ file: ELFFile, address: UInt64, length: UInt64, _ what: String) throws(ELFError) -> UInt64 {
        do {
            return try file.fileOffset(ofAddress: address, length: length)
        } catch {
            throw ELFError(error.kind, "\(what): \(error.message)", offset: error.offset, value: error.value)
        }
    }

    /// How many file-image bytes of a PT_LOAD segment start at `address`.
    static func fileImageRemaining(_ file: ELFFile, at address: UInt64) -> UInt64? {
        for segment in file.loadSegments
        where segment.fileEnd != nil && segment.containsInFile(address: address, length: 1) {
            return segment.fileSize - (address - segment.virtualAddress)  // containsInFile: no underflow
        }
        return nil
    }
}
