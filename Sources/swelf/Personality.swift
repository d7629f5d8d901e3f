#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKit

/// Which program swelf is being: itself, or (run through a link named `patchelf`) a
/// drop-in for NixOS patchelf.
///
/// As `patchelf`, swelf takes patchelf's command line and answers as patchelf does:
/// `--version` names the patchelf release whose interface it implements, messages start
/// with `patchelf: ` and use patchelf's texts where a text names a failure class that
/// scripts match, every failure (usage errors included) exits with 1, help goes to
/// stderr, no arguments at all print the help and fail, and the commands (`show`,
/// `doctor`, …) are not recognised: patchelf would take them for file names.
enum Personality: Equatable {
    case swelf
    case patchelf

    /// The release of patchelf whose command line and messages swelf follows.
    static let patchelfRelease = "0.19.3"

    /// The personality for the name the program was run under (argv[0]).
    static func forProgramName(_ argv0: String) -> Personality {
        let name = argv0.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? argv0
        return name == "patchelf" ? .patchelf : .swelf
    }

    var programName: String { self == .patchelf ? "patchelf" : "swelf" }

    /// `--version`. As patchelf: `patchelf 0.19.3+swelf.0.1.0`. The swelf version is
    /// semantic-versioning build metadata, so both known version checks accept it:
    /// auditwheel's `re.match(r"patchelf\s+(\d+(.\d+(.\d+)?)?)", …)` reads 0.19.3, and
    /// maturin strips the `patchelf` prefix and parses the rest as a semver version,
    /// which `0.19.3 (swelf 0.1.0)` would fail.
    func versionLine(swelfVersion: String) -> String {
        switch self {
        case .swelf: return "swelf \(swelfVersion)"
        case .patchelf: return "patchelf \(Personality.patchelfRelease)+swelf.\(swelfVersion)"
        }
    }

    /// Usage errors: 64 (sysexits) as swelf; 1 as patchelf, which has a single failure status.
    var usageStatus: ExitCode { self == .patchelf ? .failure : .usage }
}

/// patchelf's view of an input file, checked before swelf reads it, so that the messages
/// scripts match ("not an ELF executable", "missing ELF header", "wrong ELF type",
/// "getting info about 'F': …") come out as patchelf words them. The order of the checks
/// is patchelf's.
enum PatchelfInputCheck {
    static func problem(path: BytePath) -> String? {
        var status = stat()
        guard path.withCString({ stat($0, &status) }) == 0 else {
            return "getting info about '\(path)': \(String(cString: strerror(errno)))"
        }
        let descriptor = path.withCString { open($0, O_RDONLY | O_CLOEXEC) }
        guard descriptor >= 0 else { return "opening '\(path)': \(String(cString: strerror(errno)))" }
        defer { close(descriptor) }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            return "reading '\(path)': \(String(cString: strerror(EISDIR)))"
        }
        // A non-regular file (a device, a FIFO) has no size: patchelf reads nothing.
        let fileSize = (status.st_mode & S_IFMT) == S_IFREG ? Int(status.st_size) : 0
        var header = [UInt8](repeating: 0, count: 64)
        let count = min(fileSize, header.count)
        var done = 0
        while done < count {
            let n = header.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return "reading '\(path)': \(String(cString: strerror(n < 0 ? errno : EIO)))" }
            done += n
        }
        return headerProblem(header, fileSize: UInt64(fileSize))
    }

    /// patchelf's checks of the ELF header, in its order, on the file's first (up to) 64
    /// bytes, zero-padded: `fileSize` says how many are the file's. The fields are read
    /// with the core's sizes, constants and decoder; patchelf checks less than
    /// `FileHeader.decode` (not EI_DATA) and in another order, with its own words. An
    /// EI_DATA other than 2 is read here as little-endian (patchelf 0.19.3 reads any value
    /// but 1 as big-endian; such a file then fails in swelf's reader, which refuses it).
    private static func headerProblem(_ header: [UInt8], fileSize: UInt64) -> String? {
        guard fileSize >= ELFFormat(is64: false, isBigEndian: false).fileHeaderSize else { return "missing ELF header" }
        guard header.starts(with: FileHeader.magic) else { return "not an ELF executable" }
        guard header[6] == 1 else { return "unsupported ELF version" }  // EI_VERSION
        guard header[4] == 1 || header[4] == 2 else { return "ELF executable is not 32 or 64 bit" }  // EI_CLASS
        let format = ELFFormat(is64: header[4] == 2, isBigEndian: header[5] == 2)
        guard fileSize >= format.fileHeaderSize else { return "missing ELF header" }
        // e_type, in the 64 bytes the caller passes.
        guard let type = try? ByteDecoder(header, format: format, baseOffset: 0).getInteger(at: 16, as: UInt16.self),
              ELFFileType(rawValue: type) == .executable || ELFFileType(rawValue: type) == .sharedObject
        else { return "wrong ELF type" }
        return nil
    }
}

/// patchelf's `--set-interpreter` goes through the section named `.interp`; a file that
/// has section headers but no such section (a static program, a shared library) makes it
/// stop with its "cannot find section" text. A file without section headers is swelf's
/// (see `PatchelfStructureCheck`): it goes on to swelf's own judgement.
enum PatchelfInterpreterCheck {
    static let message = "cannot find section '.interp'. The input file is most likely statically linked"

    static func sectionMissing(path: BytePath) -> Bool {
        guard let file = try? ELFFile(path: path) else { return false }  // swelf's reader reports it
        return !file.sectionHeaders.isEmpty && file.section(named: ".interp") == nil
    }
}

enum PatchelfHelp {
    /// patchelf's usage summary, with swelf's words for what each option does; printed
    /// on stderr as patchelf prints it.
    static func text(programName: String) -> String {
        """
        syntax: \(programName)
          [--set-interpreter FILENAME]
          [--page-size SIZE]\t\tAlignment of new segments (a power of two)
          [--print-interpreter]
          [--print-os-abi]\t\tPrints the EI_OSABI field of the ELF header
          [--set-os-abi ABI]\t\tSets the EI_OSABI field of the ELF header to ABI.
          [--print-soname]\t\tPrints DT_SONAME (nothing when there is none)
          [--set-soname SONAME]\t\tSets DT_SONAME to SONAME.
          [--set-rpath RPATH]
          [--add-rpath RPATH]
          [--remove-rpath]
          [--shrink-rpath]
          [--allowed-rpath-prefixes PREFIXES]\t\tWith '--shrink-rpath', keep only run-path entries starting with one of these prefixes
          [--print-rpath]
          [--force-rpath]
          [--add-needed LIBRARY]
          [--remove-needed LIBRARY]
          [--replace-needed LIBRARY NEW_LIBRARY]
          [--print-needed]
          [--no-default-lib]
          [--no-sort]\t\tDo not sort program and section headers (swelf never sorts them)
          [--clear-symbol-version SYMBOL]
          [--add-debug-tag]
          [--build-resolution-cache]\t\tRecords where each needed library resolves against the run path in a .note.nixos.ldcache note
          [--print-execstack]\t\tPrints whether the object asks for an executable stack
          [--clear-execstack]
          [--set-execstack]
          [--rename-dynamic-symbols NAME_MAP_FILE]\tRenames dynamic symbols; the map file holds one 'old_name new_name' pair per line
          [--no-clobber-old-sections]\t\tKeep the old contents of moved sections in place (refused when that cannot be done)
          [--output FILE]
          [--debug]
          [--version]
          FILENAME...
        (this is swelf \(Swelf.version) running as patchelf \(Personality.patchelfRelease); run it as swelf for its own commands)

        """
    }
}
