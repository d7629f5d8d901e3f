import ELFKit

/// The read-only half of a patchelf-style invocation: `--print-*` for one file,
/// with patchelf's output format and messages.
struct FilePrinter {
    let file: ELFFile
    let output: OutputStream

    func print(_ request: PrintRequest) throws {
        switch request {
        case .interpreter:
            guard let interpreter = try file.rawInterpreter() else { throw CommandError(FilePrinter.missing(".interp", in: file)) }
            output.line(bytes: interpreter)
        case .osABI:
            output.line(OSABINames.name(of: file.header.osABI) ?? "0x\(String(file.header.osABI.rawValue, radix: 16))")
        case .soname:
            // patchelf prints nothing, successfully, for a file without DT_SONAME, for
            // one without a dynamic section, and for anything but ET_DYN.
            if file.header.type == .sharedObject, let dynamic = try file.dynamic(), let offset = dynamic.first(.soname) {
                output.line(bytes: try dynamic.rawString(at: offset))
            }
        case .rpath:
            guard let dynamic = try requireDynamic() else { return }
            // DT_RUNPATH wins when both are present: it is the one the loader uses.
            if let offset = dynamic.first(.runpath) ?? dynamic.first(.rpath) {
                output.line(bytes: try dynamic.rawString(at: offset))
            } else {
                output.line("")
            }
        case .needed:
            guard let dynamic = try requireDynamic() else { return }
            for offset in dynamic.all(.needed) { output.line(bytes: try dynamic.rawString(at: offset)) }
        case .execstack:
            let state: String
            switch file.executableStack {
            case .some(true): state = "X"
            case .some(false): state = "-"
            case .none: state = "?"
            }
            output.line("execstack: \(state)")
        }
    }

    /// The dynamic section; as patchelf, through the section header when PT_DYNAMIC is
    /// empty or absent. Nil when the file records one that holds nothing (an empty
    /// PT_DYNAMIC and a SHT_NOBITS .dynamic, as `objcopy --only-keep-debug` leaves them:
    /// patchelf prints nothing for it, successfully).
    private func requireDynamic() throws -> DynamicSection? {
        if let dynamic = try file.dynamic() ?? DynamicSection.readThroughSectionHeader(from: file) { return dynamic }
        guard file.firstSegment(.dynamic) != nil || file.sectionHeaders.contains(where: { $0.type == .dynamic }) else {
            throw CommandError(FilePrinter.missing(".dynamic", in: file))
        }
        return nil
    }

    /// patchelf's message for a missing section. patchelf guesses "most likely statically
    /// linked"; it never meets anything else, since it refuses every type but ET_EXEC and
    /// ET_DYN. swelf reads any ELF file, so for a core dump or an object file it names
    /// what the file is. The start of the message stays patchelf's, for scripts that match it.
    static func missing(_ section: String, in file: ELFFile) -> String {
        if let kind = UnloadableKind(file) { return "cannot find section '\(section)'. The input file is \(kind)" }
        return "cannot find section '\(section)'. The input file is most likely statically linked"
    }
}

/// A failure while carrying out a command on a file, reported as one line.
struct CommandError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
