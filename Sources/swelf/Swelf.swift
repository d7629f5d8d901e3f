import ELFKit

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
        do {
            command = try ArgumentParser(readArgumentFile: FileSystem.readContents, personality: personality).parse(arguments)
        } catch let error as UsageError {
            terminal.error(error.message)
            if personality == .swelf {
                terminal.standardError.line("Try 'swelf --help' for more information.")
            }
            return personality.usageStatus
        } catch {
            // An @FILE value that could not be read.
            terminal.error("\(error)")
            return .failure
        }

        switch command {
        case .help:
            if personality == .patchelf {
                terminal.standardError.write(PatchelfHelp.text(programName: terminal.invokedAs))
            } else {
                terminal.standardOutput.write(HelpText.text)
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
        }
    }

    /// Prints and edits each file in turn. As swelf, a failure on one file does not stop
    /// the others; as patchelf, the first failure ends the run, as it does in patchelf.
    private func runPatch(_ invocation: PatchInvocation) -> ExitCode {
        var status = ExitCode.success
        for path in invocation.files {
            if personality == .patchelf {
                if let problem = PatchelfInputCheck.problem(path: path) {
                    terminal.standardOutput.flush()
                    terminal.error(problem)
                    return .failure
                }
                do {
                    let editing = !invocation.edits.isEmpty || invocation.output != nil
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
            }
            do {
                let file = try ELFFile(path: path)
                let printer = FilePrinter(file: file, output: terminal.standardOutput)
                for request in invocation.prints.sorted() { try printer.print(request) }
                if !invocation.edits.isEmpty || (invocation.output != nil) {
                    try PatchCommand(terminal: terminal, debug: invocation.debug, keepOldSections: invocation.keepOldSections)
                        .patch(path: path, edits: invocation.edits, output: invocation.output)
                }
            } catch {
                terminal.standardOutput.flush()
                terminal.error("\(error)", file: path)
                status = .failure
                if personality == .patchelf { break }
            }
        }
        return status
    }
}

enum HelpText {
    static let text = """
    Usage: swelf [OPTION]... FILE...
           swelf show [--json] FILE...
           swelf verify [--json] FILE...
           swelf doctor [--root DIR] [--env NAME=VALUE]... [--json] FILE
           swelf ldd [--root DIR] [--env NAME=VALUE]... FILE...

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
      --page-size N                alignment of new segments
      --output FILE                write FILE, leave the input unchanged
      --debug                      explain layout decisions on stderr
      --no-clobber-old-sections    refuse an edit that would overwrite the old bytes of a
                                   table it moves (swelf never fills them in otherwise)
      --no-sort                    swelf never sorts program or section headers; accepted
      --build-resolution-cache     patchelf's .note.nixos.ldcache: not implemented, refused

    An option value written @FILE is read from FILE.

    Commands:
      show FILE...                 summary: class, machine, type, interpreter, needed, run-path
      verify FILE...               check that a file is a consistent, loadable ELF file
      doctor FILE                  explain, without running it, whether FILE would start here:
                                   file, architecture, interpreter, libraries (resolved as
                                   glibc's ld.so does), symbol versions, environment hazards;
                                   exit 0 would start, 1 would not
      ldd FILE...                  the resolved libraries in ldd's format, with the rule that
                                   found each where ldd prints the load address
        --root DIR                 analyse a foreign tree (rootfs, sysroot): its ld.so.cache
                                   and system directories
        --env NAME=VALUE           assume this environment variable (repeatable; default:
                                   swelf's own environment)

      --help                       this text
      --version                    swelf's version

    Run through a link named patchelf, swelf is a drop-in for patchelf 0.19.3: patchelf's
    command line, messages and exit status (1 for every failure), and --version prints
    "patchelf 0.19.3+swelf.VERSION".

    Exit status: 0 success, 1 a file could not be read or changed, 64 usage error.

    """
}
