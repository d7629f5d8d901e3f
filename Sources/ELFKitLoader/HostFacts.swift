import ELFKitCore

/// Facts about the machine and user the program would be started by, gathered by the
/// caller (the core reads no global state).
public struct HostFacts: Sendable {
    /// `uname -m`: x86_64, aarch64, …
    public var machineName: String
    /// The real user id (`getuid()`) the program would be started by: decides which
    /// permission bits allow execution, whether a setuid program runs in secure mode, and
    /// whether file capabilities do (they do not for root).
    public var userID: UInt32
    /// The real group id (`getgid()`): decides the group execute bit and whether a
    /// setgid program runs in secure mode.
    public var groupID: UInt32

    /// Facts given by the caller, to diagnose for another machine or user;
    /// ``current()`` reads this machine's.
    ///
    /// - Parameters:
    ///   - machineName: `uname -m` of the machine the program would run on (`x86_64`,
    ///     `aarch64`, …); see ``nativeFormats``.
    ///   - userID: the real user id that would start it.
    ///   - groupID: the real group id that would start it.
    public init(machineName: String, userID: UInt32, groupID: UInt32) {
        self.machineName = machineName
        self.userID = userID
        self.groupID = groupID
    }

    /// The (machine, 64-bit, big-endian) triples this kernel runs natively. A 64-bit
    /// x86 or Arm kernel also runs its 32-bit programs.
    public var nativeFormats: [(machine: ELFMachine, is64: Bool, bigEndian: Bool)] {
        switch machineName {
        case "x86_64": [(.x86_64, true, false), (.i386, false, false), (.x86_64, false, false)]
        case "i386", "i486", "i586", "i686": [(.i386, false, false)]
        case "aarch64": [(.aarch64, true, false), (.arm, false, false)]
        case "aarch64_be": [(.aarch64, true, true)]
        case _ where machineName.hasPrefix("armv") || machineName == "arm": [(.arm, false, false)]
        case "ppc64le": [(.powerPC64, true, false)]
        case "ppc64": [(.powerPC64, true, true), (.powerPC, false, true)]
        case "ppc": [(.powerPC, false, true)]
        case "s390x": [(.s390, true, true), (.s390, false, true)]
        case "riscv64": [(.riscv, true, false)]
        case "mips64": [(.mips, true, true), (.mips, false, true)]
        case "mips": [(.mips, false, true)]
        case "loongarch64": [(.loongArch, true, false)]
        default: []
        }
    }
}
