import ELFKitCore

/// Why an edit could not be made.
///
/// Nothing is written when an edit fails: the input file is left as it was.
public enum EditError: Error, CustomStringConvertible, Sendable {
    /// The input is not a valid ELF file; the `ELFError` says what is wrong and where.
    case format(ELFError)
    /// The file is valid but the edit cannot be applied to it: what kind of refusal it
    /// is, the message for the user, and the offending offset when there is one.
    case refused(EditRefusal)

    /// The message for the user, as the command line prints it: the format error or the
    /// refusal's `detail`.
    public var description: String {
        // Mirrored by RewriteError.invalidInput/.refused (ELFKit/Pipeline/RewriteError.swift):
        // the pipeline flattens these cases into its own error so a client switches once.
        switch self {
        case .format(let error): return error.description
        case .refused(let refusal): return refusal.detail
        }
    }
}

/// An edit the planner will not make on a valid file: what kind of obstacle it met, the
/// message for the user, and where in the file the obstacle lies when one place can be
/// named.
///
/// A client switches over `kind`; `detail` is the text swelf prints (and the patchelf
/// personality's message, word for word where patchelf has one), so it is not meant to
/// be parsed.
public struct EditRefusal: Sendable, Equatable, CustomStringConvertible {
    /// What kind of obstacle refused the edit.
    public enum Kind: Sendable, Equatable, Hashable {
        /// The file is not a program or a shared library (a relocatable object, a kernel
        /// module, a core dump): the loader never reads it, so nothing in it can be edited
        /// for the loader.
        case notLoadable
        /// `--set-interpreter` on a file without PT_INTERP (a shared library, or a
        /// statically linked program): there is no interpreter to replace.
        case noInterpreter
        /// An edit of dynamic entries on a file without a dynamic section the loader reads:
        /// a statically linked program, or a `.dynamic` section no PT_DYNAMIC locates.
        case noDynamicSection
        /// The file runs without an interpreter and relocates itself through `_DYNAMIC`
        /// (a static PIE, or a dynamic loader such as ld.so): `.dynamic` cannot move, and
        /// a static PIE cannot take a run path.
        case selfRelocating
        /// The edit needs more program headers and there is no room for them: nothing
        /// after the program header table can move out of its way, and the table itself
        /// cannot move (or, without section headers, there is nowhere to keep a PN_XNUM
        /// count).
        case noRoomForProgramHeaders
        /// A table the edit must read or rewrite is malformed in a way reading the file did
        /// not need to reject: a count, size or index that does not match the table it
        /// describes, or a range that overflows.
        case inconsistentTable
        /// The symbol-version tables (`.gnu.version_r`, `.gnu.version`) cannot be changed
        /// as the edit needs: an entry outside its table, or a table whose extent is unknown.
        case symbolVersions
        /// The file is valid but arranged in a way swelf does not edit (an unknown dynamic
        /// symbol count, DT_SYMTAB_SHNDX, a `.dynsym` MIPS forbids reordering, section
        /// headers without a section-name table).
        case unsupportedLayout
        /// `--no-clobber-old-sections` (`EditRequest.keepOldBytes`): the edit could only be
        /// made by overwriting the old bytes of a table it moves.
        case oldBytesOverwritten
        /// `--build-resolution-cache` on a file that already has a different resolution
        /// cache note.
        case resolutionCachePresent
        /// The bytes after the ELF image (an overlay) cannot be kept as their format needs
        /// them: a UPX-packed program (edit the program after `upx -d`), or a deno trailer
        /// whose absolute positions point outside the overlay (docs/overlay-design.md §12).
        case overlay
        /// The planner found its own plan inconsistent (overlapping changes, a table it
        /// placed that does not fit): a bug in swelf, refused rather than written.
        case internalError
    }

    /// What kind of obstacle refused the edit.
    public var kind: Kind
    /// The message for the user, exactly as swelf prints it.
    public var detail: String
    /// Byte offset in the input file of the offending structure, when the refusal can
    /// name one.
    public var offset: UInt64?

    /// A refusal of `kind` with the message `detail`.
    /// - Parameter kind: What kind of obstacle refused the edit.
    /// - Parameter detail: The message for the user, printed as it is.
    /// - Parameter offset: The offending structure's byte offset in the input file, if known.
    public init(_ kind: Kind, _ detail: String, offset: UInt64? = nil) {
        self.kind = kind
        self.detail = detail
        self.offset = offset
    }

    /// The message for the user: `detail`.
    public var description: String { detail }
}
