// One idiom for every constant type here and in its sibling files: see NamedConstant.swift.
/// The operating system and ABI the object targets (`e_ident[EI_OSABI]`), ELFOSABI_*.
///
/// glibc's loader refuses to load a library whose value is neither ``systemV`` nor
/// ``linux``; patchelf's `--set-os-abi` changes it (``EditRequest/osABI``).
public struct OSABI: NamedConstant {
    /// The byte at `e_ident[EI_OSABI]` (offset 7).
    public let rawValue: UInt8
    /// The OS/ABI with this `EI_OSABI` byte, named or not.
    /// - Parameter rawValue: the `EI_OSABI` byte.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// ELFOSABI_SYSV (ELFOSABI_NONE): no OS-specific extensions; what most Linux objects carry.
    public static let systemV = OSABI(rawValue: 0)
    /// ELFOSABI_HPUX: Hewlett-Packard HP-UX.
    public static let hpux = OSABI(rawValue: 1)
    /// ELFOSABI_NETBSD: NetBSD.
    public static let netBSD = OSABI(rawValue: 2)
    /// ELFOSABI_GNU (ELFOSABI_LINUX): the object uses GNU extensions, such as `STT_GNU_IFUNC`
    /// symbols or `STB_GNU_UNIQUE` bindings.
    public static let linux = OSABI(rawValue: 3)
    /// ELFOSABI_HURD: GNU/Hurd.
    public static let gnuHurd = OSABI(rawValue: 4)
    /// ELFOSABI_SOLARIS: Sun Solaris.
    public static let solaris = OSABI(rawValue: 6)
    /// ELFOSABI_AIX: IBM AIX.
    public static let aix = OSABI(rawValue: 7)
    /// ELFOSABI_IRIX: SGI IRIX.
    public static let irix = OSABI(rawValue: 8)
    /// ELFOSABI_FREEBSD: FreeBSD.
    public static let freeBSD = OSABI(rawValue: 9)
    /// ELFOSABI_TRU64: Compaq TRU64 UNIX.
    public static let tru64 = OSABI(rawValue: 10)
    /// ELFOSABI_MODESTO: Novell Modesto.
    public static let modesto = OSABI(rawValue: 11)
    /// ELFOSABI_OPENBSD: OpenBSD.
    public static let openBSD = OSABI(rawValue: 12)
    /// ELFOSABI_ARM: ARM-specific ABI extensions.
    public static let arm = OSABI(rawValue: 97)
    /// ELFOSABI_STANDALONE: a standalone (embedded) application with no operating system.
    public static let standalone = OSABI(rawValue: 255)

    /// The gABI names (`ELFOSABI_GNU`) of the values above, which `description` prints.
    public static let names: KeyValuePairs<UInt8, String> = [
        0: "ELFOSABI_SYSV", 1: "ELFOSABI_HPUX", 2: "ELFOSABI_NETBSD", 3: "ELFOSABI_GNU",
        4: "ELFOSABI_HURD", 6: "ELFOSABI_SOLARIS", 7: "ELFOSABI_AIX", 8: "ELFOSABI_IRIX",
        9: "ELFOSABI_FREEBSD", 10: "ELFOSABI_TRU64", 11: "ELFOSABI_MODESTO",
        12: "ELFOSABI_OPENBSD", 97: "ELFOSABI_ARM", 255: "ELFOSABI_STANDALONE",
    ]
}

/// The object file type (`e_type`), ET_*.
public struct ELFFileType: NamedConstant {
    /// The header's `e_type` value.
    public let rawValue: UInt16
    /// The file type with this `e_type` value, named or not (the OS- and processor-specific
    /// ranges start at `0xfe00`).
    /// - Parameter rawValue: the `e_type` value.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// ET_NONE: no file type.
    public static let none = ELFFileType(rawValue: 0)
    /// ET_REL: a relocatable object file (`.o`), input to the link editor; it has no program
    /// headers to load.
    public static let relocatable = ELFFileType(rawValue: 1)
    /// ET_EXEC: an executable linked at fixed addresses (not position-independent).
    public static let executable = ELFFileType(rawValue: 2)
    /// ET_DYN: a shared object: a shared library or a position-independent executable
    /// (``DynamicFlags1/pie``, when the linker set it, tells them apart).
    public static let sharedObject = ELFFileType(rawValue: 3)
    /// ET_CORE: a core dump.
    public static let core = ELFFileType(rawValue: 4)
    /// The gABI names (`ET_DYN`) of the values above, which `description` prints.
    public static let names: KeyValuePairs<UInt16, String> = [0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"]
}

/// The processor architecture the object is built for (`e_machine`), EM_*.
///
/// Only the architectures Linux runs and swelf tests have static members; the class
/// (32/64 bits) and byte order are in ``ELFFormat``, not here.
public struct ELFMachine: NamedConstant {
    /// The header's `e_machine` value.
    public let rawValue: UInt16
    /// The machine with this `e_machine` value, named or not.
    /// - Parameter rawValue: the `e_machine` value.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// EM_386: Intel 80386 (32-bit x86).
    public static let i386 = ELFMachine(rawValue: 3)
    /// EM_68K: Motorola 68000.
    public static let m68k = ELFMachine(rawValue: 4)
    /// EM_MIPS: MIPS (32- and 64-bit, either byte order).
    public static let mips = ELFMachine(rawValue: 8)
    /// EM_PPC: 32-bit PowerPC.
    public static let powerPC = ELFMachine(rawValue: 20)
    /// EM_PPC64: 64-bit PowerPC (`ppc64` big-endian and `ppc64le`).
    public static let powerPC64 = ELFMachine(rawValue: 21)
    /// EM_S390: IBM S/390 and z/Architecture (`s390x` when ELFCLASS64).
    public static let s390 = ELFMachine(rawValue: 22)
    /// EM_ARM: 32-bit ARM.
    public static let arm = ELFMachine(rawValue: 40)
    /// EM_SPARCV9: 64-bit SPARC (SPARC V9).
    public static let sparcV9 = ELFMachine(rawValue: 43)
    /// EM_IA_64: Intel Itanium.
    public static let ia64 = ELFMachine(rawValue: 50)
    /// EM_X86_64: AMD x86-64.
    public static let x86_64 = ELFMachine(rawValue: 62)
    /// EM_AARCH64: 64-bit ARM (AArch64).
    public static let aarch64 = ELFMachine(rawValue: 183)
    /// EM_RISCV: RISC-V (32- and 64-bit).
    public static let riscv = ELFMachine(rawValue: 243)
    /// EM_LOONGARCH: LoongArch.
    public static let loongArch = ELFMachine(rawValue: 258)

    /// The gABI names (`EM_X86_64`) of the values above, which `description` prints.
    public static let names: KeyValuePairs<UInt16, String> = [
        3: "EM_386", 4: "EM_68K", 8: "EM_MIPS", 20: "EM_PPC", 21: "EM_PPC64", 22: "EM_S390",
        40: "EM_ARM", 43: "EM_SPARCV9", 50: "EM_IA_64", 62: "EM_X86_64", 183: "EM_AARCH64",
        243: "EM_RISCV", 258: "EM_LOONGARCH",
    ]

    /// The name users know the architecture by (as `uname -m` would print it), or
    /// "machine N" for a value without a static member.
    public var commonName: String {
        switch rawValue {
        case 3: return "i386"
        case 4: return "m68k"
        case 8: return "mips"
        case 20: return "ppc"
        case 21: return "ppc64"
        case 22: return "s390"
        case 40: return "arm"
        case 43: return "sparc64"
        case 50: return "ia64"
        case 62: return "x86_64"
        case 183: return "aarch64"
        case 243: return "riscv"
        case 258: return "loongarch"
        default: return "machine \(rawValue)"
        }
    }

    /// The largest page size, in bytes, the architecture's Linux ports use: 4 KiB on x86,
    /// s390 and RISC-V, 64 KiB elsewhere and for unknown machines. New PT_LOAD segments are
    /// aligned to it, when the file's own PT_LOAD segments give no alignment, so the file
    /// loads whatever page size the running kernel has.
    public var maximumPageSize: UInt64 {
        switch rawValue {
        case 3, 62: return 0x1000
        case 22: return 0x1000
        case 40: return 0x10000
        case 183, 21, 20, 8, 258, 50, 43: return 0x10000
        case 243: return 0x1000
        default: return 0x10000
        }
    }
}
