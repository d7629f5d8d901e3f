import ELFKitCore
import ELFKitLoader

/// Go programs and the name service: what the build information says and what the
/// program will look for at run time that no DT_NEEDED entry names.
extension Diagnosis {
    // MARK: 6. Go build info

    /// Reads `.go.buildinfo` and explains what it implies here.
    mutating func checkGo(_ file: ELFFile, host: HostFacts) -> GoBuildInfo? {
        let info: GoBuildInfo?
        do {
            info = try GoBuildInfo.read(from: file)
        } catch {
            add(.go, [Finding(.warning, "Go build information present but unreadable: \(error)")])
            return nil
        }
        guard let info else { return nil }
        goBuildInfo = info
        var findings: [Finding] = []
        var summary = info.goVersion
        if let path = info.path, !path.isEmpty { summary += ", \(path)" }
        if let module = info.mainModule, !module.path.isEmpty { summary += " (module \(module.path) \(module.version))" }
        findings.append(Finding(.info, summary, details: info.settings.map { "build \($0.key)=\($0.value)" }))

        if let goos = info.goos, goos != "linux" {
            findings.append(Finding(.fatal, "built for GOOS=\(goos): it cannot run on Linux", fix: "rebuild with GOOS=linux"))
        }
        if let level = info.setting("GOAMD64"), level != "v1", file.header.machine == .x86_64,
           environment.fileSystem.root == nil, environment.platform.source == "ld.so --list-diagnostics" {
            // The Go runtime refuses to start on a CPU below the level it was built for.
            let needed = "x86-64-\(level)"
            if !environment.platform.hwcapsSubdirectories.contains(needed) {
                findings.append(Finding(.fatal, "built with GOAMD64=\(level), but this CPU does not support \(needed): the Go runtime exits at start-up",
                                        fix: "rebuild with GOAMD64=v1 (or the level this CPU supports)"))
            }
        }
        let tags = info.tags
        switch info.cgoEnabled {
        case true?:
            if linking == "dynamic" {
                findings.append(Finding(.info, "CGO_ENABLED=1 and dynamically linked: it needs this machine's C library at run time (see Libraries and Symbol versions); CGO_ENABLED=0 gives a static program with no C library",
                                        details: tags.isEmpty ? [] : ["build tags: \(tags.joined(separator: ", "))"]))
            } else {
                findings.append(Finding(.info, "CGO_ENABLED=1 and statically linked (-extldflags -static): C code is inside; glibc's name service still loads shared NSS modules at run time"))
            }
        case false?:
            findings.append(Finding(.ok, "CGO_ENABLED=0: pure Go, no C library needed\(linking == "static" ? " (statically linked)" : "")"))
        case nil:
            break
        }
        if !tags.isEmpty && info.cgoEnabled != true {
            findings.append(Finding(.info, "build tags: \(tags.joined(separator: ", "))"))
        }
        if let flags = info.setting("-ldflags") { findings.append(Finding(.info, "-ldflags=\(flags)")) }
        if let mode = info.buildMode { findings.append(Finding(.info, "-buildmode=\(mode)")) }
        add(.go, findings)
        return info
    }

    // MARK: Name service (NSS)

    /// A program that resolves host names or users through glibc (getaddrinfo,
    /// getpwnam, …) loads `libnss_<service>.so.2` for each service nsswitch.conf names,
    /// with dlopen, at run time. Missing modules make lookups fail quietly.
    func nameServiceFindings(_ file: ELFFile, resolution: LibraryResolution?, go: GoBuildInfo?) -> [Finding] {
        let fileSystem = environment.fileSystem
        var databases: [String] = []
        var users: [String] = []
        if linking == "static" || linking == "static-pie" {
            // A static glibc program carries the NSS code; it names nsswitch.conf.
            guard go?.cgoEnabled != false, Diagnosis.fileContains(file, Array("/etc/nsswitch.conf".utf8)) else { return [] }
            databases = ["hosts", "passwd", "group"]
            users = ["is statically linked against glibc but uses the name service"]
        } else {
            // The undefined symbols of .dynsym, not the words of .dynstr: linkers share a
            // name's bytes with the tail of a longer one (GNU ld, Go's external link), so
            // `getaddrinfo` may exist only inside `my_getaddrinfo`.
            guard resolution != nil else { return [] }
            let names = VersionedImports.importedNames(of: file)
            if let used = Self.firstUsed(NameServiceImports.hosts, names) {
                databases.append("hosts")
                users.append("resolves host names through the C library (\(used))")
            }
            if let used = Self.firstUsed(NameServiceImports.users, names) {
                databases += ["passwd", "group"]
                users.append("looks up users and groups through the C library (\(used), …)")
            }
        }
        guard !databases.isEmpty else { return [] }
        var findings: [Finding] = []
        let configuration = fileSystem.targetPath("/etc/nsswitch.conf")
        var text = ""
        if let access = fileSystem.accessPath(configuration), let source = try? FileByteSource(path: access),
           let bytes = try? source.bytes(at: 0, count: min(source.size, 1 << 20), "nsswitch.conf") {
            text = String(decoding: bytes, as: UTF8.self)
        }
        var note = "it \(users.joined(separator: " and ")): glibc loads the NSS modules /etc/nsswitch.conf names with dlopen at run time"
        if linking == "static" || linking == "static-pie" {
            note += ", and they must come from the glibc version it was linked with"
            if let version = environment.platform.glibcVersion { note += " (\(glibcOwner) is \(version))" }
        }
        if go != nil { note += " (for Go: the netgo and osusergo build tags, or CGO_ENABLED=0, use Go's own resolver instead)" }
        if text.isEmpty {
            findings.append(Finding(.info, note, details: ["\(configuration) is missing: glibc falls back to files and dns"]))
            return findings
        }
        var details: [String] = []
        var problems: [Finding] = []
        let resolver = LibraryResolver(environment: environment)
        for line in text.split(separator: "\n") {
            let content = line.prefix { $0 != "#" }
            guard let colon = content.firstIndex(of: ":") else { continue }
            let database = content[..<colon].trimmingCharactersInSpaces()
            guard databases.contains(database) else { continue }
            var services: [String] = []
            var inAction = false
            for word in content[content.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                if word.hasPrefix("[") { inAction = true }
                if !inAction { services.append(String(word)) }
                if word.hasSuffix("]") { inAction = false }
            }
            details.append("\(database): \(services.joined(separator: " "))")
            for service in services {
                let module = "libnss_\(service).so.2"
                if let found = resolver.locateForDlopen(module, like: file) {
                    details.append("  \(module) => \(found)")
                } else if service == "files" || service == "dns" {
                    details.append("  \(module): not found; built into libc.so.6 since glibc 2.34")
                } else {
                    problems.append(Finding(.warning, "nsswitch.conf names '\(service)' for \(database), but \(module) is not installed: those lookups fail quietly",
                                            fix: "install the package providing \(module), or remove '\(service)' from the \(database) line"))
                }
            }
        }
        findings.append(Finding(.info, note, details: details))
        return findings + problems
    }

    /// The first (by name) of `symbols` that `imports` contains, if any.
    static func firstUsed(_ symbols: Set<String>, _ imports: Set<String>) -> String? {
        symbols.intersection(imports).sorted().first
    }

    /// Does the file contain these bytes? Reads at most the first 256 MB, in chunks.
    static func fileContains(_ file: ELFFile, _ needle: [UInt8]) -> Bool {
        let source = file.source
        let limit = min(source.size, 256 << 20)
        let chunk: UInt64 = 1 << 20
        var offset: UInt64 = 0
        var carry: [UInt8] = []
        while offset < limit {
            guard let bytes = try? source.bytes(at: offset, count: min(chunk, limit - offset), "file contents") else { return false }
            let window = carry + bytes
            if window.count >= needle.count {
                for start in 0 ... (window.count - needle.count) where window[start] == needle[0] {
                    if window[start ..< start + needle.count].elementsEqual(needle) { return true }
                }
            }
            carry = Array(window.suffix(needle.count - 1))
            offset += UInt64(bytes.count)
        }
        return false
    }
}

extension Substring {
    func trimmingCharactersInSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
