import ELFKitCore

/// Looks at the file system for `--shrink-rpath`: which run-path directories hold a
/// library the file needs.
package struct LibraryProbe: Sendable {
    package init() {}

    /// patchelf's rule: keep relative and `$ORIGIN` entries; drop entries outside the
    /// allowed prefixes; keep an absolute directory only if it holds a needed library not
    /// already found in an earlier directory.
    func shrink(runPath: [UInt8], needed: [[UInt8]], allowedPrefixes: [[UInt8]], like origin: FileHeader,
                log: inout [String]) -> [UInt8] {
        var unresolved = Set(needed)
        var kept: [[UInt8]] = []
        for component in runPath.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: true) {
            let directory = Array(component)
            let text = String(decoding: directory, as: UTF8.self)
            if directory.first != UInt8(ascii: "/") {
                kept.append(directory)
                continue
            }
            if !allowedPrefixes.isEmpty && !allowedPrefixes.contains(where: { directory.starts(with: $0) }) {
                log.append("shrink: dropped \(text) (not under an allowed prefix)")
                continue
            }
            var provides = false
            for name in unresolved {
                let path = BytePath(bytes: directory).appending(name)
                // A library of another class or machine would be skipped by the loader.
                if let library = try? ELFFile(path: path), library.format.is64 == origin.format.is64,
                   library.header.machine == origin.machine {
                    unresolved.remove(name)
                    provides = true
                }
            }
            if provides { kept.append(directory) } else { log.append("shrink: dropped \(text) (holds no needed library)") }
        }
        return Array(kept.joined(separator: [UInt8(ascii: ":")]))
    }
}
