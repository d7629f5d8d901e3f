// One idiom for every constant type here and in its sibling files: see NamedConstant.swift.
/// A segment's type (`p_type`), PT_*: what the program header describes to the kernel and
/// the loader.
///
/// Values from `0x7000_0000` are processor-specific: the same number means different things
/// on different machines, so ``names`` leaves them out and they print as numbers.
public struct SegmentType: NamedConstant {
    /// The program header's `p_type` value.
    public let rawValue: UInt32
    /// The segment type with this `p_type` value, named or not.
    /// - Parameter rawValue: the `p_type` value.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// PT_NULL: an unused program header, which the loader skips.
    public static let null = SegmentType(rawValue: 0)
    /// PT_LOAD: a loadable segment: `p_filesz` bytes at `p_offset` are mapped at `p_vaddr`, and the
    /// rest of `p_memsz` is zero-filled.
    public static let load = SegmentType(rawValue: 1)
    /// PT_DYNAMIC: where the dynamic section is (``DynamicEntry`` entries the loader reads).
    public static let dynamic = SegmentType(rawValue: 2)
    /// PT_INTERP: the path of the program interpreter (`/lib64/ld-linux-x86-64.so.2`),
    /// NUL-terminated; the kernel runs it to load the program.
    public static let interp = SegmentType(rawValue: 3)
    /// PT_NOTE: notes (``ELFNote``), such as the build ID and the ABI tag.
    public static let note = SegmentType(rawValue: 4)
    /// PT_SHLIB: reserved by the gABI with unspecified meaning.
    public static let shlib = SegmentType(rawValue: 5)
    /// PT_PHDR: where the program header table itself is, in the file and in memory; it must
    /// precede every PT_LOAD entry.
    public static let phdr = SegmentType(rawValue: 6)
    /// PT_TLS: the thread-local storage template.
    public static let tls = SegmentType(rawValue: 7)
    /// PT_GNU_EH_FRAME: the `.eh_frame_hdr` section, which unwinders look up exception frames with.
    public static let gnuEHFrame = SegmentType(rawValue: 0x6474_e550)
    /// PT_GNU_STACK: its flags say whether the stack is executable (``SegmentFlags/execute``);
    /// without it, Linux may make it executable.
    public static let gnuStack = SegmentType(rawValue: 0x6474_e551)
    /// PT_GNU_RELRO: memory the loader makes read-only once relocation is done.
    public static let gnuRelRO = SegmentType(rawValue: 0x6474_e552)
    /// PT_GNU_PROPERTY: the `.note.gnu.property` notes (such as x86 CET and AArch64 BTI markings),
    /// which the kernel and loader read.
    public static let gnuProperty = SegmentType(rawValue: 0x6474_e553)
    /// PT_MIPS_REGINFO (MIPS only): the register usage information (`.reginfo`).
    public static let mipsReginfo = SegmentType(rawValue: 0x7000_0000)
    /// PT_MIPS_ABIFLAGS (MIPS only): the ABI flags (`.MIPS.abiflags`); shares its value with
    /// ``riscvAttributes``.
    public static let mipsABIFlags = SegmentType(rawValue: 0x7000_0003)
    /// PT_ARM_EXIDX (32-bit ARM only): the exception index table (`.ARM.exidx`).
    public static let armExidx = SegmentType(rawValue: 0x7000_0001)
    /// PT_RISCV_ATTRIBUTES (RISC-V only): the `.riscv.attributes` section; shares its value with
    /// ``mipsABIFlags``.
    public static let riscvAttributes = SegmentType(rawValue: 0x7000_0003)

    /// The gABI and GNU names (`PT_LOAD`) of the machine-independent types above, which
    /// `description` prints.
    public static let names: KeyValuePairs<UInt32, String> = [
        0: "PT_NULL", 1: "PT_LOAD", 2: "PT_DYNAMIC", 3: "PT_INTERP", 4: "PT_NOTE", 5: "PT_SHLIB",
        6: "PT_PHDR", 7: "PT_TLS", 0x6474_e550: "PT_GNU_EH_FRAME", 0x6474_e551: "PT_GNU_STACK",
        0x6474_e552: "PT_GNU_RELRO", 0x6474_e553: "PT_GNU_PROPERTY",
    ]
}

/// A segment's permissions (`p_flags`, PF_*): how the loader maps its memory.
public struct SegmentFlags: OptionSet, Hashable, Sendable {
    /// The program header's `p_flags` value; bits without a static member are kept.
    public let rawValue: UInt32
    /// The flags of a `p_flags` value.
    /// - Parameter rawValue: the `p_flags` value.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// PF_X: the segment is executable.
    public static let execute = SegmentFlags(rawValue: 1)
    /// PF_W: the segment is writable.
    public static let write = SegmentFlags(rawValue: 2)
    /// PF_R: the segment is readable.
    public static let read = SegmentFlags(rawValue: 4)
}
