import ELFKitCore

/// A dynamic-section entry as the editor sees it: a string-valued entry that changed
/// carries its new string; everything else keeps its raw value until layout.
package struct PlannedEntry: Equatable, Sendable {
    package enum Value: Equatable, Sendable {
        case raw(UInt64)
        case string([UInt8])
    }

    package var tag: DynamicTag
    package var value: Value
    /// Index in the original dynamic section, nil for a new entry. Layout needs it for
    /// values relative to the entry's own address (DT_MIPS_RLD_MAP_REL).
    package var originalIndex: Int?
}

/// What an edit request means for one file, before any placement decision: the new
/// list of dynamic entries, the new interpreter, and in-place table changes.
package struct EditOutcome: Sendable {
    package var entries: [PlannedEntry]
    /// New PT_INTERP contents (NUL-terminated), nil when unchanged.
    package var interpreter: [UInt8]?
    package var osABI: OSABI?
    /// `EditRequest.keepOldBytes`: the old places of moved tables keep their bytes.
    package var keepOldBytes = false
    package var executableStack: Bool?
    /// Libraries whose `.gnu.version_r` entries must go.
    package var removedVersionFiles: Set<[UInt8]> = []
    /// `.gnu.version_r` file names to rename.
    package var renamedVersionFiles: [[UInt8]: [UInt8]] = [:]
    /// `.gnu.version` indices of symbols whose version must be cleared.
    package var clearedSymbolNames: Set<[UInt8]> = []
    /// Dynamic symbols to rename, old name to new name.
    package var renamedSymbols: [[UInt8]: [UInt8]] = [:]
    /// What the editor decided and why, for `--debug`.
    package var log: [String] = []
    /// Messages for the user that do not stop the edit (patchelf's `warning: …`).
    package var warnings: [String] = []
    /// A resolution cache note to add (`--build-resolution-cache`): the whole note.
    package var resolutionCacheNote: [UInt8]?
    /// A resolution cache note the edit makes stale: its section, headers and bytes go.
    package var droppedResolutionCache: DroppedResolutionCache?
}

/// Turns an `EditRequest` into an `EditOutcome` for a file. Pure: reads the file,
/// changes nothing.
package struct DynamicEditor {
    let file: ELFFile
    /// Tells whether a directory holds a library, for `--shrink-rpath`.
    let libraryProbe: LibraryProbe
    /// Answers `--build-resolution-cache`'s access(2) questions.
    let resolutionProbe: any ResolutionProbe

    package init(file: ELFFile, libraryProbe: LibraryProbe = LibraryProbe(),
                resolutionProbe: any ResolutionProbe = FileSystemResolutionProbe()) {
        self.file = file
        self.libraryProbe = libraryProbe
        self.resolutionProbe = resolutionProbe
    }

    /// The edits, then the resolution cache: it is resolved from the final run path and
    /// needed list, after every other edit of the same request.
    package func apply(_ request: EditRequest) throws(EditError) -> EditOutcome {
        var outcome = try applyEdits(request)
        try applyResolutionCache(request, &outcome)
        return outcome
    }

    private func applyEdits(_ request: EditRequest) throws(EditError) -> EditOutcome {
        let dynamic: DynamicSection?
        do { dynamic = try file.dynamic() } catch { throw .format(error) }
        var outcome = EditOutcome(entries: [])
        outcome.keepOldBytes = request.keepOldBytes
        if let dynamic {
            outcome.entries = dynamic.entries.enumerated().map { PlannedEntry(tag: $1.tag, value: .raw($1.value), originalIndex: $0) }
        }

        if let osABI = request.osABI, osABI != file.header.osABI { outcome.osABI = osABI }
        if let stack = request.executableStack, file.executableStack != stack { outcome.executableStack = stack }
        if let interpreter = request.interpreter {
            let current = (try? file.rawInterpreter()) ?? nil
            guard current != nil else {
                if let kind = UnloadableKind(file) { throw .refused(EditRefusal(.notLoadable, "cannot set the interpreter: the file is \(kind)")) }
                throw .refused(EditRefusal(.noInterpreter, "cannot set the interpreter: the file has no PT_INTERP (statically linked or a shared library)"))
            }
            if current! != interpreter { outcome.interpreter = interpreter + [0] }
        }

        let needsDynamic = request.soname != nil || request.runPath != nil || !request.addNeeded.isEmpty
            || !request.removeNeeded.isEmpty || !request.replaceNeeded.isEmpty || request.noDefaultLib
            || request.addDebugTag || !request.clearSymbolVersions.isEmpty || !request.renameSymbols.isEmpty
        guard needsDynamic else { return outcome }
        guard let dynamic else {
            if let reason = DynamicSection.unusedSectionReason(in: file) {
                throw .refused(EditRefusal(.noDynamicSection, "cannot edit dynamic entries: \(reason), so an edit there would change nothing the loader reads", offset: file.sectionHeaders.first(where: { $0.type == .dynamic })?.offset))
            }
            // patchelf's words, except for a file that was never linked (an object file, a core dump).
            if let kind = UnloadableKind(file) { throw .refused(EditRefusal(.notLoadable, "cannot find section '.dynamic'. The input file is \(kind)")) }
            throw .refused(EditRefusal(.noDynamicSection, "cannot find section '.dynamic'. The input file is most likely statically linked"))
        }
        var editor = EntryList(entries: outcome.entries, dynamic: dynamic)

        if let soname = request.soname { try editor.setString(.soname, soname, log: &outcome.log) }
        if let change = request.runPath {
            try editor.changeRunPath(change, force: request.forceRPath, needed: try editor.neededNames(),
                                     origin: file, probe: libraryProbe, log: &outcome.log)
        }
        for name in request.removeNeeded {
            if try editor.removeNeeded(name) {
                outcome.removedVersionFiles.insert(name)
                outcome.log.append("removed DT_NEEDED \(text(name))")
            } else {
                outcome.log.append("DT_NEEDED \(text(name)) not present; nothing removed")
            }
        }
        for (old, new) in request.replaceNeeded {
            if try editor.replaceNeeded(old, with: new) {
                outcome.renamedVersionFiles[old] = new
                outcome.log.append("replaced DT_NEEDED \(text(old)) with \(text(new))")
            }
        }
        let existing = Set(try editor.neededNames())
        var insertAt = 0
        for name in request.addNeeded where !existing.contains(name) {
            // patchelf puts new libraries first; so does swelf, in the order given.
            editor.entries.insert(PlannedEntry(tag: .needed, value: .string(name), originalIndex: nil), at: insertAt)
            insertAt += 1
            outcome.log.append("added DT_NEEDED \(text(name))")
        }
        if request.noDefaultLib {
            editor.setFlag(.flags1, bits: DynamicFlags1.noDefaultLib.rawValue)
        }
        if request.addDebugTag, !editor.entries.contains(where: { $0.tag == .debug }) {
            editor.entries.append(PlannedEntry(tag: .debug, value: .raw(0), originalIndex: nil))
        }
        for name in request.clearSymbolVersions { outcome.clearedSymbolNames.insert(name) }
        for (old, new) in request.renameSymbols where old != new {
            outcome.renamedSymbols[old] = new
        }
        outcome.entries = editor.entries
        return outcome
    }
}

/// The working list of dynamic entries, with string lookups against the original table.
struct EntryList {
    var entries: [PlannedEntry]
    let dynamic: DynamicSection

    func stringValue(_ entry: PlannedEntry) throws(EditError) -> [UInt8] {
        switch entry.value {
        case .string(let bytes): return bytes
        case .raw(let offset):
            do { return try dynamic.rawString(at: offset) } catch { throw .format(error) }
        }
    }

    func neededNames() throws(EditError) -> [[UInt8]] {
        var names: [[UInt8]] = []
        for entry in entries where entry.tag == .needed { names.append(try stringValue(entry)) }
        return names
    }

    mutating func setString(_ tag: DynamicTag, _ value: [UInt8], log: inout [String]) throws(EditError) {
        if let index = entries.firstIndex(where: { $0.tag == tag }) {
            if try stringValue(entries[index]) != value { entries[index].value = .string(value) }
        } else {
            entries.append(PlannedEntry(tag: tag, value: .string(value), originalIndex: nil))
            log.append("added \(tag)")
        }
    }

    mutating func setFlag(_ tag: DynamicTag, bits: UInt64) {
        if let index = entries.firstIndex(where: { $0.tag == tag }), case .raw(let value) = entries[index].value {
            entries[index].value = .raw(value | bits)
        } else {
            entries.append(PlannedEntry(tag: tag, value: .raw(bits), originalIndex: nil))
        }
    }

    mutating func removeNeeded(_ name: [UInt8]) throws(EditError) -> Bool {
        var removed = false
        var kept: [PlannedEntry] = []
        for entry in entries {
            if entry.tag == .needed, try stringValue(entry) == name { removed = true } else { kept.append(entry) }
        }
        entries = kept
        return removed
    }

    mutating func replaceNeeded(_ old: [UInt8], with new: [UInt8]) throws(EditError) -> Bool {
        var replaced = false
        for index in entries.indices where entries[index].tag == .needed {
            if try stringValue(entries[index]) == old {
                entries[index].value = .string(new)
                replaced = true
            }
        }
        return replaced
    }

    /// `--set-rpath`, `--add-rpath`, `--remove-rpath`, `--shrink-rpath`. The result is a
    /// single entry of the chosen tag (DT_RUNPATH, or DT_RPATH with `force`) standing
    /// where the first existing run-path entry stood.
    mutating func changeRunPath(_ change: EditRequest.RunPathChange, force: Bool, needed: [[UInt8]],
                                origin: ELFFile, probe: LibraryProbe, log: inout [String]) throws(EditError) {
        let runpathIndex = entries.firstIndex { $0.tag == .runpath }
        let rpathIndex = entries.firstIndex { $0.tag == .rpath }
        let currentIndex = runpathIndex ?? rpathIndex
        let current: [UInt8]? = try currentIndex.map { i throws(EditError) in try stringValue(entries[i]) }

        let newValue: [UInt8]?
        switch change {
        case .set(let value): newValue = value
        case .add(let value):
            newValue = RunPath.adding(value, to: current ?? [])
        case .remove: newValue = nil
        case .shrink(let prefixes):
            guard let current else { return }
            newValue = probe.shrink(runPath: current, needed: needed, allowedPrefixes: prefixes, like: origin.header, log: &log)
        }

        let tag: DynamicTag = force ? .rpath : .runpath
        // Nothing to do when the single entry already says exactly this.
        if let newValue, let currentIndex, current == newValue, entries[currentIndex].tag == tag,
           entries.filter({ $0.tag == .rpath || $0.tag == .runpath }).count == 1 {
            return
        }
        if newValue == nil && currentIndex == nil { return }

        let position = [runpathIndex, rpathIndex].compactMap { $0 }.min()
        // The string this one replaces, so layout may overwrite it in place.
        let replaced = currentIndex.flatMap { entries[$0].originalIndex }
        let unchangedString: PlannedEntry.Value? = current == newValue ? currentIndex.map { entries[$0].value } : nil
        entries.removeAll { $0.tag == .rpath || $0.tag == .runpath }
        guard let newValue else {
            log.append("removed DT_RPATH/DT_RUNPATH")
            return
        }
        // When only the tag changes, the entry keeps its string where it is.
        let entry = PlannedEntry(tag: tag, value: unchangedString ?? .string(newValue), originalIndex: replaced)
        entries.insert(entry, at: min(position ?? entries.count, entries.count))
        log.append("\(tag) set to '\(String(decoding: newValue, as: UTF8.self))'")
    }
}

/// Run-path arithmetic shared by the editor and the verifier's expectations.
package enum RunPath {
    /// `current` with the directories of `addition` that it does not already list
    /// appended, so adding the same directory twice changes nothing.
    package static func adding(_ addition: [UInt8], to current: [UInt8]) -> [UInt8] {
        let colon = UInt8(ascii: ":")
        var parts = current.split(separator: colon, omittingEmptySubsequences: false).map(Array.init)
        if current.isEmpty { parts = [] }
        for part in addition.split(separator: colon, omittingEmptySubsequences: false).map(Array.init) where !parts.contains(part) {
            parts.append(part)
        }
        return Array(parts.joined(separator: [colon]))
    }
}

/// A name for the `--debug` log, which is text (invalid UTF-8 shows as U+FFFD there only).
private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
