// One idiom for every constant type here and in its sibling files: see NamedConstant.swift.
/// `e_ident[EI_OSABI]`.
public struct OSABI: NamedConstant {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let systemV = OSABI(rawValue: 0)
    public static let hpux = OSABI(rawValue: 1)
    public static let netBSD = OSABI(rawValue: 2)
    public static let linux = OSABI(rawValue: 3)
    public static let gnuHurd = OSABI(rawValue: 4)
    public static let solaris = OSABI(rawValue: 6)
    public static let aix = OSABI(rawValue: 7)
    public static let irix = OSABI(rawValue: 8)
    public static let freeBSD = OSABI(rawValue: 9)
    public static let tru64 = OSABI(rawValue: 10)
    public static let modesto = OSABI(rawValue: 11)
    public static let openBSD = OSABI(rawValue: 12)
    public static let arm = OSABI(rawValue: 97)
    public static let standalone = OSABI(rawValue: 255)

    public static let names: KeyValuePairs<UInt8, String> = [
        0: "ELFOSABI_SYSV", 1: "ELFOSABI_HPUX", 2: "ELFOSABI_NETBSD", 3: "ELFOSABI_GNU",
        4: "ELFOSABI_HURD", 6: "ELFOSABI_SOLARIS", 7: "ELFOSABI_AIX", 8: "ELFOSABI_IRIX",
        9: "ELFOSABI_FREEBSD", 10: "ELFOSABI_TRU64", 11: "ELFOSABI_MODESTO",
        12: "ELFOSABI_OPENBSD", 97: "ELFOSABI_ARM", 255: "ELFOSABI_STANDALONE",
    ]
}

/// `e_type`.
public struct ELFFileType: NamedConstant {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let none = ELFFileType(rawValue: 0)
    public static let relocatable = ELFFileType(rawValue: 1)
    public static let executable = ELFFileType(rawValue: 2)
    public static let sharedObject = ELFFileType(rawValue: 3)
    public static let core = ELFFileType(rawValue: 4)
    public static let names: KeyValuePairs<UInt16, String> = [0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"]
}

/// `e_machine`.
public struct ELFMachine: NamedConstant {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let i386 = ELFMachine(rawValue: 3)
    public static let m68k = ELFMachine(rawValue: 4)
    public static let mips = ELFMachine(rawValue: 8)
    public static let powerPC = ELFMachine(rawValue: 20)
    public static let powerPC64 = ELFMachine(rawValue: 21)
    public static let s390 = ELFMachine(rawValue: 22)
    public static let arm = ELFMachine(rawValue: 40)
    public static let sparcV9 = ELFMachine(rawValue: 43)
    public static let ia64 = ELFMachine(rawValue: 50)
    public static let x86_64 = ELFMachine(rawValue: 62)
    public static let aarch64 = ELFMachine(rawValue: 183)
    public static let riscv = ELFMachine(rawValue: 243)
    public static let loongArch = ELFMachine(rawValue: 258)

    public static let names: KeyValuePairs<UInt16, String> = [
        3: "EM_386", 4: "EM_68K", 8: "EM_MIPS", 20: "EM_PPC", 21: "EM_PPC64", 22: "EM_S390",
        40: "EM_ARM", 43: "EM_SPARCV9", 50: "EM_IA_64", 62: "EM_X86_64", 183: "EM_AARCH64",
        243: "EM_RISCV", 258: "EM_LOONGARCH",
    ]

    /// The name users know the architecture by (as `uname -m` would print it).
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

    /// The largest page size the architecture's Linux ports use. New PT_LOAD segments are
    /// aligned to it so the file loads whatever page size the running kernel has.
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
