import ELFKit

/// `swelf show`: a human (or JSON) summary of what matters for loading a file.
struct ShowCommand {
    let terminal: Terminal
    let json: Bool

    func run(_ files: [BytePath]) -> ExitCode {
        terminal.eachFile(files, command: "show", json: json) { path in
            do {
                let summary = try FileSummary(file: ELFFile(path: path), path: path)
                if json { return (summary.json, true) }
                terminal.standardOutput.write(bytes: summary.text)
                return (nil, true)
            } catch {
                terminal.standardOutput.flush()
                terminal.error("\(error)", file: path)
                // Errors go to stderr in every form; the JSON holds the file as a failed entry.
                return (json ? JSONEnvelope.entry(file: .bytes(path.bytes), ok: false, error: "\(error)") : nil, false)
            }
        }
    }
}

/// Everything `show` reports about one file, gathered once and rendered as text or JSON.
/// Names and paths stay bytes: the text shows them as the file holds them, the JSON
/// with `JSON.bytes`' escape.
struct FileSummary {
    let path: BytePath
    let format: ELFFormat
    let machine: ELFMachine
    let type: ELFFileType
    let osABI: OSABI
    let interpreter: [UInt8]?
    let linking: String
    /// What the file is when no loader maps it (a core dump, an object file).
    let kind: UnloadableKind?
    let pie: Bool
    let soname: [UInt8]?
    let needed: [[UInt8]]
    let runPathTag: String?
    let runPath: [UInt8]?
    /// When both tags exist: the DT_RPATH the loader ignores.
    let ignoredRPath: [UInt8]?
    let sectionHeaderCount: Int
    let executableStack: Bool?
    let segmentCount: Int

    init(file: ELFFile, path: BytePath) throws {
        self.path = path
        format = file.format
        machine = file.header.machine
        type = file.header.type
        osABI = file.header.osABI
        interpreter = try file.rawInterpreter()
        let dynamic = try file.dynamic()
        kind = UnloadableKind(file)
        if kind != nil {
            // A core dump or an object file is not linked at all: "static" would send
            // the reader looking for a static program.
            linking = "none"
        } else if file.firstSegment(.interp) != nil {
            linking = "dynamic"
        } else if dynamic != nil && type == .sharedObject && file.isStaticPIE {
            linking = "static-pie"
        } else if dynamic != nil {
            linking = type == .sharedObject ? "dynamic (shared library)" : "dynamic (no interpreter)"
        } else {
            linking = "static"
        }
        pie = file.isPIE
        func string(_ tag: DynamicTag) throws -> [UInt8]? {
            guard let dynamic, let offset = dynamic.first(tag) else { return nil }
            return try dynamic.rawString(at: offset)
        }
        soname = try string(.soname)
        needed = try dynamic.map { dynamic in try dynamic.all(.needed).map { try dynamic.rawString(at: $0) } } ?? []
        let rpath = try string(.rpath)
        let runpath = try string(.runpath)
        if let runpath {
            runPathTag = "DT_RUNPATH"
            runPath = runpath
            ignoredRPath = rpath
        } else if let rpath {
            runPathTag = "DT_RPATH"
            runPath = rpath
            ignoredRPath = nil
        } else {
            runPathTag = nil
            runPath = nil
            ignoredRPath = nil
        }
        sectionHeaderCount = file.sectionHeaders.count
        executableStack = file.executableStack
        segmentCount = file.programHeaders.count
    }

    private var typeDescription: String {
        switch type {
        case .executable: return "ET_EXEC (executable)"
        case .sharedObject:
            if pie { return "ET_DYN (position-independent executable)" }
            return linking == "static-pie" ? "ET_DYN (static-pie executable)" : "ET_DYN (shared object)"
        case .relocatable: return kind == .kernelModule ? "ET_REL (kernel module)" : "ET_REL (relocatable object)"
        case .core: return "ET_CORE (core dump)"
        default: return type.description
        }
    }

    var text: [UInt8] {
        let dash = Array("-".utf8)
        var lines: [(String, [UInt8])] = [
            ("class", Array(format.description.utf8)),
            ("machine", Array("\(machine.commonName) (\(machine))".utf8)),
            ("type", Array(typeDescription.utf8)),
            ("os-abi", Array((OSABINames.name(of: osABI) ?? osABI.description).utf8)),
            ("linking", Array(linking.utf8)),
            ("pie", Array((pie ? "yes" : "no").utf8)),
            ("interpreter", interpreter ?? dash),
            ("soname", soname ?? dash),
            ("needed", needed.isEmpty ? dash : Array(needed.joined(separator: Array(", ".utf8)))),
        ]
        if let runPathTag, let runPath {
            lines.append(("run-path", runPath + Array(" (\(runPathTag))".utf8)))
        } else {
            lines.append(("run-path", dash))
        }
        if let ignoredRPath { lines.append(("ignored", ignoredRPath + Array(" (DT_RPATH, overridden by DT_RUNPATH)".utf8))) }
        lines.append(("sections", Array((sectionHeaderCount == 0 ? "absent (no section header table)" : "\(sectionHeaderCount) section headers").utf8)))
        lines.append(("segments", Array("\(segmentCount) program headers".utf8)))
        lines.append(("execstack", Array((executableStack.map { $0 ? "yes" : "no" } ?? "unspecified (no PT_GNU_STACK)").utf8)))
        var out = path.bytes + Array(":\n".utf8)
        for (key, value) in lines {
            out += Array(("  " + key + ":" + String(repeating: " ", count: max(1, 13 - key.count))).utf8) + value + [0x0a]
        }
        return out
    }

    /// The file's entry in `show --json`'s `files`.
    var json: JSON {
        JSONEnvelope.entry(file: .bytes(path.bytes), ok: true, error: nil, [
            ("class", .int(format.is64 ? 64 : 32)),
            ("endianness", .string(format.isBigEndian ? "big" : "little")),
            ("machine", .string(machine.commonName)),
            ("e_machine", .int(Int64(machine.rawValue))),
            ("type", .string(type.description)),
            ("os_abi", .string(OSABINames.name(of: osABI) ?? osABI.description)),
            ("linking", JSONEnvelope.linking(linking)),
            ("pie", .bool(pie)),
            ("interpreter", .optional(bytes: interpreter)),
            ("soname", .optional(bytes: soname)),
            ("needed", .array(needed.map(JSON.bytes))),
            ("run_path_tag", .optional(runPathTag)),
            ("run_path", .optional(bytes: runPath)),
            ("ignored_rpath", .optional(bytes: ignoredRPath)),
            ("section_headers", .int(Int64(sectionHeaderCount))),
            ("program_headers", .int(Int64(segmentCount))),
            ("executable_stack", executableStack.map(JSON.bool) ?? .null),
        ])
    }
}
