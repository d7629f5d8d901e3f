import ELFKitCore

/// (i) PyInstaller onefile on Linux keeps its archive in a section `pydata`, ending with
/// an 88-byte cookie (`MEI\014\013\012\013\016`, then the big-endian package length).
/// Bootloaders of PyInstaller 4.0–4.2 (`pyi_arch_find_cookie`, `pyi_archive.c @ v4.0`)
/// read only the last 4096 + 88 bytes of the file, take the last cookie there, and find
/// the package at `cookie + 88 - length`. When that lookup finds the original's archive,
/// it must find the edited file's `pydata` the same way. Worked out with this check's own
/// lookup (it shares no code with the planner); the archive's bytes are compared by
/// `SectionCheck`.
struct PyInstallerWindowCheck {
    let context: IndependentVerifier.Context

    static let magic: [UInt8] = [0x4d, 0x45, 0x49, 0o14, 0o13, 0o12, 0o13, 0o16]
    static let window: UInt64 = 4096 + 88

    /// Where the 4.0–4.2 lookup finds the package in `file`: nil without a cookie in the window.
    static func packageStart(in file: ELFFile) throws -> UInt64? {
        let size = file.source.size
        let count = min(size, window)
        let tail = try file.source.bytes(at: size - count, count: count, "PyInstaller cookie window")
        guard tail.count >= 88 else { return nil }
        for index in stride(from: tail.count - 88, through: 0, by: -1) where Array(tail[index ..< index + 8]) == magic {
            let length = UInt64(tail[index + 8]) << 24 | UInt64(tail[index + 9]) << 16 | UInt64(tail[index + 10]) << 8 | UInt64(tail[index + 11])
            let cookieEnd = size - count + UInt64(index) + 88
            return cookieEnd >= length ? cookieEnd - length : nil
        }
        return nil
    }

    func run(_ problems: inout [VerificationProblem]) throws {
        let original = context.original, edited = context.edited
        guard let old = original.section(named: "pydata"), old.header.type != .nobits,
              try Self.packageStart(in: original) == old.header.offset else { return }
        guard let new = edited.section(named: "pydata") else {
            problems.append(VerificationProblem(.sections, "the PyInstaller archive (section pydata) is gone"))
            return
        }
        let found = try Self.packageStart(in: edited)
        if found != new.header.offset {
            let what = found.map { "finds a package at 0x\(hex($0))" } ?? "finds no cookie"
            problems.append(VerificationProblem(.sections, "PyInstaller 4.0–4.2 bootloaders search the last \(Self.window) bytes for the archive cookie: in the original they find section pydata at 0x\(hex(old.header.offset)); in the edited file the search \(what), but pydata is at 0x\(hex(new.header.offset))"))
        }
    }
}
