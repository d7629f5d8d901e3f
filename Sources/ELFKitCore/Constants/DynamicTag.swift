// One idiom for every constant type here and in its sibling files: see NamedConstant.swift.
/// A dynamic entry's tag (`d_tag`): what the entry's value means, DT_NEEDED, DT_RUNPATH, ...
///
/// Stored zero-extended to 64 bits; Elf32 tags are narrowed back on write. A tag with no
/// static member here is still a valid value: it prints as its number.
public struct DynamicTag: NamedConstant {
    /// The tag as stored in `d_tag`, zero-extended from Elf32's 32 bits.
    public let rawValue: UInt64
    /// The tag with this `d_tag` value, named or not.
    /// - Parameter rawValue: the `d_tag` value.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// DT_NULL: marks the end of the dynamic array; the loader reads no entry after it.
    public static let null = DynamicTag(rawValue: 0)
    /// DT_NEEDED: the name of a needed library (a string-table offset), one entry per library, in
    /// load order.
    public static let needed = DynamicTag(rawValue: 1)
    /// DT_PLTRELSZ: the size in bytes of the PLT's relocation entries (the table at ``jmpRel``).
    public static let pltRelSize = DynamicTag(rawValue: 2)
    /// DT_PLTGOT: an address in the procedure linkage table or global offset table (its meaning is
    /// processor-specific).
    public static let pltGOT = DynamicTag(rawValue: 3)
    /// DT_HASH: the address of the System V symbol hash table (`.hash`).
    public static let hash = DynamicTag(rawValue: 4)
    /// DT_STRTAB: the address of the dynamic string table (`.dynstr`), which the string-valued tags
    /// index.
    public static let strtab = DynamicTag(rawValue: 5)
    /// DT_SYMTAB: the address of the dynamic symbol table (`.dynsym`).
    public static let symtab = DynamicTag(rawValue: 6)
    /// DT_RELA: the address of the relocation table with explicit addends (`Elf_Rela`).
    public static let rela = DynamicTag(rawValue: 7)
    /// DT_RELASZ: the size in bytes of the ``rela`` table.
    public static let relaSize = DynamicTag(rawValue: 8)
    /// DT_RELAENT: the size in bytes of one ``rela`` entry.
    public static let relaEntrySize = DynamicTag(rawValue: 9)
    /// DT_STRSZ: the size in bytes of the dynamic string table.
    public static let strsz = DynamicTag(rawValue: 10)
    /// DT_SYMENT: the size in bytes of one dynamic symbol table entry.
    public static let symEntrySize = DynamicTag(rawValue: 11)
    /// DT_INIT: the address of the initialization function, which glibc calls before the functions
    /// of ``initArray``.
    public static let initFunction = DynamicTag(rawValue: 12)
    /// DT_FINI: the address of the termination function.
    public static let finiFunction = DynamicTag(rawValue: 13)
    /// DT_SONAME: the shared object's own name (a string-table offset), which programs linked
    /// against it record as DT_NEEDED.
    public static let soname = DynamicTag(rawValue: 14)
    /// DT_RPATH: the deprecated library search path (a string-table offset); glibc searches it
    /// before `LD_LIBRARY_PATH`, and ignores it when ``runpath`` is present.
    public static let rpath = DynamicTag(rawValue: 15)
    /// DT_SYMBOLIC: present when the loader should resolve the object's symbols in the object
    /// itself first.
    public static let symbolic = DynamicTag(rawValue: 16)
    /// DT_REL: the address of the relocation table with implicit addends (`Elf_Rel`).
    public static let rel = DynamicTag(rawValue: 17)
    /// DT_RELSZ: the size in bytes of the ``rel`` table.
    public static let relSize = DynamicTag(rawValue: 18)
    /// DT_RELENT: the size in bytes of one ``rel`` entry.
    public static let relEntrySize = DynamicTag(rawValue: 19)
    /// DT_PLTREL: which kind of relocation the PLT uses: the tag value of ``rel`` or ``rela``.
    public static let pltRel = DynamicTag(rawValue: 20)
    /// DT_DEBUG: a word the loader fills at run time with the address of its `r_debug`, which
    /// debuggers read; the file holds 0.
    public static let debug = DynamicTag(rawValue: 21)
    /// DT_TEXTREL: present when a relocation may write to a segment that is not writable.
    public static let textRel = DynamicTag(rawValue: 22)
    /// DT_JMPREL: the address of the relocation entries of the PLT alone (their kind is
    /// ``pltRel``).
    public static let jmpRel = DynamicTag(rawValue: 23)
    /// DT_BIND_NOW: present when the loader must process every relocation before the program runs,
    /// as `LD_BIND_NOW` asks.
    public static let bindNow = DynamicTag(rawValue: 24)
    /// DT_INIT_ARRAY: the address of the array of initialization function pointers.
    public static let initArray = DynamicTag(rawValue: 25)
    /// DT_FINI_ARRAY: the address of the array of termination function pointers.
    public static let finiArray = DynamicTag(rawValue: 26)
    /// DT_INIT_ARRAYSZ: the size in bytes of the ``initArray`` array.
    public static let initArraySize = DynamicTag(rawValue: 27)
    /// DT_FINI_ARRAYSZ: the size in bytes of the ``finiArray`` array.
    public static let finiArraySize = DynamicTag(rawValue: 28)
    /// DT_RUNPATH: the library search path (a string-table offset), colon-separated; glibc searches
    /// it after `LD_LIBRARY_PATH` and for the object's own DT_NEEDED entries only.
    public static let runpath = DynamicTag(rawValue: 29)
    /// DT_FLAGS: flag bits for this object (``DynamicFlags``, `DF_*`).
    public static let flags = DynamicTag(rawValue: 30)
    /// DT_PREINIT_ARRAY: the address of the array of pre-initialization function pointers (programs
    /// only), run before any initializer.
    public static let preinitArray = DynamicTag(rawValue: 32)
    /// DT_PREINIT_ARRAYSZ: the size in bytes of the ``preinitArray`` array.
    public static let preinitArraySize = DynamicTag(rawValue: 33)
    /// DT_SYMTAB_SHNDX: the address of the extended section indexes (`SHT_SYMTAB_SHNDX`) of the
    /// dynamic symbol table.
    public static let symtabShndx = DynamicTag(rawValue: 34)
    /// DT_RELRSZ: the size in bytes of the ``relr`` table.
    public static let relrSize = DynamicTag(rawValue: 35)
    /// DT_RELR: the address of the packed relative relocation table (`SHT_RELR`).
    public static let relr = DynamicTag(rawValue: 36)
    /// DT_RELRENT: the size in bytes of one ``relr`` entry.
    public static let relrEntrySize = DynamicTag(rawValue: 37)
    /// DT_CONFIG: the path of a configuration file for the loader (a string-table offset; Solaris,
    /// listed by glibc's `elf.h`).
    public static let config = DynamicTag(rawValue: 0x6fff_fefa)
    /// DT_DEPAUDIT: audit libraries for this object's dependencies (a string-table offset).
    public static let depAudit = DynamicTag(rawValue: 0x6fff_fefb)
    /// DT_AUDIT: audit libraries for this object (a string-table offset); glibc loads them as it
    /// loads `LD_AUDIT`'s.
    public static let audit = DynamicTag(rawValue: 0x6fff_fefc)
    /// DT_GNU_HASH: the address of the GNU symbol hash table (`.gnu.hash`).
    public static let gnuHash = DynamicTag(rawValue: 0x6fff_fef5)
    /// DT_VERSYM: the address of the symbol version table (`.gnu.version`), one 16-bit version
    /// index per dynamic symbol.
    public static let versym = DynamicTag(rawValue: 0x6fff_fff0)
    /// DT_RELACOUNT: the number of relative relocations at the start of the ``rela`` table.
    public static let relaCount = DynamicTag(rawValue: 0x6fff_fff9)
    /// DT_RELCOUNT: the number of relative relocations at the start of the ``rel`` table.
    public static let relCount = DynamicTag(rawValue: 0x6fff_fffa)
    /// DT_FLAGS_1: more flag bits for this object (``DynamicFlags1``, `DF_1_*`).
    public static let flags1 = DynamicTag(rawValue: 0x6fff_fffb)
    /// DT_VERDEF: the address of the version definitions (`.gnu.version_d`).
    public static let verdef = DynamicTag(rawValue: 0x6fff_fffc)
    /// DT_VERDEFNUM: the number of entries in the ``verdef`` table.
    public static let verdefNum = DynamicTag(rawValue: 0x6fff_fffd)
    /// DT_VERNEED: the address of the version requirements (`.gnu.version_r`).
    public static let verneed = DynamicTag(rawValue: 0x6fff_fffe)
    /// DT_VERNEEDNUM: the number of entries in the ``verneed`` table.
    public static let verneedNum = DynamicTag(rawValue: 0x6fff_ffff)
    /// DT_MIPS_RLD_MAP: the address of a word where the MIPS loader stores its `r_debug` address
    /// (MIPS's read-only ``debug``).
    public static let mipsRldMap = DynamicTag(rawValue: 0x7000_0016)
    /// DT_MIPS_RLD_MAP_REL: the same word as ``mipsRldMap``, given relative to the address of this
    /// dynamic entry, so moving the dynamic section changes the value.
    public static let mipsRldMapRel = DynamicTag(rawValue: 0x7000_0035)
    /// DT_AUXILIARY: the name of an auxiliary filtee (a string-table offset): a library whose
    /// definitions take precedence over this filter object's.
    public static let auxiliary = DynamicTag(rawValue: 0x7fff_fffd)
    /// DT_FILTER: the name of a standard filtee (a string-table offset): a library that provides
    /// the definitions of this filter object's symbols.
    public static let filter = DynamicTag(rawValue: 0x7fff_ffff)

    /// The gABI and GNU names (`DT_NEEDED`) of the tags above, which `description` prints.
    public static let names: KeyValuePairs<UInt64, String> = [
        0: "DT_NULL", 1: "DT_NEEDED", 2: "DT_PLTRELSZ", 3: "DT_PLTGOT", 4: "DT_HASH", 5: "DT_STRTAB",
        6: "DT_SYMTAB", 7: "DT_RELA", 8: "DT_RELASZ", 9: "DT_RELAENT", 10: "DT_STRSZ", 11: "DT_SYMENT",
        12: "DT_INIT", 13: "DT_FINI", 14: "DT_SONAME", 15: "DT_RPATH", 16: "DT_SYMBOLIC", 17: "DT_REL",
        18: "DT_RELSZ", 19: "DT_RELENT", 20: "DT_PLTREL", 21: "DT_DEBUG", 22: "DT_TEXTREL",
        23: "DT_JMPREL", 24: "DT_BIND_NOW", 25: "DT_INIT_ARRAY", 26: "DT_FINI_ARRAY",
        27: "DT_INIT_ARRAYSZ", 28: "DT_FINI_ARRAYSZ", 29: "DT_RUNPATH", 30: "DT_FLAGS",
        32: "DT_PREINIT_ARRAY", 33: "DT_PREINIT_ARRAYSZ", 34: "DT_SYMTAB_SHNDX", 35: "DT_RELRSZ",
        36: "DT_RELR", 37: "DT_RELRENT", 0x6fff_fefa: "DT_CONFIG", 0x6fff_fefb: "DT_DEPAUDIT",
        0x6fff_fefc: "DT_AUDIT", 0x6fff_fef5: "DT_GNU_HASH", 0x6fff_fff0: "DT_VERSYM",
        0x6fff_fff9: "DT_RELACOUNT", 0x6fff_fffa: "DT_RELCOUNT", 0x6fff_fffb: "DT_FLAGS_1",
        0x6fff_fffc: "DT_VERDEF", 0x6fff_fffd: "DT_VERDEFNUM", 0x6fff_fffe: "DT_VERNEED",
        0x6fff_ffff: "DT_VERNEEDNUM", 0x7000_0016: "DT_MIPS_RLD_MAP", 0x7000_0035: "DT_MIPS_RLD_MAP_REL",
        0x7fff_fffd: "DT_AUXILIARY", 0x7fff_ffff: "DT_FILTER",
    ]

    /// Tags whose value is an offset into the dynamic string table: every one of them
    /// keeps the bytes it points at in use (glibc's elf.h and binutils agree on the list;
    /// DT_AUXILIARY and DT_FILTER sit in the processor range but mean the same on every
    /// machine).
    public var isStringOffset: Bool {
        switch self {
        case .needed, .soname, .rpath, .runpath, .auxiliary, .filter, .audit, .depAudit, .config: return true
        default: return false
        }
    }
}

/// The bits of a `DT_FLAGS` entry's value (`DF_*`).
public struct DynamicFlags: OptionSet, Sendable {
    /// The `DT_FLAGS` value; bits without a static member are kept.
    public let rawValue: UInt64
    /// The flags of a `DT_FLAGS` value.
    /// - Parameter rawValue: the entry's value.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// DF_ORIGIN: the object uses `$ORIGIN` (in its run path or needed names).
    public static let origin = DynamicFlags(rawValue: 0x1)
    /// DF_SYMBOLIC: symbol resolution starts in the object itself (as ``DynamicTag/symbolic``).
    public static let symbolic = DynamicFlags(rawValue: 0x2)
    /// DF_TEXTREL: relocations may write to a non-writable segment (as ``DynamicTag/textRel``).
    public static let textRel = DynamicFlags(rawValue: 0x4)
    /// DF_BIND_NOW: every relocation is processed before the program runs (as
    /// ``DynamicTag/bindNow``).
    public static let bindNow = DynamicFlags(rawValue: 0x8)
    /// DF_STATIC_TLS: the object uses the static thread-local storage model, so it cannot be
    /// loaded with `dlopen` once the program's static TLS block is full.
    public static let staticTLS = DynamicFlags(rawValue: 0x10)
}

/// The bits of a `DT_FLAGS_1` entry's value (`DF_1_*`); only those swelf reads or sets
/// have static members.
public struct DynamicFlags1: OptionSet, Sendable {
    /// The `DT_FLAGS_1` value; bits without a static member are kept.
    public let rawValue: UInt64
    /// The flags of a `DT_FLAGS_1` value.
    /// - Parameter rawValue: the entry's value.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// DF_1_NOW: every relocation is processed before the program runs (`ld -z now`).
    public static let now = DynamicFlags1(rawValue: 0x1)
    /// DF_1_NODEFLIB: the loader skips its default directories (`/lib`, `/usr/lib`, and
    /// `ld.so.cache`) for this object's dependencies (`ld -z nodefaultlib`, patchelf's
    /// `--no-default-lib`).
    public static let noDefaultLib = DynamicFlags1(rawValue: 0x800)
    /// DF_1_PIE: the object is a position-independent executable, not a shared library,
    /// though both have type `ET_DYN`.
    public static let pie = DynamicFlags1(rawValue: 0x0800_0000)
}
