import ELFKitCore

/// Where each loader that starts a program tells it its program header table is (AT_PHDR),
/// worked out from the file alone, as link-time addresses (the load bias subtracted; every
/// rule adds the same bias). The rules differ, and agree on ordinary files; an edit that
/// adds a PT_LOAD or moves the table can make them disagree, and then the program runs on
/// one kernel and crashes on another (glibc's ld.so takes the load bias to be AT_PHDR minus
/// PT_PHDR's `p_vaddr`, and reads the program headers at AT_PHDR).
///
/// - Linux before 5.18 (`load_elf_binary`): the first PT_LOAD's `p_vaddr` − `p_offset`,
///   plus `e_phoff`.
/// - Linux 5.18 and later (commit 0da1d5002745, "Fix AT_PHDR for unusual ELF files"): the
///   address of `e_phoff` in the PT_LOAD whose file image holds it (the last such PT_LOAD
///   in header order, as its loop keeps overwriting); none: AT_PHDR is the bare load bias.
/// - qemu-user (`linux-user/elfload.c`, `create_elf_tables`): AT_PHDR is `load_addr +
///   e_phoff`, where `load_addr` is the load bias plus `loaddr`, which `load_elf_image`
///   takes as the lowest, over all PT_LOADs, of `p_vaddr - p_offset` (unsigned, so a
///   segment whose `p_vaddr` is below its `p_offset` counts as huge) before qemu 8.2, and
///   of `p_vaddr & TARGET_PAGE_MASK` since (commit "linux-user: Fix loaddr computation for
///   some elf files", sent to the stable branches: Debian 12's 7.2.22 has it, and runs an
///   ET_EXEC whose appended segment has a smaller `p_vaddr - p_offset` than the first;
///   builds without it report the wrong AT_PHDR for such a file). The page mask is taken as 4 KiB,
///   qemu's target page on x86, Arm, RISC-V, MIPS, PowerPC and s390x.
///
/// The verifier keeps its own copy of these rules; the planner must not be asked.
struct LoaderViews {
    /// One loader's rule.
    enum Rule: String, CaseIterable {
        case linuxBefore518 = "Linux before 5.18"
        case linuxSince518 = "Linux 5.18 and later"
        case qemuBefore82 = "qemu-user before 8.2"
        case qemuSince82 = "qemu-user 8.2 and later"
    }

    let file: ELFFile

    /// AT_PHDR under `rule`, nil when that loader finds no table (no PT_LOAD, or Linux 5.18+
    /// with the table in no PT_LOAD's file image).
    func programHeaderAddress(_ rule: Rule) -> UInt64? {
        let loads = file.programHeaders.filter { $0.type == .load }
        let table = file.header.programHeaderOffset
        guard let first = loads.first else { return nil }
        // Addresses modulo 2^64, as the loaders compute them in unsigned longs.
        switch rule {
        case .linuxBefore518:
            return first.virtualAddress &- first.offset &+ table
        case .linuxSince518:
            let holder = loads.last { $0.offset <= table && table - $0.offset < $0.fileSize }
            return holder.map { $0.virtualAddress &+ (table - $0.offset) }
        case .qemuBefore82:
            return loads.map { $0.virtualAddress &- $0.offset }.min()! &+ table
        case .qemuSince82:
            return loads.map { $0.virtualAddress & ~UInt64(0xfff) }.min()! &+ table
        }
    }

    /// The rules' answers, in `Rule` order, for a message.
    func describe() -> String {
        Rule.allCases.map { rule in "\(rule.rawValue): " + (programHeaderAddress(rule).map { "0x\(hex($0))" } ?? "none") }
            .joined(separator: ", ")
    }

    /// Whether every rule finds the table at one address, and the whole table
    /// (`e_phnum` × `e_phentsize` bytes) is the file image of a PT_LOAD there.
    /// - Returns: nil when they do; else the problem, for people.
    func disagreement() -> (StructureProblem.Kind, String)? {
        guard !file.programHeaders.isEmpty, file.programHeaders.contains(where: { $0.type == .load }) else { return nil }
        let answers = Rule.allCases.map(programHeaderAddress)
        guard let address = answers[0], answers.allSatisfy({ $0 == address }) else {
            return (.phdrAddressRulesDisagree, "loaders would report different AT_PHDR values for the program header table at offset 0x\(hex(file.header.programHeaderOffset)) (\(describe()))")
        }
        let size = UInt64(file.programHeaders.count) * file.format.programHeaderSize
        let mapped = file.programHeaders.contains { load in
            load.type == .load && load.virtualAddress <= address && address - load.virtualAddress < load.fileSize
                && Checked.fits(start: address - load.virtualAddress, length: size, within: load.fileSize)
                && load.offset &+ (address - load.virtualAddress) == file.header.programHeaderOffset
        }
        if !mapped {
            return (.phdrAddressNotTable, "AT_PHDR 0x\(hex(address)) is not the program header table (offset 0x\(hex(file.header.programHeaderOffset)), 0x\(hex(size)) bytes) in a PT_LOAD's file image")
        }
        return nil
    }
}
