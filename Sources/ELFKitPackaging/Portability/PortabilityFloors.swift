import ELFKitCore

/// The counting half of the portability report: from the requirements the survey
/// read, each architecture's newest version per library and family, the floors they set
/// (by the release tables in `PortabilityFacts`), and the notes on versions that cannot
/// be ranked.
extension PortabilityReport {
    /// Newest versions, floors and distributions for one architecture's files.
    func platform(_ machine: String, baseline: [Int]?, files: [String]) -> Platform {
        var platform = Platform(machine: machine, glibcBaseline: baseline, files: files)
        let mine = uses.filter { $0.machine == machine }
        // Newest numbered version per (library, family), first requirer on ties.
        var newestIndex: [String: Int] = [:]
        for use in mine where !use.version.numbers.isEmpty {
            let key = use.library + "\u{0}" + use.version.family
            if let index = newestIndex[key] {
                if use.version.isNewer(than: platform.newest[index].version) {
                    platform.newest[index] = Newest(library: use.library, version: use.version, symbol: use.symbols.first, requiredBy: use.requiredBy)
                }
            } else {
                newestIndex[key] = platform.newest.count
                platform.newest.append(Newest(library: use.library, version: use.version, symbol: use.symbols.first, requiredBy: use.requiredBy))
            }
        }

        // glibc's libraries (libc, then its loader, then the rest), libstdc++, libgcc_s.
        func rank(_ newest: Newest) -> (Int, Int, String) {
            let library = newest.library
            if library.hasPrefix("libc.so.") { return (0, 0, library) }
            if PortabilityFacts.isGlibcLoader(library) { return (0, 1, library) }
            if PortabilityFacts.isGlibcLibrary(library) { return (0, 2, library) }
            return (PortabilityFacts.isLibstdcxx(library) ? 1 : 2, 0, library)
        }
        platform.newest = platform.newest.enumerated().sorted { a, b in
            let (x, y) = (rank(a.element), rank(b.element))
            return x != y ? x < y : a.offset < b.offset
        }.map(\.element)

        // glibc: the newest GLIBC_x.y of glibc's libraries, a marker's floor, or the baseline.
        let usesGlibc = mine.contains { $0.component == .glibc }
        if usesGlibc {
            var best: Floor?
            func consider(_ candidate: Floor) {
                if best == nil || VersionName.compare(candidate.release, best!.release) > 0 { best = candidate }
            }
            if let baseline {
                best = Floor(component: .glibc, release: baseline, reason: "the oldest glibc for \(machine) (GLIBC_\(baseline.map(String.init).joined(separator: "."))): no newer version is required")
            }
            for use in mine where use.component == .glibc {
                if use.version.family == "GLIBC_" && !use.version.numbers.isEmpty {
                    consider(Floor(component: .glibc, release: use.version.numbers, version: use.version, symbol: use.symbols.first,
                                   requiredBy: use.requiredBy, reason: "\(use.version.name) of \(use.library)"))
                } else if let marker = PortabilityFacts.markerFloors[use.version.name] {
                    consider(Floor(component: .glibc, release: marker, version: use.version, requiredBy: use.requiredBy,
                                   reason: "\(use.version.name) (a marker with no symbols) means glibc \(marker.map(String.init).joined(separator: ".")) or later"))
                }
            }
            if let best {
                platform.floors.append(best)
                platform.distributions = PortabilityFacts.distributions(meeting: best.release)
            }
        }
        for component in [Component.libstdcxx, .libgcc] {
            var best: Floor?
            func consider(_ candidate: Floor) {
                guard let current = best else { best = candidate; return }
                let order = VersionName.compare(candidate.release, current.release)
                if order > 0 || order == 0 && candidate.beyondTable && !current.beyondTable { best = candidate }
            }
            for use in mine where use.component == component {
                if let release = PortabilityFacts.gccRelease(for: use.version.name) {
                    consider(Floor(component: component, release: release, version: use.version, symbol: use.symbols.first,
                                   requiredBy: use.requiredBy, reason: "\(use.version.name) of \(use.library) came with GCC \(release.map(String.init).joined(separator: "."))"))
                } else if let newest = PortabilityFacts.newestKnown(like: use.version) {
                    // GLIBCXX_3.4.34 when the table ends at 3.4.33: a GCC after the newest listed.
                    var floor = Floor(component: component, release: newest.gcc, version: use.version, symbol: use.symbols.first,
                                      requiredBy: use.requiredBy,
                                      reason: "\(use.version.name) of \(use.library) is newer than swelf's table (\(newest.version), GCC \(newest.gcc.map(String.init).joined(separator: "."))): a later GCC")
                    floor.beyondTable = true
                    consider(floor)
                }
            }
            if let best { platform.floors.append(best) }
        }
        return platform
    }

    /// Notes derived from the uses: never-portable and unknown versions.
    var useNotes: [Note] {
        var result: [Note] = []
        var said = Set<String>()
        for use in uses {
            let key = use.requiredBy + "\u{0}" + use.version.name
            guard said.insert(key).inserted else { continue }
            let symbols = use.symbols.isEmpty ? "no symbol" : use.symbols.prefix(3).map { ByteText.string($0) }.joined(separator: ", ")
            if use.version.name == "GLIBC_PRIVATE" {
                result.append(Note(severity: .warning, message: "\(use.requiredBy) requires GLIBC_PRIVATE of \(use.library) (\(symbols)): never portable, it binds to the exact glibc build it was linked with"))
            } else if use.component == .glibc && use.version.numbers.isEmpty && PortabilityFacts.markerFloors[use.version.name] == nil {
                result.append(Note(severity: .warning, message: "\(use.requiredBy) requires \(use.version.name) of \(use.library): unknown to swelf's table, not ranked"))
            } else if use.component == .libstdcxx || use.component == .libgcc, isUnranked(use.version) {
                result.append(Note(severity: .warning, message: "\(use.requiredBy) requires \(use.version.name) of \(use.library): unknown to swelf's table, not ranked"))
            }
        }
        return result
    }

    /// A libstdc++ or libgcc_s version the floor cannot place: not in the table and not
    /// newer than all of it (`GLIBCXX_LDBL_3.4`, `CXXABI_FLOAT128`, …). Other families
    /// (libgcc_s's compatibility `GLIBC_2.0` on i386) say nothing about GCC.
    func isUnranked(_ version: VersionName) -> Bool {
        guard PortabilityFacts.gccRelease(for: version.name) == nil, PortabilityFacts.newestKnown(like: version) == nil else { return false }
        return version.name.hasPrefix("GLIBCXX") || version.name.hasPrefix("CXXABI") || version.name.hasPrefix("GCC_")
    }
}
