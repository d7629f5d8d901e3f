/// What `swelf help COMMAND` and `swelf COMMAND --help` describe: one command, or
/// (`patch`) the print and edit options of a call without a command.
enum HelpTopic: String, CaseIterable {
    case patch, show, verify, doctor, ldd, bundle, portability, autopatch, relocate
}

/// One page per command: synopsis, options, examples, exit status. The full list of
/// everything stays `HelpText.text` (`swelf --help`, `swelf help`).
extension HelpText {
    static func page(_ topic: HelpTopic) -> String {
        switch topic {
        case .patch: return patchPage
        case .show: return show
        case .verify: return verify
        case .doctor: return doctor
        case .ldd: return ldd
        case .bundle: return bundle
        case .portability: return portability
        case .autopatch: return autopatch
        case .relocate: return relocate
        }
    }

    /// The patch options are the full list's Print and Edit sections, cut from it so that
    /// the two never disagree.
    static var patchPage: String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let start = lines.firstIndex(of: "Print:") ?? 0
        let end = lines.firstIndex(of: "An option value written @FILE is read from FILE.") ?? lines.count - 1
        let options = lines[start ... end].joined(separator: "\n") + "\n"
        return """
        Usage: swelf [OPTION]... FILE...

        Print and edit the dynamic-linking fields of each FILE, with NixOS patchelf's
        options and output. The edited file is verified, then replaces FILE at once (or is
        written to --output); a failure leaves FILE as it was.


        """ + options + """

        -q, --quiet and -v, --verbose: errors only (no output, no warning, no progress
        line), or every warning on its own line (by default an identical warning about
        more than three files is one line, after the files' output). On a terminal,
        several files get a progress line on stderr; a pipe or a file gets none.

        patchelf's options take their value as the next argument, as in patchelf
        (--set-rpath=x is no option there); -j/--jobs also takes --jobs=N.

        Examples:
          swelf --print-needed --print-rpath build/app
          swelf --set-interpreter /lib64/ld-linux-x86-64.so.2 --set-rpath '$ORIGIN/../lib' build/app

        Exit status: 0 success, 1 a file could not be read or changed, 64 usage error.

        """
    }

    static let show = """
    Usage: swelf show [--json] FILE...

    A summary of each ELF file: class, machine, type, interpreter, needed libraries,
    run path. A file that cannot be read is reported on stderr; the others are shown.

    Options:
      --json                       the summaries as one JSON object (docs/json.md): each
                                   file an entry of "files", one that fails with "ok": false
      -q, --quiet                  errors only: nothing on stdout, no warning; the
                                   exit status is the answer
      -v, --verbose                accepted (show has no warnings)
      -h, --help                   this page

    Examples:
      swelf show /bin/ls
      swelf show --json build/app build/libfoo.so

    Exit status: 0 every file was read, 1 a file could not be read, 64 usage error.

    """

    static let verify = """
    Usage: swelf verify [--json] FILE...

    Check that each file is a consistent, loadable ELF file: "FILE: ok" on stdout, or
    each problem on stderr ("swelf: FILE: problem"). A core dump, an object file or a
    kernel module is not loadable: verify says what it is and fails.

    Options:
      --json                       the results as one JSON object on stdout
                                   (docs/json.md); the problems are also printed on stderr
      -q, --quiet                  errors only: nothing on stdout, no warning; the
                                   exit status is the answer
      -v, --verbose                accepted (each problem is always listed)
      -h, --help                   this page

    Examples:
      swelf verify build/app
      swelf verify dist/lib/*.so

    Exit status: 0 every file passed, 1 a file has a problem or could not be read,
    64 usage error.

    """

    static let doctor = """
    Usage: swelf doctor [--root DIR] [--env NAME=VALUE]... [--json] FILE

    Explain, without running it, whether FILE would start here: file, architecture,
    interpreter, libraries (resolved as glibc's ld.so does), symbol versions,
    environment hazards; and what to change when it would not, with the command to paste
    when one command is the fix (a library in the program's directory or a sibling
    lib/: swelf --set-rpath '$ORIGIN/../lib' FILE). A program for another machine is
    pointed to the sysroot here that holds its loader (/usr/<triple>). A missing GLIBC_
    version names the symbols that need it and the builds that fit.

    Options:
      --root DIR                   judge against a foreign tree (rootfs, sysroot): its
                                   ld.so.cache and system directories; DIR must be a
                                   directory
      --env NAME=VALUE             assume this environment variable (repeatable; default:
                                   swelf's own environment)
      --json                       the report as one JSON object (docs/json.md)
      -q, --quiet                  errors only: nothing on stdout, no warning; the
                                   exit status is the answer
      -v, --verbose                accepted (doctor lists every finding)
      -h, --help                   this page
    An option's value may also be written --root=DIR, --env=NAME=VALUE.

    Examples:
      swelf doctor ./app
      swelf doctor --root /srv/rootfs --env LD_LIBRARY_PATH=/opt/app/lib ./app

    Exit status: 0 FILE would start, 1 it would not, 64 usage error.

    """

    static let ldd = """
    Usage: swelf ldd [--root DIR] [--env NAME=VALUE]... [--tree] [--json] FILE...

    The libraries each FILE loads, in ldd's format, resolved as glibc's ld.so resolves
    them, without running FILE or what it loads (only this machine's own loader is run,
    as "ld.so --list-diagnostics", to learn its directories). Where ldd prints the load
    address, swelf prints the rule that found the library (RUNPATH, LD_LIBRARY_PATH,
    ld.so.cache, ...).

    Options:
      --root DIR                   resolve in a foreign tree (rootfs, sysroot); DIR must
                                   be a directory
      --env NAME=VALUE             assume this environment variable (repeatable; default:
                                   swelf's own environment)
      --tree                       a dependency tree, as libtree draws it: each edge with
                                   the rule that found it, a library expanded once (later
                                   edges say "already loaded"), and the paths tried for a
                                   library that is not found
      --json                       each file's lookups as one JSON object (docs/json.md):
                                   name, who needed it, path, rule, the paths tried
      -q, --quiet                  errors only: nothing on stdout, no warning; the
                                   exit status is the answer
      -v, --verbose                accepted (ldd lists every library)
      -h, --help                   this page
    An option's value may also be written --root=DIR, --env=NAME=VALUE.

    Examples:
      swelf ldd /bin/ls
      swelf ldd --tree --env LD_LIBRARY_PATH=dist/lib dist/bin/app

    A file for another machine is not resolved without --root: one line on stderr says
    so and suggests the sysroot (swelf ldd --root /usr/aarch64-linux-gnu FILE).

    Exit status: 0 success, 1 a file could not be read or is not dynamically linked
    (as ldd), or is for another machine and no --root was given, 64 usage error.

    """

    static let bundle = """
    Usage: swelf bundle --output DIR [--policy FILE] [--include-libstdcxx] [--root DIR]
                        [--env NAME=VALUE]... [--interpreter PATH] [--plugin FILE:DIR]...
                        [--update] [--allow-broken] [--json] INPUT...

    Ship programs to another machine: copy them to DIR/bin and every library they load
    that is not base system to DIR/lib, each copy with its own $ORIGIN RUNPATH to
    DIR/lib and each program the target's standard loader as PT_INTERP. Libraries are
    resolved as doctor resolves them (any architecture); each decision is printed with
    its reason, with warnings for what is loaded at run time (NSS, iconv, dlopen).
    INPUT is a program (to bin/), a shared library (to lib/), or a directory: every
    program under it, its layout kept (DIR/libexec/plugins/helper stays there). DIR may
    not be, hold or lie inside an input's tree; a non-empty DIR is refused unless
    --update. After writing, doctor's checks run on every program against the target
    (this machine, or --root), without swelf's own LD_LIBRARY_PATH: a bundle that would
    not start is an error naming why. Sources are never changed; reruns are identical.
    The report ends with the portability report of the bundle. The one program run is
    this machine's loader, as "ld.so --list-diagnostics", to learn its directories.
    On a terminal, a progress line on stderr counts the files written.

    Options:
      -o, --output DIR             the bundle directory (required)
      --policy FILE                extra rules, first match wins, one per line:
                                   "exclude PATTERN REASON" or "bundle PATTERN REASON"
                                   (PATTERN a file name with * and ?); glibc and the
                                   loader are always excluded; the GPU stack,
                                   libcrypt.so.1, libstdc++ and libgcc_s by default
      --include-libstdcxx          bundle libstdc++ and libgcc_s too
      --root DIR                   the target's root (a sysroot, an image): resolve and
                                   check there; DIR must be a directory
      --env NAME=VALUE             assume this environment variable when resolving
                                   (repeatable)
      --interpreter PATH           the PT_INTERP of every program (default: the standard
                                   loader of its machine, /lib64/ld-linux-x86-64.so.2, ...)
      --plugin FILE:DIR            place a library the programs dlopen at DIR inside the
                                   bundle (relative, no ..), its run path to DIR/lib
                                   (repeatable)
      --update                     replace the previous bundle in a non-empty DIR: only
                                   the files its .swelf-bundle-manifest lists; stale ones
                                   are removed, other files left
      --allow-broken               a bundle that would not start is a warning, not an error
      --json                       the report as JSON
      -q, --quiet                  errors only: nothing on stdout, no warning, no progress
                                   line; the exit status is the answer
      -v, --verbose                every warning on its own line (by default an identical
                                   warning about more than three files is one line,
                                   "5 files (bin/a, bin/b, bin/c and 2 more): ...")
      -h, --help                   this page
    An option's value may also be written --output=DIR, --policy=FILE, --root=DIR,
    --env=NAME=VALUE, --interpreter=PATH, --plugin=FILE:DIR.

    Examples:
      swelf bundle -o dist build/myapp && scp -r dist server:/opt/myapp
      swelf bundle --output=dist --policy=bundle.policy build/bin
      swelf bundle --update -o dist --plugin build/libplug.so:bin/plugins build/myapp
      swelf bundle --root /usr/aarch64-linux-gnu -o dist-arm64 build-arm64/myapp

    Exit status: 0 the bundle was written and would start, 1 it was not written (the
    reasons on stderr) or would not start on its target (unless --allow-broken),
    64 usage error.

    """

    static let relocate = """
    Usage: swelf relocate [--origin] [--dry-run] [--json] [--keep-going]
                          [--allow-read-only] [-j N] OLD NEW PATH...
           swelf relocate --map OLD=NEW [--map OLD=NEW]... [OPTION]... PATH...

    Move an installed tree from the prefix OLD to NEW. Every file under PATH that holds
    OLD where a path starts (OLD at the start of a string or after one of : = ; , '
    " or whitespace, and followed by /, the end or such a separator):
      ELF files  run-path entries, the interpreter, DT_NEEDED paths and the soname are
                 rewritten by the rewrite engine (a longer NEW grows safely); C strings
                 in loaded, non-executable data sections (.rodata, .data) are rewritten
                 in place, a shorter result padded with NULs at the end of that string
                 (with extra / to the same length in a C++ or Go program, whose string
                 lengths are compiled in). A longer data string or a string without a
                 NUL in its section is refused, naming the file, section and offset, and
                 that file is not written.
      text files (not ELF, no NUL in the first 8 KiB: scripts, .pc, .la, .cmake) get
                 OLD replaced, keeping owner and mode; a #! line over 255 bytes is
                 reported.
      symbolic links whose absolute target starts with OLD are re-pointed.
    Each file is written once, atomically, verified first: the data strings by an
    independent check (every changed byte is a mapped string, padded; nothing else
    changed), the dynamic strings by the engine's verifier. A refused site, an
    unreadable, read-only or busy file, or a file the verifier refuses writes nothing,
    unless --keep-going (a tree larger than one batch is checked whole before the first
    write). Directory links are not followed; a hard-linked file is written once, its
    other names in the tree then linked to the new file.

    Options:
      --map OLD=NEW                a prefix and its replacement (repeatable; no OLD may
                                   be a path prefix of another)
      --origin                     write run-path entries that lead into the moved tree
                                   relative to the file ($ORIGIN/../lib), for files
                                   under OLD or NEW
      -n, --dry-run                list every site; write nothing
      --json                       the sites and the outcome as one JSON document
      --keep-going                 write every file that can be written; exit 1 at the end
      --allow-read-only            replace files whose mode forbids writing them
      -j N, --jobs N               files worked on at once (default: one per processor)

    Output: one line per site, FILE: KIND [SECTION] [at 0xOFFSET]: BEFORE -> AFTER,
    then a summary: files scanned, changed, sites, refused.

    Examples:
      swelf relocate --dry-run /build/placehold_placehold /opt/app /opt/app
      swelf relocate --map /build/a=/opt/a --map /build/b=/opt/b tree

    Exit status: 0 every site relocated, 1 a site refused or a file not written (the
    reasons on stderr), 64 usage error (a bad map among them).

    """

    static let autopatch = """
    Usage: swelf autopatch [--dry-run] [--libs DIR]... [--interpreter PATH]
                           [--ignore-missing PATTERN]... [--no-recurse] [--absolute]
                           [--runtime-dependencies DIR]... [--append-rpaths DIR]...
                           [--keep-libc] [--ignore-existing] [--root DIR] [--keep-going]
                           [--allow-read-only] [-j N] [--json] PATH...
                           [--extra-args PATCHELF-OPTION...]

    Fix a prebuilt tree: for every ELF file under PATH, find a provider for each
    DT_NEEDED (in the tree, then in --libs, each followed by the absolute run-path
    directories of its libraries, then the target's own libraries, each checked for
    class, machine, OS ABI and the symbol versions needed) and plan the smallest
    RUNPATH that finds them all: tree providers as $ORIGIN paths at the file's depth,
    --libs and run-path ones absolute, system libraries not at all. The libraries a file
    names in a .note.dlopen note (FDO dlopen metadata) are resolved the same way, the
    first name found of each entry; a required one not found is an error, others a
    warning. A program gets --interpreter, else the loader NIX_BINTOOLS names, else
    its machine's standard loader found in the tree or --libs, else keeps its own
    (an error when that does not exist on the target); libraries never get one. Files
    of another machine or OS ABI than the target's loader, and other files, are
    counted and left alone.
    Each changed file is written with one verified, durable, atomic edit (interpreter
    and run path together), -j files at a time; a file already right is not rewritten.
    Any error (a missing library, an unreadable ELF file, a file that may not be
    written) writes nothing, unless --keep-going: a tree larger than one batch of
    edits is checked whole before the first file is written; only a failure that
    writing alone shows (a full disk) can leave earlier batches written. A file
    reached by several names (links, hard links) is written once; its hard links are
    then linked to the new file. Symbolic links to directories in the tree are
    followed once; links out of it are reported and not followed. See
    docs/autopatch-design.md.

    Options:
      --dry-run                    print the plan; write nothing
      --paths PATH                 a tree or file to patch, as auto-patchelf.py's flag
                                   (repeatable; plain arguments are paths too)
      --libs DIR                   providers directly in DIR, after the tree (repeatable)
      --interpreter PATH           the PT_INTERP of every program (default: the one
                                   NIX_BINTOOLS names, else the standard loader in the
                                   tree or --libs, else its own)
      --ignore-missing PATTERN     a missing library matching PATTERN (fnmatch) is
                                   reported, not an error (repeatable)
      --runtime-dependencies DIR   first in every program's run path, for the libraries
                                   it opens with dlopen (repeatable)
      --append-rpaths DIR          last in every patched file's run path (repeatable)
      --keep-existing              keep the old run path's entries that still name a
                                   directory, after the new ones
      --keep-libc                  look for glibc's own libraries in the tree and --libs
                                   too, and write the directory of the target's libc
                                   (without it they are always the target's, unwritten)
      --ignore-existing            the tree's files are not providers: --libs and the
                                   system only (auto-patchelf.py's flag)
      --extra-args OPTION...       every argument after it: patchelf options applied to
                                   each edit: --force-rpath, --no-default-lib,
                                   --page-size N, --no-sort, --no-clobber-old-sections
      --no-recurse                 only the files directly in each PATH
      --absolute                   tree providers as absolute directories, not $ORIGIN
      --root DIR                   the target's root, for the system libraries
      --keep-going                 write every file whose libraries were all found,
                                   then exit 1 if anything failed
      --allow-read-only            replace files their user may not write (mode 0444),
                                   keeping the mode; without it they are refused, as
                                   patchelf refuses them (root may write any file)
      -j, --jobs N                 files edited at a time (default: one per processor)
      --json                       the plan and its outcome as JSON (docs/json.md)
      -q, --quiet                  errors only
      -v, --verbose                also unchanged and static files
      -h, --help                   this page
    With --paths on the command line (auto-patchelf.py's style) the list options take
    every value up to the next option: --paths A B --libs C D.

    Environment:
      NIX_BINTOOLS                 without --interpreter, as auto-patchelf.py reads it:
                                   nix-support/dynamic-linker is the interpreter, and
                                   the files of nix-support/orig-libc + /lib are glibc's
                                   libraries (written only with --keep-libc); an
                                   unreadable file is an error. autoPatchelfHook's own
                                   call with `swelf autopatch` for the script works.

    Examples:
      swelf autopatch --dry-run --libs /opt/vendor/lib pkg
      swelf autopatch --interpreter /lib64/ld-linux-x86-64.so.2 --ignore-missing 'libcuda*' pkg

    Exit status: 0 every need has a provider and every change was written, 1 a need is
    missing, a file could not be read or written (one line each on stderr), 64 usage
    error.

    """

    static let portability = """
    Usage: swelf portability [--floor LIMITS] [--root DIR] [--env NAME=VALUE]... [--json] FILE|DIR...

    Which systems the files (and everything they load) run on: per system library
    (glibc, its loader, libstdc++, libgcc_s) the newest symbol@version required and the
    file requiring it; the oldest glibc, libstdc++ and libgcc_s releases; the
    distributions that meet them. A directory means every ELF file under it. Nothing
    is run.

    Options:
      --floor LIMITS               glibc=2.28[,glibcxx=3.4.24][,cxxabi=1.3.11][,gcc=4.8.0]:
                                   fail, naming each symbol@version and file beyond it
      --root DIR                   resolve in a foreign tree; DIR must be a directory
      --env NAME=VALUE             assume this environment variable (repeatable)
      --json                       the report as JSON
      -q, --quiet                  errors only: nothing on stdout, no warning, no progress
                                   line; the exit status is the answer
      -v, --verbose                every note on its own line (by default an identical note
                                   about more than three files is one line)
      -h, --help                   this page
    An option's value may also be written --floor=LIMITS, --root=DIR, --env=NAME=VALUE.

    Examples:
      swelf portability ./app      my binary needs GLIBC_2.34; where does that come from?
      swelf portability --floor glibc=2.17 dist/
                                   gate a release tree on CentOS 7's glibc

    Exit status: 0 success, 1 a file could not be read or a floor is exceeded,
    64 usage error.

    """
}
