// One idiom for every constant type here and in its sibling files: see NamedConstant.swift.
/// A section's type (`sh_type`), SHT_*: what its contents are and how they are laid out.
public struct SectionType: NamedConstant {
    /// The section header's `sh_type` value.
    public let rawValue: UInt32
    /// The section type with this `sh_type` value, named or not.
    /// - Parameter rawValue: the `sh_type` value.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// SHT_NULL: an unused section header (section 0 is always one).
    public static let null = SectionType(rawValue: 0)
    /// SHT_PROGBITS: contents defined by the program (code, data, `.interp`, `.rodata`, ...).
    public static let progbits = SectionType(rawValue: 1)
    /// SHT_SYMTAB: the full symbol table, for the link editor and debuggers; the loader does not
    /// read it.
    public static let symtab = SectionType(rawValue: 2)
    /// SHT_STRTAB: a string table (`.dynstr`, `.strtab`, `.shstrtab`).
    public static let strtab = SectionType(rawValue: 3)
    /// SHT_RELA: relocation entries with explicit addends.
    public static let rela = SectionType(rawValue: 4)
    /// SHT_HASH: the System V symbol hash table (`.hash`, ``DynamicTag/hash``).
    public static let hash = SectionType(rawValue: 5)
    /// SHT_DYNAMIC: the dynamic section (`.dynamic`), the entries that `PT_DYNAMIC` points the
    /// loader at.
    public static let dynamic = SectionType(rawValue: 6)
    /// SHT_NOTE: notes (``ELFNote``), such as `.note.gnu.build-id` and `.note.ABI-tag`.
    public static let note = SectionType(rawValue: 7)
    /// SHT_NOBITS: occupies memory but no bytes in the file (`.bss`); its `sh_offset` is only
    /// nominal.
    public static let nobits = SectionType(rawValue: 8)
    /// SHT_REL: relocation entries without explicit addends.
    public static let rel = SectionType(rawValue: 9)
    /// SHT_DYNSYM: the dynamic symbol table (`.dynsym`), which the loader binds with.
    public static let dynsym = SectionType(rawValue: 11)
    /// SHT_INIT_ARRAY: an array of initialization function pointers (`.init_array`).
    public static let initArray = SectionType(rawValue: 14)
    /// SHT_FINI_ARRAY: an array of termination function pointers (`.fini_array`).
    public static let finiArray = SectionType(rawValue: 15)
    /// SHT_GNU_HASH: the GNU symbol hash table (`.gnu.hash`, ``DynamicTag/gnuHash``).
    public static let gnuHash = SectionType(rawValue: 0x6fff_fff6)
    /// SHT_GNU_verdef: the version definitions (`.gnu.version_d`, ``DynamicTag/verdef``).
    public static let gnuVerdef = SectionType(rawValue: 0x6fff_fffd)
    /// SHT_GNU_verneed: the version requirements (`.gnu.version_r`, ``DynamicTag/verneed``).
    public static let gnuVerneed = SectionType(rawValue: 0x6fff_fffe)
    /// SHT_GNU_versym: the symbol version table (`.gnu.version`, ``DynamicTag/versym``).
    public static let gnuVersym = SectionType(rawValue: 0x6fff_ffff)

    /// The gABI and GNU names (`SHT_DYNAMIC`) of the types above, which `description` prints.
    public static let names: KeyValuePairs<UInt32, String> = [
        0: "SHT_NULL", 1: "SHT_PROGBITS", 2: "SHT_SYMTAB", 3: "SHT_STRTAB", 4: "SHT_RELA",
        5: "SHT_HASH", 6: "SHT_DYNAMIC", 7: "SHT_NOTE", 8: "SHT_NOBITS", 9: "SHT_REL",
        11: "SHT_DYNSYM", 14: "SHT_INIT_ARRAY", 15: "SHT_FINI_ARRAY", 0x6fff_fff6: "SHT_GNU_HASH",
        0x6fff_fffd: "SHT_GNU_verdef", 0x6fff_fffe: "SHT_GNU_verneed", 0x6fff_ffff: "SHT_GNU_versym",
    ]
}

/// A section's attribute bits (`sh_flags`, SHF_*); only those that matter to layout have
/// static members.
public struct SectionFlags: OptionSet, Hashable, Sendable {
    /// The section header's `sh_flags` value, zero-extended from Elf32's 32 bits; bits
    /// without a static member are kept.
    public let rawValue: UInt64
    /// The flags of an `sh_flags` value.
    /// - Parameter rawValue: the `sh_flags` value.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// SHF_WRITE: the section is writable at run time.
    public static let write = SectionFlags(rawValue: 0x1)
    /// SHF_ALLOC: the section is in memory at run time (inside a `PT_LOAD` segment);
    /// without it, the section is only in the file (symbols, debug information).
    public static let alloc = SectionFlags(rawValue: 0x2)
    /// SHF_EXECINSTR: the section holds machine instructions.
    public static let execInstr = SectionFlags(rawValue: 0x4)
    /// SHF_TLS: the section holds thread-local storage (the `PT_TLS` template).
    public static let tls = SectionFlags(rawValue: 0x400)
}
