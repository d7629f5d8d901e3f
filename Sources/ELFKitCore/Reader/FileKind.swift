/// What an ELF file is, when it is not something a loader maps.
///
/// The kernel execs ET_EXEC and ET_DYN files and ld.so loads ET_DYN ones; everything else
/// has no program to start and no dynamic section to read. A message that says "most
/// likely statically linked" about a core dump or an object file sends the user looking
/// for the wrong thing, so the commands name the kind instead.
package enum UnloadableKind: Equatable, Sendable, CustomStringConvertible {
    /// ET_REL: input for the linker (`gcc -c`).
    case relocatable
    /// ET_REL with a `.modinfo` section: the kernel links it in (`insmod`, `modprobe`).
    case kernelModule
    /// ET_CORE: the memory and registers of a process at the moment it stopped.
    case core
    /// ET_NONE, or an OS- or processor-specific type.
    case other(ELFFileType)

    /// The kind of `file`, or nil for a program or a shared library (ET_EXEC, ET_DYN).
    package init?(_ file: ELFFile) {
        switch file.header.type {
        case .executable, .sharedObject: return nil
        case .relocatable: self = file.section(named: ".modinfo") != nil ? .kernelModule : .relocatable
        case .core: self = .core
        default: self = .other(file.header.type)
        }
    }

    /// "a core dump (ET_CORE)": the file named for a message.
    package var name: String {
        switch self {
        case .relocatable: return "a relocatable object (ET_REL)"
        case .kernelModule: return "a kernel module (ET_REL with .modinfo)"
        case .core: return "a core dump (ET_CORE)"
        case .other(let type): return "an ELF file of type \(type)"
        }
    }

    /// What it is for, said after `name`; nil for a type with no known use.
    package var use: String? {
        switch self {
        case .relocatable: return "input for the linker"
        case .kernelModule: return "linked into the kernel by insmod or modprobe"
        case .core: return "the memory of a process that stopped"
        case .other: return nil
        }
    }

    /// "a core dump (ET_CORE), the memory of a process that stopped, not a program or a
    /// shared library".
    package var description: String {
        [name, use, "not a program or a shared library"].compactMap { $0 }.joined(separator: ", ")
    }
}
