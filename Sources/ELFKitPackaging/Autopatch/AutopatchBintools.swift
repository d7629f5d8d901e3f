import ELFKitCore

/// What Nix's bintools wrapper tells auto-patchelf.py, which has no `--interpreter`: the
/// loader every program gets (`$NIX_BINTOOLS/nix-support/dynamic-linker`) and glibc's
/// directory (`nix-support/orig-libc`, plus `/lib`). `swelf autopatch` reads them when
/// `--interpreter` is not given and `NIX_BINTOOLS` is set, so that autoPatchelfHook can
/// call it with auto-patchelf.py's command line and environment.
///
/// The two files are the build's (read where `NIX_BINTOOLS` says, never inside
/// `--root`); the paths they hold name the target's files, so, as `--interpreter`, they
/// are read inside `--root`.
package struct NixBintools: Sendable, Equatable {
    /// The text of `nix-support/dynamic-linker`: an absolute path.
    package let interpreter: String
    /// The text of `nix-support/orig-libc` followed by `/lib`.
    package let libcDirectory: String

    /// A file of `NIX_BINTOOLS` that cannot be used: its path and why.
    package struct Problem: Error, Equatable, CustomStringConvertible {
        package let path: String
        package let reason: String
        package var description: String { "NIX_BINTOOLS: \(path): \(reason)" }
    }

    /// Reads `directory/nix-support/{dynamic-linker,orig-libc}`, each stripped of the
    /// white space around it (auto-patchelf.py's `read_text().strip()`).
    /// - Parameter directory: the value of `NIX_BINTOOLS`.
    /// - Throws: ``Problem`` when a file cannot be read, is empty or longer than a path
    ///   (4096 bytes), or does not hold an absolute path.
    package static func read(_ directory: String) throws(Problem) -> NixBintools {
        let support = (directory.hasSuffix("/") ? directory : directory + "/") + "nix-support/"
        func text(_ name: String) throws(Problem) -> String {
            let path = support + name
            let bytes: [UInt8]
            do {
                let source = try FileByteSource(path: path)
                guard source.size <= 4096 else { throw Problem(path: path, reason: "\(source.size) bytes, longer than a path") }
                bytes = try source.bytes(at: 0, count: source.size, name)
            } catch let problem as Problem {
                throw problem
            } catch {
                throw Problem(path: path, reason: (error as? ELFError)?.message ?? "\(error)")
            }
            let white: Set<UInt8> = [0x20, 0x09, 0x0a, 0x0d, 0x0b, 0x0c]
            let trimmed = ByteText.string(Array(bytes.drop { white.contains($0) }.reversed().drop { white.contains($0) }.reversed()))
            guard trimmed.hasPrefix("/"), !trimmed.contains("\0") else {
                throw Problem(path: path, reason: trimmed.isEmpty ? "empty, expected an absolute path"
                              : "'\(trimmed)' is not an absolute path")
            }
            return trimmed
        }
        let interpreter = try text("dynamic-linker")
        let libc = try text("orig-libc")
        return NixBintools(interpreter: interpreter, libcDirectory: (libc == "/" ? "" : libc) + "/lib")
    }
}
