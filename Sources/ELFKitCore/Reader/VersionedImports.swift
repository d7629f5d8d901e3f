/// What one object requires of other objects' symbol versions: each `Elf_Vernaux` of
/// `.gnu.version_r`, with the undefined dynamic symbols that use it.
///
/// A symbol's version is the entry of `.gnu.version` (DT_VERSYM) at the symbol's index;
/// the low 15 bits name a `vna_other` of `.gnu.version_r`. A requirement no symbol uses
/// (`GLIBC_ABI_DT_RELR`, or one left behind by the linker) still binds: the loader
/// checks every `Elf_Vernaux` when it maps the object.
public struct VersionedImports: Sendable {
    /// One required version (`Elf_Vernaux`) of one library, and the imports that use it.
    public struct Requirement: Sendable {
        /// `vn_file`: the library the version is required of.
        public var library: String
        /// `vna_name`: the version required, e.g. `GLIBC_2.34`.
        public var version: VersionName
        /// `VER_FLG_WEAK`: the loader only warns when it is missing.
        public var weak: Bool
        /// The undefined symbols bound to it, in symbol-table order.
        public var symbols: [[UInt8]]
    }

    /// Every `Elf_Vernaux` of `.gnu.version_r`, in chain order (library by library);
    /// empty when the file has no dynamic section or no `DT_VERNEED`.
    public var requirements: [Requirement] = []
    /// Why the symbols could not be bound to the requirements (a damaged `.dynsym` or
    /// `.gnu.version`); the requirements themselves still count, without symbols.
    public var symbolProblem: ELFError?

    /// Reads `file`'s requirements; throws when `.gnu.version_r` cannot be read. A file
    /// with no `.gnu.version_r` has none.
    ///
    /// - Parameter file: The object whose imports are read, through its dynamic section.
    /// - Throws: What `ELFFile.dynamic()` and `DynamicSection.versionNeeds()` throw. A
    ///   damaged `.dynsym` or `.gnu.version` does not throw: it is `symbolProblem`.
    public init(file: ELFFile) throws(ELFError) {
        guard let dynamic = try file.dynamic() else { return }
        let needs = try dynamic.versionNeeds()
        guard !needs.isEmpty else { return }
        var byIndex: [UInt16: Int] = [:]
        for need in needs {
            for requirement in need.requirements {
                byIndex[requirement.index & 0x7fff] = requirements.count
                requirements.append(Requirement(library: need.file, version: VersionName(requirement.name),
                                                weak: requirement.flags & 0x2 != 0, symbols: []))
            }
        }
        do {
            try bindSymbols(file: file, dynamic: dynamic, byIndex: byIndex)
        } catch {
            symbolProblem = error
            for index in requirements.indices { requirements[index].symbols = [] }
        }
    }

    /// Each undefined symbol's `.gnu.version` entry names the requirement it binds to.
    private mutating func bindSymbols(file: ELFFile, dynamic: DynamicSection, byIndex: [UInt16: Int]) throws(ELFError) {
        guard let versionTable = dynamic.first(.versym) else { return }
        let imports = try VersionedImports.undefinedSymbols(file: file, dynamic: dynamic)
        guard let last = imports.last?.index else { return }
        let versions = try file.bytes(atAddress: versionTable, length: try Checked.multiply(UInt64(last) + 1, 2, ".gnu.version"), ".gnu.version")
        let versionDecoder = ByteDecoder(versions, format: file.format, baseOffset: 0)
        for (index, name) in imports {
            let version = try versionDecoder.getInteger(at: index * 2, as: UInt16.self) & 0x7fff
            guard version >= 2, let slot = byIndex[version] else { continue }
            requirements[slot].symbols.append(name)
        }
    }

    /// `symbol@version` as portability and doctor print a requirement's use, or the
    /// version alone, marked, when no symbol uses it.
    package static func symbolAt(_ symbol: [UInt8]?, _ version: VersionName) -> String {
        guard let symbol else { return "\(version.name) (no symbol uses it; the loader checks it all the same)" }
        return ByteText.string(symbol) + "@" + version.name
    }

    /// The undefined symbols of the dynamic symbol table (DT_SYMTAB), with their indices,
    /// in table order. The one walk over `.dynsym` for imports: the version binding above,
    /// doctor's name-service check and bundle's run-time loading warnings all read it, so
    /// that a file without section headers, or whose `.dynstr` shares a name's bytes with
    /// the tail of another (GNU ld merges suffixes: `getaddrinfo` inside
    /// `my_getaddrinfo`), gives the same names everywhere.
    ///
    /// - Throws: a damaged `.dynsym`, `.dynstr` or hash table; a file without a dynamic
    ///   section or DT_SYMTAB has no imports.
    package static func undefinedSymbols(file: ELFFile, dynamic: DynamicSection) throws(ELFError) -> [(index: Int, name: [UInt8])] {
        guard let symbolTable = dynamic.first(.symtab) else { return [] }
        let count = try VersionedImports.importCount(file: file, dynamic: dynamic)
        guard count > 1 else { return [] }
        let entrySize = dynamic.first(.symEntrySize) ?? (file.format.is64 ? 24 : 16)
        guard entrySize >= (file.format.is64 ? 24 : 16) else {
            throw ELFError(.invalid, "DT_SYMENT is smaller than a symbol", value: entrySize)
        }
        // At most one symbol per 2 bytes of the file: a count beyond that cannot be real.
        let symbols = min(count, file.source.size / 2)
        guard symbols > 1 else { return [] }
        let symbolBytes = try file.bytes(atAddress: symbolTable, length: try Checked.multiply(symbols, entrySize, ".dynsym"), ".dynsym")
        let stride = Int(entrySize)   // ≤ the table's byte count, which is an Int
        var found: [(index: Int, name: [UInt8])] = []
        for index in 1 ..< Int(symbols) {
            var decoder = ByteDecoder(Array(symbolBytes[index * stride ..< index * stride + stride]), format: file.format, baseOffset: 0)
            let symbol = try ELFSymbol.decode(&decoder)
            guard !symbol.isDefined else { continue }
            found.append((index, try dynamic.rawString(at: UInt64(symbol.nameOffset))))
        }
        return found
    }

    /// The names of `file`'s undefined dynamic symbols (``undefinedSymbols(file:dynamic:)``),
    /// decoded as UTF-8; empty when the file has no dynamic symbol table or it cannot be read.
    package static func importedNames(of file: ELFFile) -> Set<String> {
        guard let dynamic = (try? file.dynamic()) ?? nil,
              let imports = try? undefinedSymbols(file: file, dynamic: dynamic) else { return [] }
        return Set(imports.map { String(decoding: $0.name, as: UTF8.self) })
    }

    /// How many `.dynsym` entries to look at for imports. The table's size is not stated;
    /// the largest of these bounds covers every undefined symbol:
    /// - the count from `.hash`, `.gnu.hash` or the `.dynsym` section header
    ///   (`SymbolTableGeometry`, as the planner uses it);
    /// - `.gnu.hash`'s `symoffset`: the link editor puts every symbol it does not hash
    ///   (the undefined ones) before it; an executable that exports nothing hashes
    ///   nothing, and then this is the only count the hash table gives;
    /// - the highest symbol index a dynamic relocation names, plus one;
    /// - MIPS `DT_MIPS_SYMTABNO`, the number of `.dynsym` entries.
    static func importCount(file: ELFFile, dynamic: DynamicSection) throws(ELFError) -> UInt64 {
        var count = try SymbolTableGeometry(file: file, dynamic: dynamic).symbolCount ?? 0
        if let address = dynamic.first(.gnuHash) {
            count = max(count, try SymbolTableGeometry.walkGNUHash(file: file, address: address).0)
        }
        if let relocations = try? file.dynamicRelocations(dynamic), let highest = relocations.map(\.info.symbol).max() {
            count = max(count, highest &+ 1)   // highest < 2^32 (r_info's symbol field): no overflow
        }
        if file.header.machine == .mips, let symbols = dynamic.first(DynamicTag(rawValue: 0x7000_0011)) {
            count = max(count, symbols)
        }
        return count
    }
}
