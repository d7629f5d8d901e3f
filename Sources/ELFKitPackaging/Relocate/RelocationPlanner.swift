#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

/// One place in a file where OLD is rewritten to NEW, or could not be.
package struct RelocationSite: Sendable {
    package enum Kind: String, Sendable {
        case runPath = "run_path", interpreter, needed, soname, data, text, symlink
        /// OLD found where nothing rewrites it (debug information, code, a binary that is
        /// not ELF): reported with the reason, never written, never a refusal.
        case left
    }
    package var kind: Kind
    /// The section of a data string (by its name in the section name table).
    package var section: String?
    /// The file offset of the string (a data or text site); nil for a dynamic string,
    /// which the rewrite engine places where it fits.
    package var offset: UInt64?
    package var before: [UInt8]
    package var after: [UInt8]
    /// Why the site is not rewritten (and so its file is not written); nil when it is.
    package var refusal: String?
    /// How a shorter data string keeps its room: NULs after it (`nul`), or extra `/` after
    /// each new prefix (`slash`, same length); nil when it did not shrink.
    package var padding: String?
    /// For a `left` site: how many occurrences, where, and why they stay.
    package var left: String?

    package init(kind: Kind, section: String? = nil, offset: UInt64? = nil, before: [UInt8], after: [UInt8],
                 refusal: String? = nil, padding: String? = nil, left: String? = nil) {
        self.kind = kind
        self.section = section
        self.offset = offset
        self.before = before
        self.after = after
        self.refusal = refusal
        self.padding = padding
        self.left = left
    }
}

/// What `swelf relocate` does to one file: its sites and the changes they make.
package struct RelocationFilePlan: Sendable {
    package enum FileKind: String, Sendable { case elf, text, symlink, other }
    package var path: String
    package var kind: FileKind
    package var sites: [RelocationSite] = []
    /// The rewrite engine's part of an ELF file: run path, interpreter, DT_NEEDED, soname.
    package var request = EditRequest()
    /// The data strings of an ELF file, rewritten in place: each at its file offset, the
    /// new string followed by NULs up to the old string's end.
    package var dataPatches: [(offset: UInt64, bytes: [UInt8])] = []
    /// A text file's new content.
    package var newText: [UInt8]?
    /// A symbolic link's new target.
    package var newTarget: [UInt8]?
    /// Messages that do not stop the file (a shebang longer than the kernel reads).
    package var warnings: [String] = []
    /// `--origin` left a run-path entry absolute: the file lies under no OLD and no NEW,
    /// so where it will be is unknown (one warning for the run counts these).
    package var originKeptAbsolute = false

    package init(path: String, kind: FileKind) {
        self.path = path
        self.kind = kind
    }

    /// A site was refused: the file is left as it is.
    package var isRefused: Bool { sites.contains { $0.refusal != nil } }
    /// Something to write.
    package var changes: Bool { !isRefused && sites.contains { $0.refusal == nil && $0.kind != .left } }
}

/// Finds the sites of one file (`plan(path:)`). It reads the file once: mapped, searched
/// for each OLD with `memmem`, and only a file that holds one is parsed.
///
/// ELF files: the dynamic strings (every DT_RPATH/DT_RUNPATH entry, PT_INTERP, DT_NEEDED,
/// DT_SONAME starting with OLD as a path prefix) become an `EditRequest`, so a longer NEW
/// grows through the rewrite engine. Data strings: NUL-terminated strings in allocated
/// PROGBITS sections that are neither executable nor compressed, outside PT_INTERP and
/// the dynamic string table, holding OLD at their start or after a separator. They are
/// rewritten in place: NEW no longer than OLD, NUL-padded at the end of that C string
/// (conda's binary mode); a longer result is refused, naming file, section and offset:
/// the string cannot grow without moving whatever follows it, and code holds its address.
/// A string whose length is compiled into the code is not ended by its NUL: a C++
/// `std::string` built from a literal (GCC folds `strlen` of a literal at -O2, and
/// `operator""s` takes the length as a constant at every level), a Go or Rust string. NUL padding
/// would leave such a string its old length, with NULs inside: `dir + "/data"` then names
/// `dir` alone for every C function (tesseract-ocr 4239 under conda). So in a file that
/// needs a C++ standard library (libstdc++, libc++) or is a Go or Rust program, a shorter NEW is
/// padded with extra `/` instead (`RelocationMap.apply(padWithSlashes:)`): the string
/// keeps its length and names the same directory.
///
/// A Go program's strings have no NUL and no separator between them either: the linker
/// packs every string constant back to back (`go:string.*`), so OLD at the start of a Go
/// string follows the last byte of another (`…methodOLD/share`), and a C string there
/// runs over many Go strings. In a Go program each occurrence of OLD followed by a path
/// end (`/`, a separator, a NUL, the section's end) is therefore a site of its own: OLD's
/// bytes alone become NEW and its slash padding, nothing around them changes, and a
/// longer NEW is refused at that occurrence's offset (`planPackedStrings`). rustc merges
/// its `&str` literals the same way (`…/prefix/build/prefix/share/app/data/rustc/…` in
/// one program), so a Rust program (`PackedStrings`) gets the same rule.
///
/// Text files (not ELF, no NUL in the first block): OLD replaced everywhere it starts a
/// path (`RelocationMap.apply(anywhere: true)`). Symbolic links: an absolute target
/// starting with OLD is re-pointed.
package struct RelocationPlanner: Sendable {
    package let map: RelocationMap
    /// `--origin`: run-path entries sent into the moved tree are written `$ORIGIN`-relative.
    package let origin: OriginRelativePath?

    package init(map: RelocationMap, origin: Bool = false) {
        self.map = map
        self.origin = origin ? OriginRelativePath(map: map) : nil
    }

    /// The block a file is judged text or binary by: a NUL in it means binary (as git and
    /// grep decide).
    static let textProbe = 8192

    /// The plan of `path` (a regular file or a symbolic link, as `lstat` says); nil when
    /// it holds no OLD, or is neither ELF nor text.
    package func plan(path: String) throws(RelocationError) -> RelocationFilePlan? {
        var status = stat()
        guard lstat(path, &status) == 0 else { throw RelocationError(path: path, "cannot stat: \(String(cString: strerror(errno)))") }
        switch status.st_mode & S_IFMT {
        case S_IFLNK: return try planLink(path)
        case S_IFREG: break
        default: throw RelocationError(path: path, "not a regular file, directory or symbolic link; left alone")
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard descriptor >= 0 else { throw RelocationError(path: path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw RelocationError(path: path, "changed while it was read")
        }
        let size = Int(status.st_size)
        guard size > 0 else { return nil }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), mapped != MAP_FAILED else {
            throw RelocationError(path: path, "cannot map: \(String(cString: strerror(errno)))")
        }
        defer { munmap(mapped, size) }
        let bytes = UnsafeRawBufferPointer(start: mapped, count: size)
        // The fast path of almost every file of a tree: no OLD, nothing more read.
        guard map.occurs(in: bytes) else { return nil }
        if size >= 4, bytes[0] == 0x7f, bytes[1] == UInt8(ascii: "E"), bytes[2] == UInt8(ascii: "L"), bytes[3] == UInt8(ascii: "F") {
            return try planELF(path, bytes)
        }
        guard !bytes[..<min(size, RelocationPlanner.textProbe)].contains(0) else {
            // Neither ELF nor text (an archive, an image, compiled Python): OLD stays, said so.
            var plan = RelocationFilePlan(path: path, kind: .other)
            plan.sites = [RelocationSite(kind: .left, before: [], after: [],
                                         left: "\(map.count(in: bytes)) occurrence(s) in a file that is neither ELF nor text: left as it is")]
            return plan
        }
        return planText(path, Array(bytes))
    }

    func planLink(_ path: String) throws(RelocationError) -> RelocationFilePlan? {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = buffer.withUnsafeMutableBytes { readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        guard count >= 0 else { throw RelocationError(path: path, "cannot read the link: \(String(cString: strerror(errno)))") }
        let target = Array(buffer[..<count])
        guard target.first == UInt8(ascii: "/"), let after = map.apply(to: target[...], anywhere: false).map(\.result) else { return nil }
        var plan = RelocationFilePlan(path: path, kind: .symlink)
        plan.sites = [RelocationSite(kind: .symlink, before: target, after: after)]
        plan.newTarget = after
        return plan
    }

    func planText(_ path: String, _ bytes: [UInt8]) -> RelocationFilePlan? {
        guard let (result, offsets) = map.apply(to: bytes[...], anywhere: true) else { return nil }
        var plan = RelocationFilePlan(path: path, kind: .text)
        // One site per replacement, with the line it is on as before and after.
        for offset in offsets {
            let lineStart = bytes[..<offset].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
            let lineEnd = bytes[offset...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            let line = bytes[lineStart ..< lineEnd]
            plan.sites.append(RelocationSite(kind: .text, offset: UInt64(offset), before: Array(line),
                                             after: map.apply(to: line, anywhere: true)?.result ?? Array(line)))
        }
        plan.newText = result
        // The kernel reads a shebang line from the first 256 bytes (BINPRM_BUF_SIZE): a
        // longer one loses its interpreter or its argument.
        if result.starts(with: Array("#!".utf8)) {
            let firstLine = result.firstIndex(of: UInt8(ascii: "\n")) ?? result.count
            if firstLine >= 256 {
                plan.warnings.append("\(path): the new #! line is \(firstLine) bytes; the kernel reads only 255")
            }
        }
        return plan
    }

    /// `bytes` is the file as mapped: read in place (no copy of a large program is made),
    /// and valid only during the call, so nothing read from it outlives it but copies.
    func planELF(_ path: String, _ bytes: UnsafeRawBufferPointer) throws(RelocationError) -> RelocationFilePlan? {
        let file: ELFFile
        do { file = try ELFFile(source: MappedByteSource(bytes)) } catch {
            throw RelocationError(path: path, "not a valid ELF file: \(error)")
        }
        var plan = RelocationFilePlan(path: path, kind: .elf)
        // Ranges whose strings belong to the engine (PT_INTERP, the dynamic string table).
        var engineRanges: [Range<UInt64>] = []
        do {
            if let interp = file.firstSegment(.interp) {
                engineRanges.append(RelocationPlanner.range(interp.offset, interp.fileSize))
                if let old = try file.rawInterpreter(), let new = map.apply(to: old[...], anywhere: false)?.result {
                    plan.request.interpreter = new
                    plan.sites.append(RelocationSite(kind: .interpreter, before: old, after: new))
                }
            }
            if let dynamic = try file.dynamic() {
                if let offset = dynamic.stringTableOffset {
                    engineRanges.append(RelocationPlanner.range(offset, dynamic.stringTableSize))
                }
                try planDynamic(dynamic, into: &plan)
            }
        } catch {
            throw RelocationError(path: path, "\(error)")
        }
        let packed = PackedStrings.language(of: file)
        let needed = (try? file.dynamic()?.needed()) ?? []
        let cxx = needed.contains { $0.hasPrefix("libstdc++.so") || $0.hasPrefix("libc++.so") }
        planData(file, bytes, excluding: engineRanges, keepLength: packed != nil || cxx, packed: packed, into: &plan)
        planLeftovers(file, bytes, excluding: engineRanges, into: &plan)
        return plan.sites.isEmpty ? nil : plan
    }

    /// Run paths entry by entry (a `$ORIGIN` entry or another prefix stays as it is),
    /// the DT_NEEDED paths and the soname.
    func planDynamic(_ dynamic: DynamicSection, into plan: inout RelocationFilePlan) throws(ELFError) {
        // The run path the loader reads: DT_RUNPATH when there is one (glibc then ignores
        // DT_RPATH), else DT_RPATH, which is kept a DT_RPATH (forceRPath): turning it into
        // DT_RUNPATH would change the search order for the libraries' own dependencies.
        let runPathValue = dynamic.first(.runpath) ?? dynamic.first(.rpath)
        if let value = runPathValue {
            let old = try dynamic.rawString(at: value)
            var changed = false
            // With --origin, where the file will be, found once (nil: it stays absolute).
            var directory: [UInt8]??
            let path = plan.path
            let entries = old.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false).map { entry -> [UInt8] in
                guard var new = map.apply(to: entry, anywhere: false)?.result else { return Array(entry) }
                if let origin {
                    if directory == nil { directory = .some(origin.directoryAfterMove(of: path)) }
                    if let after = directory ?? nil, let relative = origin.entry(new, mappedFrom: entry, directory: after) {
                        new = relative
                    } else {
                        plan.originKeptAbsolute = true
                    }
                }
                changed = true
                plan.sites.append(RelocationSite(kind: .runPath, before: Array(entry), after: new))
                return new
            }
            if changed {
                plan.request.runPath = .set(Array(entries.joined(separator: [UInt8(ascii: ":")])))
                plan.request.forceRPath = dynamic.first(.runpath) == nil
            }
        }
        for value in dynamic.all(.needed) {
            let old = try dynamic.rawString(at: value)
            if let new = map.apply(to: old[...], anywhere: false)?.result, !plan.request.replaceNeeded.contains(where: { $0.old == old }) {
                plan.request.replaceNeeded.append((old, new))
                plan.sites.append(RelocationSite(kind: .needed, before: old, after: new))
            }
        }
        if let value = dynamic.first(.soname) {
            let old = try dynamic.rawString(at: value)
            if let new = map.apply(to: old[...], anywhere: false)?.result {
                plan.request.soname = new
                plan.sites.append(RelocationSite(kind: .soname, before: old, after: new))
            }
        }
    }

    /// SHF_COMPRESSED: the section's bytes are a zlib or zstd stream, never a C string.
    static let compressedFlag: UInt64 = 0x800

    /// The data strings: each C string of an eligible section that holds OLD where a path
    /// may start; with `packed` (a Go or Rust program), each occurrence of OLD instead.
    func planData(_ file: ELFFile, _ bytes: UnsafeRawBufferPointer, excluding engineRanges: [Range<UInt64>], keepLength: Bool,
                  packed: PackedStrings?, into plan: inout RelocationFilePlan) {
        let names = file.sectionNames()
        let fileSize = UInt64(bytes.count)
        for (index, section) in file.sectionHeaders.enumerated() {
            guard section.type == .progbits, section.flags.contains(.alloc), !section.flags.contains(.execInstr),
                  section.flags.rawValue & RelocationPlanner.compressedFlag == 0, section.size > 0,
                  section.offset <= fileSize, section.size <= fileSize - section.offset else { continue }
            let range = section.offset ..< section.offset + section.size
            guard !engineRanges.contains(where: { $0.overlaps(range) }) else { continue }
            let name = index < names.count ? names[index] ?? "section \(index)" : "section \(index)"
            let start = Int(section.offset), end = Int(section.offset + section.size)
            if let packed {
                planPackedStrings(bytes, start ..< end, section: name, language: packed, into: &plan)
                continue
            }
            // The C strings holding a hit, by their start, each rewritten once.
            var strings: [Int: Int] = [:]
            do {
                let window = UnsafeRawBufferPointer(rebasing: bytes[start ..< end])
                for pair in map.pairs {
                    var from = 0
                    while let hit = RelocationMap.find(pair.old, in: window, from: from) {
                        from = hit + 1
                        let absolute = start + hit
                        let stringStart = bytes[start ..< absolute].lastIndex(of: 0).map { $0 + 1 } ?? start
                        let stringEnd = bytes[absolute ..< end].firstIndex(of: 0) ?? end
                        strings[stringStart] = stringEnd
                    }
                }
            }
            for (stringStart, stringEnd) in strings.sorted(by: { $0.key < $1.key }) {
                let old = Array(bytes[stringStart ..< stringEnd])
                guard let new = map.apply(to: old[...], anywhere: true, padWithSlashes: keepLength)?.result else { continue }
                var site = RelocationSite(kind: .data, section: name, offset: UInt64(stringStart), before: old, after: new)
                if new.count < old.count {
                    site.padding = "nul"
                } else if keepLength, let unpadded = map.apply(to: old[...], anywhere: true)?.result, unpadded.count < old.count {
                    site.padding = "slash"
                }
                let where_ = "\(plan.path): \(name) at offset 0x\(String(stringStart, radix: 16))"
                if stringEnd == end {
                    site.refusal = "\(where_): the string holding the old prefix has no NUL before the section ends, so its end is unknown"
                } else if new.count > old.count {
                    site.refusal = "\(where_): the new string is \(new.count) bytes, \(new.count - old.count) longer than the \(old.count) the file has room for (a data string cannot grow in place)"
                }
                if site.refusal == nil {
                    plan.dataPatches.append((UInt64(stringStart), new + [UInt8](repeating: 0, count: old.count - new.count)))
                }
                plan.sites.append(site)
            }
        }
    }
}

extension RelocationPlanner {
    /// The data sites of a section whose strings are packed with no NUL between them (a
    /// Go or Rust program's, `PackedStrings`): each occurrence of an OLD followed by a
    /// path end is rewritten to NEW and as many `/` as NEW is shorter, in OLD's bytes
    /// alone. Where a Go string starts is
    /// not in the bytes (its address and length are in the code), so a hit after any byte
    /// counts; one not followed by a path end (OLD then a letter: another path, or the
    /// next string packed right after) is left, and `planLeftovers` says so.
    func planPackedStrings(_ bytes: UnsafeRawBufferPointer, _ section: Range<Int>, section name: String,
                           language: PackedStrings, into plan: inout RelocationFilePlan) {
        let window = UnsafeRawBufferPointer(rebasing: bytes[section])
        var claimed: [Range<Int>] = []
        var sites: [(RelocationSite, [UInt8]?)] = []
        // Longest OLD first (the map's order): a shorter one inside it is the same place.
        for pair in map.pairs {
            var from = 0
            while let hit = RelocationMap.find(pair.old, in: window, from: from) {
                from = hit + 1
                let occurrence = section.lowerBound + hit ..< section.lowerBound + hit + pair.old.count
                guard occurrence.upperBound == section.upperBound || bytes[occurrence.upperBound] == 0
                        || RelocationMap.endsPrefix(bytes[occurrence.upperBound]),
                      !claimed.contains(where: { $0.overlaps(occurrence) }) else { continue }
                claimed.append(occurrence)
                let shorter = max(0, pair.old.count - pair.new.count)
                let after = pair.new + [UInt8](repeating: UInt8(ascii: "/"), count: shorter)
                var site = RelocationSite(kind: .data, section: name, offset: UInt64(occurrence.lowerBound), before: pair.old, after: after,
                                          padding: shorter > 0 ? "slash" : nil)
                if after.count > pair.old.count {
                    site.refusal = "\(plan.path): \(name) at offset 0x\(String(occurrence.lowerBound, radix: 16)): the new prefix is \(after.count) bytes, \(after.count - pair.old.count) longer than the \(pair.old.count) of a \(language.rawValue) string that cannot grow in place (its length is in the code, and other strings follow it)"
                }
                sites.append((site, site.refusal == nil ? after : nil))
            }
        }
        for (site, patch) in sites.sorted(by: { $0.0.offset ?? 0 < $1.0.offset ?? 0 }) {
            if let patch, let offset = site.offset { plan.dataPatches.append((offset, patch)) }
            plan.sites.append(site)
        }
    }

    /// `start ..< start + length`, clamped where the sum would overflow (a malformed header).
    static func range(_ start: UInt64, _ length: UInt64) -> Range<UInt64> {
        let (end, overflow) = start.addingReportingOverflow(length)
        return start ..< (overflow ? UInt64.max : end)
    }

    /// The occurrences of OLD in an ELF file that no site covers (outside the data strings
    /// and the engine's PT_INTERP and dynamic string table), one `left` site per section
    /// with the count and the reason, so that a search for OLD after the relocation finds
    /// only what the report says stays.
    func planLeftovers(_ file: ELFFile, _ bytes: UnsafeRawBufferPointer, excluding engineRanges: [Range<UInt64>],
                       into plan: inout RelocationFilePlan) {
        var covered = engineRanges
        for site in plan.sites where site.kind == .data {
            if let offset = site.offset { covered.append(RelocationPlanner.range(offset, UInt64(site.before.count))) }
        }
        let names = file.sectionNames()
        var counts: [Int: Int] = [:]   // section index (-1: none) -> occurrences
        do {
            let whole = bytes
            for pair in map.pairs {
                var from = 0
                while let hit = RelocationMap.find(pair.old, in: whole, from: from) {
                    from = hit + 1
                    let offset = UInt64(hit)
                    guard !covered.contains(where: { $0.contains(offset) }) else { continue }
                    let index = file.sectionHeaders.firstIndex { section in
                        section.type != .nobits && section.type != .null && section.size > 0
                            && offset >= section.offset && offset - section.offset < section.size
                    } ?? -1
                    counts[index, default: 0] += 1
                }
            }
        }
        for (index, count) in counts.sorted(by: { $0.key < $1.key }) {
            let name = index >= 0 && index < names.count ? names[index] ?? "section \(index)" : (index >= 0 ? "section \(index)" : nil)
            var reason = "outside every section"
            if index >= 0 {
                let section = file.sectionHeaders[index]
                if !section.flags.contains(.alloc) {
                    reason = "not loaded (debug information, symbol or file names, comments): never read at run time"
                } else if section.flags.contains(.execInstr) {
                    reason = "in executable code"
                } else if section.flags.rawValue & RelocationPlanner.compressedFlag != 0 {
                    reason = "in a compressed section"
                } else if section.type != .progbits {
                    reason = "in a section of type 0x\(String(section.type.rawValue, radix: 16)), not string data"
                } else {
                    reason = "not where a path starts (no separator before it, or not followed by '/' or the end)"
                }
            }
            plan.sites.append(RelocationSite(kind: .left, section: name, before: [], after: [],
                                             left: "\(count) occurrence(s)\(name.map { " in \($0)" } ?? ""): \(reason)"))
        }
    }
}

/// A mapped file as a `ByteSource`: the reader reads it in place. Valid only while the
/// mapping lives (`RelocationPlanner.plan(path:)` unmaps it when it returns).
final class MappedByteSource: ByteSource {
    let bytes: UnsafeRawBufferPointer
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
    var size: UInt64 { UInt64(bytes.count) }
    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(ELFError) {
        guard Checked.fits(start: offset, length: UInt64(buffer.count), within: size) else {
            throw ELFError(.truncated, "read of \(buffer.count) bytes past the end of the data", offset: offset)
        }
        guard !buffer.isEmpty else { return }
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[Int(offset) ..< Int(offset) + buffer.count]))
    }
}

/// A file that could not be planned, or a site refused: one line naming the file.
package struct RelocationError: Error, CustomStringConvertible {
    package let path: String
    package let message: String
    package init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }
    package var description: String { "\(path): \(message)" }
}
