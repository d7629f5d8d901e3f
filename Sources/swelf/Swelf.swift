import ELFKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The command-line tool: parses the arguments and dispatches to a command.
struct Swelf {
    let terminal: Terminal
    var personality: Personality = .swelf
    /// `PATCHELF_DEBUG` in the environment: as patchelf, the same as `--debug`.
    var debugFromEnvironment = false
    static let version = "0.1.0"

    func run(_ arguments: [[UInt8]]) -> ExitCode {
        if personality == .patchelf && arguments.isEmpty {
            // patchelf with no arguments prints its usage on stderr and fails.
            terminal.standardError.write(PatchelfHelp.text(programName: terminal.invokedAs))
            return .failure
        }
        let command: Command
        let parser = ArgumentParser(readArgumentFile: FileSystem.readContents, personality: personality)
        do {
            command = try parser.parse(arguments)
            terminal.verbosity = parser.verbosity.level
        } catch let error as UsageError {
            terminal.error(error.message)
            if personality == .swelf && error.hint {
                terminal.standardError.line("Try 'swelf --help' for more information.")
            }
            return personality.usageStatus
        } catch {
            // An @FILE value that could not be read.
            terminal.error("\(error)")
            return .failure
        }

        switch command {
        case .help(let topic):
            if personality == .patchelf {
                terminal.standardError.write(PatchelfHelp.text(programName: terminal.invokedAs))
            } else {
                terminal.standardOutput.write(topic.map(HelpText.page) ?? HelpText.text)
            }
            return .success
        case .version:
            terminal.standardOutput.line(personality.versionLine(swelfVersion: Swelf.version))
            return .success
        case .patch(var invocation):
            if personality == .patchelf && debugFromEnvironment { invocation.debug = true }
            return runPatch(invocation)
        case .show(let files, let json):
            return ShowCommand(terminal: terminal, json: json).run(files)
        case .verify(let files, let json):
            return VerifyCommand(terminal: terminal, json: json).run(files)
        case .doctor(let options):
            return DoctorCommand(terminal: terminal, options: options).run()
        case .ldd(let options):
            return LddCommand(terminal: terminal, options: options).run()
        case .bundle(let options):
            return BundleCommand(terminal: terminal, options: options).run()
        case .portability(let options):
            return PortabilityCommand(terminal: terminal, options: options).run()
        case .autopatch(let options):
            return AutopatchCommand(terminal: terminal, options: options).run()
        case .relocate(let options):
            return RelocateCommand(terminal: terminal, options: options).run()
        }
    }

    /// Prints and edits each file. As swelf, the files are worked on in parallel
    /// (`-j N`, default one thread per processor) and a failure on one file does not stop
    /// the others; each file's output and messages are printed together, in argument
    /// order. As patchelf, one at a time, and the first failure ends the run, as it does
    /// in patchelf.
    private func runPatch(_ invocation: PatchInvocation) -> ExitCode {
        if personality == .swelf {
            let files = invocation.files
            // Many files: identical warnings said once, after the files' output (not with -v).
            terminal.collectsWarnings = files.count > 1 && terminal.verbosity == .normal
            defer { terminal.printCollectedWarnings() }
            // The processor count is read (from /sys) only when there is more than one file.
            let jobs = files.count == 1 ? 1 : invocation.jobs ?? Overlap.processorCount
            if jobs == 1 {
                // One at a time, straight to the terminal, each file durable on its own.
                var status = ExitCode.success
                let progress = ProgressLine(terminal: terminal, label: "working", total: files.count)
                for (index, path) in files.enumerated() {
                    // The line is drawn between files and erased before a file prints.
                    progress.clear()
                    if Swelf.work(on: path, output: invocation.output(for: index), invocation, terminal: terminal).failed {
                        status = .failure
                    }
                    if files.count > 1 { progress.update(index + 1) }
                }
                progress.clear()
                return status
            }
            return runBatch(invocation, jobs: jobs)
        }
        for (index, path) in invocation.files.enumerated() {
            if let problem = PatchelfInputCheck.problem(path: path) {
                terminal.standardOutput.flush()
                terminal.error(problem)
                return .failure
            }
            do {
                let editing = !invocation.edits.isEmpty || invocation.output(for: index) != nil
                let warnings = try PatchelfStructureCheck(path: path)
                    .check(editing: editing, renaming: !invocation.edits.renameSymbols.isEmpty)
                for warning in warnings { terminal.standardError.line(warning) }
            } catch let failure as PatchelfStructureCheck.Failure {
                terminal.standardOutput.flush()
                terminal.error(failure.message)
                return .failure
            } catch {
                terminal.standardOutput.flush()
                terminal.error("\(error)", file: path)
                return .failure
            }
            if invocation.edits.interpreter != nil && PatchelfInterpreterCheck.sectionMissing(path: path) {
                // patchelf sets the interpreter through the section named .interp, after
                // printing the interpreter, the OS ABI and the soname and before every other
                // print; without that section (a static program, a shared library) it stops there.
                if let file = try? ELFFile(path: path) {
                    let printer = FilePrinter(file: file, output: terminal.standardOutput)
                    for request in invocation.prints.sorted() where request <= .soname {
                        do { try printer.print(request) } catch {
                            terminal.standardOutput.flush()
                            terminal.error("\(error)")
                            return .failure
                        }
                    }
                }
                terminal.standardOutput.flush()
                terminal.error(PatchelfInterpreterCheck.message)
                return .failure
            }
            if Swelf.work(on: path, output: invocation.output(for: index), invocation, terminal: terminal).failed { return .failure }
        }
        return .success
    }

    /// Many files, `jobs` at a time, in chunks small enough for the descriptor limit.
    /// Each file of a chunk is read, edited, written to a new file and checked in
    /// parallel; then the chunk is committed at once (one `syncfs`, then every rename),
    /// so the durability of a thousand small files costs about one journal commit, not a
    /// thousand. Each file's output and messages are printed in argument order.
    private func runBatch(_ invocation: PatchInvocation, jobs: Int) -> ExitCode {
        let files = invocation.files
        let invokedAs = terminal.invokedAs
        let verbosity = terminal.verbosity
        let collects = terminal.collectsWarnings
        var status = ExitCode.success
        var start = 0
        let chunk = Swelf.batchSize()
        let progress = ProgressLine(terminal: terminal, label: "working", total: files.count)
        defer { progress.clear() }
        progress.update(0)
        while start < files.count {
            let end = min(files.count, start + chunk)
            let part = Array(files[start ..< end])
            let outputs = (start ..< end).map { invocation.output(for: $0) }
            var outcomes = Overlap.map(count: part.count, jobs: jobs) { index in
                let captured = Terminal(personality: .swelf, invokedAs: invokedAs, capturing: true, verbosity: verbosity)
                captured.collectsWarnings = collects
                var outcome = Swelf.work(on: part[index], output: outputs[index], invocation,
                                         terminal: captured, batched: true)
                outcome.warnings = captured.takeWarnings()
                outcome.output = captured.standardOutput.take()
                outcome.messages = captured.standardError.take()
                return outcome
            }
            let errors = Rewriter(durable: invocation.durable, allowReadOnly: invocation.allowReadOnly).commit(outcomes.compactMap { $0.prepared })
            var next = 0
            for index in outcomes.indices where outcomes[index].prepared != nil {
                if let error = errors[next] {
                    outcomes[index].messages += Array("\(terminal.programName): ".utf8) + part[index].bytes + Array(": \(error)\n".utf8)
                    outcomes[index].failed = true
                }
                outcomes[index].prepared = nil   // releases its lock
                next += 1
            }
            // Files that were locked (by another process, or named twice here) are done
            // now, one at a time, holding no other lock.
            for index in outcomes.indices where outcomes[index].busy {
                let captured = Terminal(personality: .swelf, invokedAs: invokedAs, capturing: true, verbosity: verbosity)
                captured.collectsWarnings = collects
                var outcome = Swelf.work(on: part[index], output: outputs[index], invocation, terminal: captured)
                outcome.warnings = captured.takeWarnings()
                outcome.output = captured.standardOutput.take()
                outcome.messages = captured.standardError.take()
                outcomes[index] = outcome
            }
            progress.clear()
            for outcome in outcomes {
                terminal.collect(outcome.warnings)
                terminal.standardOutput.write(bytes: outcome.output)
                if !outcome.messages.isEmpty {
                    terminal.standardOutput.flush()
                    terminal.standardError.write(bytes: outcome.messages)
                    terminal.standardError.flush()
                }
                if outcome.failed { status = .failure }
            }
            terminal.standardOutput.flush()
            start = end
            progress.update(end)
        }
        return status
    }

    /// Files per batch: each pending file holds four descriptors (the locked input, the
    /// duplicate it is read through, the new file, its directory) until its chunk is
    /// committed, and a fifth while it is prepared (the directory of its path's walk).
    /// `alive`: how many batches hold their descriptors at once (2 when one batch is
    /// prepared while the one before it is committed).
    static func batchSize(alive: Int = 1) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 64 }
        let available = Int(clamping: limit.rlim_cur)   // RLIM_INFINITY is the largest value
        return max(8, min(512, (available - 32) / (5 * max(1, alive))))
    }

    /// Files per chunk of a tree command's prepared edits (`autopatch`, `relocate`):
    /// `batchSize(alive:)`, or `SWELF_CHUNK` when set to a number from 1 up. That
    /// variable is a test hook (a tree of a few files then spans several chunks), not an
    /// option.
    static func chunkSize(alive: Int = 1) -> Int {
        if let text = getenv("SWELF_CHUNK").map({ String(cString: $0) }), let size = Int(text), size > 0 {
            return size
        }
        return batchSize(alive: alive)
    }

    /// What became of one file: its printed output and messages (when they were captured
    /// to be printed in order), whether it failed, and the edit waiting for its commit.
    struct FileOutcome: Sendable {
        var output: [UInt8] = []
        var messages: [UInt8] = []
        /// Warnings kept for `Terminal.printCollectedWarnings`.
        var warnings: [FileWarning] = []
        var failed = false
        var prepared: Rewriter.Prepared?
        /// The file was locked; it is edited alone after its batch.
        var busy = false
    }

    /// The prints and the edit of one file; an error is reported on `terminal`. With
    /// `batched`, the edit is prepared and left for a commit of many (`runBatch`).
    static func work(on path: BytePath, output: BytePath?, _ invocation: PatchInvocation, terminal: Terminal,
                     batched: Bool = false) -> FileOutcome {
        do {
            let file = try ELFFile(path: path)
            let printer = FilePrinter(file: file, output: terminal.standardOutput)
            for request in invocation.prints.sorted() { try printer.print(request) }
            if !invocation.edits.isEmpty || output != nil {
                let command = PatchCommand(terminal: terminal, debug: invocation.debug,
                                           durable: invocation.durable, allowReadOnly: invocation.allowReadOnly)
                if batched && output == nil {
                    return FileOutcome(prepared: try command.prepare(path: path, edits: invocation.edits))
                }
                try command.patch(path: path, edits: invocation.edits, output: output)
            }
            return FileOutcome()
        } catch RewriteError.busy {
            return FileOutcome(busy: true)
        } catch RewriteError.notWritable(let refusal) where terminal.programName == "patchelf" {
            // patchelf opens the file for writing, and says only that this failed.
            terminal.standardOutput.flush()
            terminal.error("open: \(systemErrorMessage(refusal.code))")
            return FileOutcome(failed: true)
        } catch {
            terminal.standardOutput.flush()
            let message = "\(error)"
            // As patchelf, patchelf's own texts come as patchelf prints them: without the file name.
            let patchelfText = terminal.programName == "patchelf" && message.hasPrefix("cannot find section '")
            terminal.error(message, file: patchelfText ? nil : path)
            return FileOutcome(failed: true)
        }
    }
}

enum HelpText {
    static let text = """
    Usage: swelf [OPTION]... FILE...        (every form also takes -q or -v)
           swelf show [--json] FILE...
           swelf verify [--json] FILE...
           swelf doctor [--root DIR] [--env NAME=VALUE]... [--json] FILE
           swelf ldd [--root DIR] [--env NAME=VALUE]... [--tree] [--json] FILE...
           swelf bundle --output DIR [--policy FILE] [--include-libstdcxx] [--root DIR] [--interpreter PATH]
                        [--plugin FILE:DIR]... [--update] [--allow-broken] [--json] PROGRAM_OR_DIR...
           swelf portability [--floor LIMITS] [--root DIR] [--env NAME=VALUE]... [--json] FILE|DIR...
           swelf autopatch [--dry-run] [--libs DIR]... [--interpreter PATH] [--keep-going] PATH...
           swelf relocate [--dry-run] [--keep-going] [--json] OLD NEW PATH...
           swelf help [COMMAND]

    Inspect and rewrite the dynamic-linking information of ELF files. Options and output
    follow NixOS patchelf, so swelf can replace it in scripts.

    Print:
      --print-interpreter          the PT_INTERP path
      --print-os-abi               the EI_OSABI field
      --print-soname               DT_SONAME
      --print-rpath                DT_RUNPATH, or DT_RPATH when there is no DT_RUNPATH
      --print-needed               every DT_NEEDED, one per line
      --print-execstack            whether PT_GNU_STACK asks for an executable stack

    Edit (several may be combined; the file is laid out once):
      --set-interpreter PATH       also --interpreter
      --set-soname NAME
      --set-rpath PATH             writes DT_RUNPATH (DT_RPATH with --force-rpath)
      --add-rpath PATH
      --remove-rpath
      --shrink-rpath               drop directories that hold no needed library
      --allowed-rpath-prefixes P:Q with --shrink-rpath, keep only these prefixes
      --force-rpath                use DT_RPATH instead of DT_RUNPATH
      --add-needed LIB             repeatable
      --remove-needed LIB          also drops its symbol-version requirements
      --replace-needed OLD NEW
      --no-default-lib             set DF_1_NODEFLIB
      --set-os-abi ABI
      --set-execstack, --clear-execstack
      --add-debug-tag              add DT_DEBUG
      --clear-symbol-version SYM
      --rename-dynamic-symbols MAP one "OLD NEW" pair per line
      --page-size N                alignment of new segments (never below the file's
                                   largest PT_LOAD p_align)
      --output FILE                write FILE, leave the input unchanged; with several
                                   input files, give one --output per file, in order
      -j N, --jobs N               work on N files at once (default: one per processor);
                                   output stays in argument order
      --no-durability              no fsync: faster on many files, but after a power
                                   failure or kernel crash an edited file may be empty or
                                   old (never half-written); for trees rebuilt anyway
      --allow-read-only            also replace a file its user may not write (mode 0555,
                                   a read-only store path); by default such a file is
                                   refused ("Permission denied"), as patchelf refuses it
      --debug                      explain layout decisions on stderr
      --no-clobber-old-sections    keep the old bytes of every table the edit moves (by
                                   default they are cleared); refuse an edit that would
                                   overwrite them
      --overlay end|keep-offset    where a growing edit leaves bytes after the ELF image
                                   (bun, Nuitka, deno, AppImage payloads): end (default)
                                   keeps them the file's tail after the new content;
                                   keep-offset keeps their offsets, new content after them
      --no-sort                    swelf never sorts program or section headers; accepted
      --build-resolution-cache     record where each DT_NEEDED name resolves against the final
                                   run path in a .note.nixos.ldcache note (patchelf's);
                                   a later run-path or DT_NEEDED change drops the note

    An option value written @FILE is read from FILE.

    Commands:
      show FILE...                 summary: class, machine, type, interpreter, needed, run-path
      verify FILE...               check that a file is a consistent, loadable ELF file:
                                   "FILE: ok" on stdout, or each problem on stderr and
                                   exit 1; a core dump, an object file or a kernel module
                                   is not loadable: verify says what it is and fails
      doctor FILE                  explain, without running it, whether FILE would start here:
                                   file, architecture, interpreter, libraries (resolved as
                                   glibc's ld.so does), symbol versions, environment hazards;
                                   exit 0 would start, 1 would not
      ldd FILE...                  the resolved libraries in ldd's format, with the rule that
                                   found each where ldd prints the load address
        --tree                     as a dependency tree: each edge's rule, a library
                                   expanded once, the paths tried for a missing one
      portability FILE|DIR...      which systems the files (and everything they load) run on:
                                   per system library (glibc, its loader, libstdc++,
                                   libgcc_s) the newest symbol@version required and the file
                                   requiring it; the oldest glibc, libstdc++ and libgcc_s
                                   releases; the distributions that meet them. A directory
                                   means every ELF file under it. No input is run.
        --floor LIMITS             glibc=2.28[,glibcxx=3.4.24][,cxxabi=1.3.11][,gcc=4.8.0]:
                                   exit 1 naming each symbol@version and file beyond it
        --root DIR                 (doctor, ldd, portability) analyse a foreign tree
                                   (rootfs, sysroot): its ld.so.cache and system directories
        --env NAME=VALUE           assume this environment variable (repeatable; default:
                                   swelf's own environment)
        --json                     (show, verify, doctor, ldd, portability, bundle,
                                   autopatch) one JSON
                                   object: schema version, command, ok, then the report;
                                   files always an array (docs/json.md)
      bundle PROGRAM_OR_DIR...     ship programs to another machine: copy them to DIR/bin and
                                   every library they load that is not base system to DIR/lib,
                                   each copy with its own $ORIGIN RUNPATH and each program the
                                   target's standard loader; libraries resolved as doctor
                                   resolves them (any architecture; the one program run is
                                   this machine's ld.so --list-diagnostics); prints each
                                   decision and why, and warnings for what is loaded at run
                                   time (NSS, iconv, dlopen). A directory argument stands for
                                   every program under it, its layout kept; a library
                                   argument goes to DIR/lib. Sources are never changed (DIR
                                   may not be, hold or lie inside an input's tree); reruns
                                   are identical. Exit 1 when the written bundle would not
                                   start on its target (doctor's checks, without swelf's own
                                   LD_LIBRARY_PATH). Ends with the portability report.
        -o, --output DIR           the bundle directory (required; a non-empty one only
                                   with --update)
        --policy FILE              extra rules, first match wins, one per line:
                                   "exclude PATTERN REASON" or "bundle PATTERN REASON"
                                   (PATTERN a file name with * and ?); glibc and the loader
                                   are always excluded; the GPU stack, libcrypt.so.1,
                                   libstdc++ and libgcc_s by default
        --include-libstdcxx        bundle libstdc++ and libgcc_s too
        --root DIR, --env NAME=VALUE   as for doctor; --root is also the target checked
        --interpreter PATH         every program's PT_INTERP (default: its machine's
                                   standard loader, /lib64/ld-linux-x86-64.so.2, ...)
        --plugin FILE:DIR          place a dlopen'd library at DIR inside the bundle, with a
                                   run path to DIR/lib (repeatable)
        --update                   replace the previous bundle (its .swelf-bundle-manifest):
                                   stale files removed, other files left alone
        --allow-broken             a bundle that would not start: warn, exit 0
        --json                     the report as one JSON object (programs, libraries,
                                   decisions, warnings, errors, removed, starts,
                                   portability)
        Example, ship a program to an older server:
          swelf bundle -o dist build/myapp && scp -r dist server:/opt/myapp

    Examples:
      swelf portability ./app      my binary needs GLIBC_2.34; where does that come from?
      swelf portability --floor glibc=2.17 dist/
                                   gate a release tree on CentOS 7's glibc

      --help                       this text
      --version                    swelf's version
      -q, --quiet                  (every command, and the options above) errors only:
                                   nothing on stdout, no warning, no progress line; the
                                   exit status is the answer
      -v, --verbose                every warning on its own line; by default an identical
                                   warning about more than three files is one line,
                                   "5 files (a, b, c and 2 more): ...", in the text reports
                                   and among the patch options' warnings (JSON keeps all)
    On a terminal, bundle, portability and the patch options on several files show a
    progress line on stderr, erased at the end; a pipe or a file gets none.
      autopatch PATH...            fix a prebuilt tree: every ELF file's interpreter and the
                                   smallest run path that finds its libraries ($ORIGIN in
                                   the tree), one verified edit per file (autopatch --help)
      relocate OLD NEW PATH...     move an installed tree to another prefix: run paths,
                                   interpreters, C strings in data, text files and links,
                                   each file verified and replaced at once (relocate --help)
      help COMMAND, COMMAND --help one command's page (COMMAND: show, verify, doctor,
                                   ldd, bundle, portability, autopatch, relocate, or patch for the
                                   options above)

    The commands' options that take a value may also be written with an equals
    sign (--root=DIR); patchelf's options take theirs as the next argument, as in patchelf.

    Run through a link named patchelf, swelf is a drop-in for patchelf 0.19.3: patchelf's
    command line, messages and exit status (1 for every failure), and --version prints
    "patchelf 0.19.3+swelf.VERSION".

    Exit status: 0 success, 1 a file could not be read or changed, 64 usage error.

    """
}
