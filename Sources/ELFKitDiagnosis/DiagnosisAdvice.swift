import ELFKitCore
import ELFKitLoader

/// A file for another machine than this one, and where on this machine it could be run
/// or analysed: a cross sysroot (`/usr/<triple>`) holding that machine's loader, and the
/// qemu-user emulator for it.
struct ForeignMachine {
    /// The file's machine, as `uname -m` names it (`aarch64`).
    let machine: String
    /// This machine's (`x86_64`).
    let host: String
    /// `/usr/<triple>` when it exists and holds a loader that accepts the file.
    let sysroot: String?
    /// `qemu-<arch>-static` (or `qemu-<arch>`) when one is on PATH.
    let emulator: String?

    /// The commands that analyse and run `path` in the sysroot, in words.
    func rootAdvice(path: String) -> String? {
        guard let sysroot else { return nil }
        var text = "analyse it in the \(machine) sysroot on this machine: swelf doctor --root \(sysroot) \(Diagnosis.shellWord(path))"
        let emulator = emulator ?? "qemu-\(Self.qemuName(machine))-static (install qemu-user-static)"
        text += "; run it there with \(emulator) -L \(sysroot) \(Diagnosis.shellWord(path))"
        return text
    }

    /// qemu's name for a machine (`uname -m` spelling).
    static func qemuName(_ machine: String) -> String {
        switch machine {
        case "i686", "i386": "i386"
        case "armv7l", "arm": "arm"
        default: machine
        }
    }
}

extension Diagnosis {
    /// `text` as one `sh` word: bare when it has only characters that need no quoting,
    /// else in single quotes (a `'` inside written as `'\''`).
    static func shellWord(_ text: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+,:=@%")
        if !text.isEmpty && text.allSatisfy({ safe.contains($0) }) { return text }
        return "'" + text.replacingAll("'", with: "'\\''") + "'"
    }

    /// The `uname -m` name and the GNU triples of the cross sysroots Debian and Ubuntu
    /// install under `/usr` for a file's machine (gcc-<triple> and libc6-<arch>-cross).
    static func crossTriples(_ machine: ELFMachine, is64: Bool, bigEndian: Bool) -> (name: String, triples: [String])? {
        switch (machine, is64) {
        case (.x86_64, true): return ("x86_64", ["x86_64-linux-gnu"])
        case (.i386, false): return ("i386", ["i686-linux-gnu", "i386-linux-gnu"])
        case (.aarch64, true): return ("aarch64", ["aarch64-linux-gnu"])
        case (.arm, false): return ("arm", ["arm-linux-gnueabihf", "arm-linux-gnueabi"])
        case (.riscv, true): return ("riscv64", ["riscv64-linux-gnu"])
        case (.s390, true): return ("s390x", ["s390x-linux-gnu"])
        case (.powerPC64, true): return bigEndian ? ("ppc64", ["powerpc64-linux-gnu"]) : ("ppc64le", ["powerpc64le-linux-gnu"])
        case (.mips, false): return bigEndian ? ("mips", ["mips-linux-gnu"]) : ("mipsel", ["mipsel-linux-gnu"])
        case (.mips, true): return bigEndian ? ("mips64", ["mips64-linux-gnuabi64"]) : ("mips64el", ["mips64el-linux-gnuabi64"])
        default: return nil
        }
    }

    /// Where a file this machine cannot run could be analysed and run here: the first
    /// `/usr/<triple>` whose loader (the file's PT_INTERP, or the machine's standard one)
    /// the loader's own checks accept for the file, and qemu-user on PATH.
    func foreignMachine(_ file: ELFFile, host: HostFacts) -> ForeignMachine {
        let cross = Self.crossTriples(file.header.machine, is64: file.format.is64, bigEndian: file.format.isBigEndian)
        let name = cross?.name ?? file.header.machine.commonName
        let resolver = LibraryResolver(environment: environment)
        let loaders = [((try? file.interpreter()) ?? nil), environment.platform.loaderPath].compactMap { $0 }
        let sysroot = cross?.triples.map { "/usr/" + $0 }.first { root in
            loaders.contains { loader in
                if case .accepted = resolver.verify(PathText.join(root, loader), like: file) { return true }
                return false
            }
        }
        let searchPath = environment.variables["PATH"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/local/bin:/usr/bin:/bin"
        let qemu = ForeignMachine.qemuName(name)
        let emulator = ["qemu-\(qemu)-static", "qemu-\(qemu)"].first { program in
            searchPath.split(separator: ":").contains { directory in
                directory.hasPrefix("/") && environment.fileSystem.status(PathText.join(String(directory), program))?.isRegular == true
            }
        }
        return ForeignMachine(machine: name, host: host.machineName, sysroot: sysroot, emulator: emulator)
    }

    /// A library the loader does not find, lying where the requester could find it with
    /// a `$ORIGIN` run path: in its own directory, its `lib/`, or its sibling `../lib/`.
    /// Returns the fix: `--set-rpath` when the requester has no run path, else
    /// `--add-rpath`, which keeps the entries it has.
    func nearbyLibraryFix(_ lookup: DependencyLookup, requester: LoadedObject, shownAs shown: String) -> (detail: String, fix: String, command: String)? {
        // In secure mode (setuid, capabilities) ld.so ignores a $ORIGIN run path outside
        // the trusted directories, so the advice would not hold.
        guard !environment.secure, let origin = requester.origin, !lookup.searchedName.contains("/") else { return nil }
        let resolver = LibraryResolver(environment: environment)
        let candidates = [(origin, "$ORIGIN"), (PathText.join(origin, "lib"), "$ORIGIN/lib"),
                          (PathText.join(PathText.directory(of: origin), "lib"), "$ORIGIN/../lib")]
        for (directory, entry) in candidates {
            let candidate = PathText.join(directory, lookup.searchedName)
            guard case .accepted = resolver.verify(candidate, like: requester.file) else { continue }
            let dynamic = (try? requester.file.dynamic()) ?? nil
            let existing = [(try? dynamic?.runpath()) ?? nil, (try? dynamic?.rpath()) ?? nil].compactMap { $0 }.filter { !$0.isEmpty }
            let option = existing.isEmpty ? "--set-rpath" : "--add-rpath"
            let command = "swelf \(option) '\(entry)' \(Self.shellWord(shown))"
            let kept = existing.isEmpty ? "" : " (--add-rpath keeps its run path \(existing.joined(separator: ":")))"
            return ("\(candidate) exists: \(entry) in the run path of \(PathText.lastComponent(of: shown)) finds it",
                    "give \(PathText.lastComponent(of: shown)) the run path \(entry)\(kept)", command)
        }
        return nil
    }
}

extension String {
    /// Every occurrence of `target` replaced (Foundation-free).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
