import Foundation

/// What binutils `readelf` says about a file, parsed from `readelf -h -l -d -V -n -W`.
struct ReadelfFacts {
    var elfClass = ""
    var data = ""
    var type = ""
    var machine = ""
    var osABI = ""
    var programHeaderCount = -1
    var sectionHeaderCount = -1
    var interpreter: String?
    var needed: [String] = []
    var soname: String?
    var rpath: String?
    var runpath: String?
    /// Dynamic tags in order, up to and excluding the first NULL.
    var dynamicTags: [UInt64] = []
    /// Flags column of each program header, in order ("R E", "RW ", …), and types.
    var segmentTypes: [String] = []
    var segmentFlags: [String] = []
    /// From -V (only printed when the file has section headers).
    var versionNeedFiles: [String] = []
    var versionNeedNames: [String] = []
    var versionDefinitionNames: [String] = []
    /// (owner, data size) of each note, from -n.
    var notes: [(String, UInt64)] = []

    init(path: String) throws {
        let result = try ChildProcess.run("readelf", ["-h", "-l", "-d", "-V", "-n", "-W", path])
        guard result.status == 0 else { throw Failure(message: "readelf failed on \(path): \(result.stderr)") }
        var inProgramHeaders = false
        var inDynamic = false
        var sawNull = false
        var section = ""
        for rawLine in result.stdout.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            func value(after key: String) -> String? {
                guard trimmed.hasPrefix(key) else { return nil }
                return String(trimmed.dropFirst(key.count)).trimmingCharacters(in: .whitespaces)
            }
            if let v = value(after: "Class:") { elfClass = v }
            else if let v = value(after: "Data:") { data = v }
            else if let v = value(after: "Type:"), type.isEmpty { type = v }
            else if let v = value(after: "Machine:") { machine = v }
            else if let v = value(after: "OS/ABI:") { osABI = v }
            else if let v = value(after: "Number of program headers:") { programHeaderCount = Int(v.split(separator: " ")[0]) ?? -2 }
            else if let v = value(after: "Number of section headers:") { sectionHeaderCount = Int(v.split(separator: " ")[0]) ?? -2 }

            if trimmed.hasPrefix("Program Headers:") { inProgramHeaders = true; continue }
            if inProgramHeaders {
                if trimmed.isEmpty || trimmed.hasPrefix("Section to Segment") { inProgramHeaders = false }
                else if let v = value(after: "[Requesting program interpreter:") { interpreter = String(v.dropLast()) }
                else if !trimmed.hasPrefix("Type ") {
                    // TYPE OFFSET VADDR PADDR FILESZ MEMSZ FLG ALIGN; FLG is 3 columns ("R E").
                    if let match = line.firstMatch(of: /^\s+(\S+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x[0-9a-f]+ (...) (?:0x[0-9a-f]+|0)$/) {
                        segmentTypes.append(String(match.1))
                        segmentFlags.append(String(match.2))
                    } else {
                        segmentTypes.append("unparsed: \(line)")
                        segmentFlags.append("?")
                    }
                }
            }

            if trimmed.hasPrefix("Dynamic section at offset") { inDynamic = true; continue }
            if inDynamic {
                if trimmed.isEmpty { inDynamic = false; continue }
                guard trimmed.hasPrefix("0x") else { continue }
                let tag = UInt64(trimmed.dropFirst(2).prefix { $0.isHexDigit }, radix: 16) ?? .max
                if tag == 0 { sawNull = true }
                if !sawNull { dynamicTags.append(tag) }
                if !sawNull, let bracket = bracketed(trimmed) {
                    if trimmed.contains("(NEEDED)") { needed.append(bracket) }
                    else if trimmed.contains("(SONAME)") { soname = bracket }
                    else if trimmed.contains("(RPATH)") { rpath = bracket }
                    else if trimmed.contains("(RUNPATH)") { runpath = bracket }
                }
            }

            if trimmed.hasPrefix("Version needs section") { section = "verneed"; continue }
            if trimmed.hasPrefix("Version definition section") { section = "verdef"; continue }
            if trimmed.hasPrefix("Version symbols section") || trimmed.hasPrefix("Displaying notes") { section = "" }
            if section == "verneed" {
                if let range = trimmed.range(of: "File: ") {
                    verneedFile(String(trimmed[range.upperBound...]))
                } else if let range = trimmed.range(of: "Name: ") {
                    versionNeedNames.append(String(trimmed[range.upperBound...].prefix { $0 != " " }))
                }
            } else if section == "verdef" {
                if trimmed.contains("Rev: "), let range = trimmed.range(of: "Name: ") {
                    versionDefinitionNames.append(String(trimmed[range.upperBound...]))
                }
            }
            if line.hasPrefix("  "), !trimmed.hasPrefix("Owner"),
               let match = trimmed.firstMatch(of: /^(\S+)\s+0x([0-9a-f]{8})\t/) {
                notes.append((String(match.1), UInt64(match.2, radix: 16)!))
            }
        }

        func verneedFile(_ rest: String) {
            versionNeedFiles.append(String(rest.prefix { $0 != " " }))
        }
        func bracketed(_ text: String) -> String? {
            guard let open = text.firstIndex(of: "["), let close = text.lastIndex(of: "]") else { return nil }
            return String(text[text.index(after: open) ..< close])
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// readelf's Machine: text for the architectures in TestBinaries.
    static let machines: [String: UInt16] = [
        "Advanced Micro Devices X86-64": 62, "Intel 80386": 3, "AArch64": 183, "ARM": 40, "RISC-V": 243,
        "IBM S/390": 22, "PowerPC64": 21, "MIPS R3000": 8, "PowerPC": 20, "LoongArch": 258,
    ]
}
