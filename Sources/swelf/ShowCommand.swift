import ELFKit

/// `swelf show`: a human (or JSON) summary of what matters for loading a file.
struct ShowCommand {
    let terminal: Terminal
    let json: Bool

    func run(_ files: [String]) -> ExitCode {
        var status = ExitCode.success
        var documents: [JSON] = []
        for path in files {
            do {
                let summary = try FileSummary(file: ELFFile(path: path), path: path)
                if json {
                    documents.append(summary.json)
                } else {
                    terminal.standardOutput.write(summary.text)
                }
            } catch {
                terminal.standardOutput.flush()
                terminal.error("\(error)", file: path)
                status = .failure
            }
        }
        if json {
            let document = files.count == 1 && documents.count == 1 ? documents[0] : .array(documents)
            terminal.standardOutput.line(document.serialized())
        }
        return status
    }
}

/// Everything `show` reports about one file, gathered once and rendered as text or JSON.
struct FileSummary {
    let path: String
    let format: ELFFormat
    let machine: Machine
    let type: FileType
    let osABI: OSABI
    let interpreter: String?
    let linking: String
    let pie: Bool
    let soname: String?
    let needed: [String]
    let runPathTag: String?
    let runPath: String?
    /// When both tags exist: the DT_RPATH the loader ignores.
    let ignoredRPath: String?
    let sectionHeaderCount: Int
    let executableStack: Bool?
    let segmentCount: Int

    init(file: ELFFile, path: String) throws {
        self.path = path
        format = file.format
        machine = file.header.machine
        type = file.header.type
        osABI = file.header.osABI
        interpreter = try file.interpreter()
        let dynamic = try file.dynamic()
        if file.firstSegment(.interp) != nil {
            linking = "dynamic"
        } else if dynamic != nil && type == .sharedObject && file.isStaticPIE {
            linking = "static-pie"
        } else if dynamic != nil {
            linking = type == .sharedObject ? "dynamic (shared library)" : "dynamic (no interpreter)"
        } else {
            linking = "static"
        }
        pie = file.isPIE
        soname = try dynamic?.soname()
        needed = try dynamic?.needed() ?? []
        let rpath = try dynamic?.rpath()
        let runpath = try dynamic?.runpath()
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
        case .relocatable: return "ET_REL (relocatable object)"
        case .core: return "ET_CORE (core dump)"
        default: return type.description
        }
    }

    var text: String {
        var lines: [(String, String)] = [
            ("class", format.description),
            ("machine", "\(machine.commonName) (\(machine))"),
            ("type", typeDescription),
            ("os-abi", OSABINames.name(of: osABI) ?? osABI.description),
            ("linking", linking),
            ("pie", pie ? "yes" : "no"),
            ("interpreter", interpreter ?? "-"),
            ("soname", soname ?? "-"),
            ("needed", needed.isEmpty ? "-" : needed.joined(separator: ", ")),
        ]
        if let runPathTag, let runPath {
            lines.append(("run-path", "\(runPath) (\(runPathTag))"))
        } else {
            lines.append(("run-path", "-"))
        }
        if let ignoredRPath { lines.append(("ignored", "\(ignoredRPath) (DT_RPATH, overridden by DT_RUNPATH)")) }
        lines.append(("sections", sectionHeaderCount == 0 ? "absent (no section header table)" : "\(sectionHeaderCount) section headers"))
        lines.append(("segments", "\(segmentCount) program headers"))
        lines.append(("execstack", executableStack.map { $0 ? "yes" : "no" } ?? "unspecified (no PT_GNU_STACK)"))
        var out = path + ":\n"
        for (key, value) in lines {
            out += "  " + key + ":" + String(repeating: " ", count: max(1, 13 - key.count)) + value + "\n"
        }
        return out
    }

    var json: JSON {
        .object([
            ("file", .string(path)),
            ("class", .int(format.is64 ? 64 : 32)),
            ("endianness", .string(format.isBigEndian ? "big" : "little")),
            ("machine", .string(machine.commonName)),
            ("e_machine", .int(Int64(machine.rawValue))),
            ("type", .string(type.description)),
            ("os_abi", .string(OSABINames.name(of: osABI) ?? osABI.description)),
            ("linking", .string(linking)),
            ("pie", .bool(pie)),
            ("interpreter", .optional(interpreter)),
            ("soname", .optional(soname)),
            ("needed", .array(needed.map(JSON.string))),
            ("run_path_tag", .optional(runPathTag)),
            ("run_path", .optional(runPath)),
            ("ignored_rpath", .optional(ignoredRPath)),
            ("section_headers", .int(Int64(sectionHeaderCount))),
            ("program_headers", .int(Int64(segmentCount))),
            ("executable_stack", executableStack.map(JSON.bool) ?? .null),
        ])
    }
}
