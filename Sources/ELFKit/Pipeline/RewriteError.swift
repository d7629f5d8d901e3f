import ELFKitCore
import ELFKitEdit
import ELFKitVerify

/// Why `Rewriter` did not edit a file.
///
/// Whatever the case, the destination was left as it was (same bytes, same inode) and no
/// temporary file remains. `description` is the one-line message the `swelf` command
/// prints for it.
public enum RewriteError: Error, CustomStringConvertible, Sendable {
    /// The input could not be read as an ELF file swelf handles: it could not be opened,
    /// it is not ELF, or a structure is truncated, overflows or is invalid. The error's
    /// `kind` says which and its `offset` where.
    case invalidInput(ELFError)
    /// The file is valid but the edit cannot be made on it (a shared library asked for an
    /// interpreter, no room for the program headers, a name that is not there, …).
    case refused(EditRefusal)
    /// The edited file did not pass verification: the change was not exactly the one
    /// requested, or the result is not a valid, loadable ELF file. Nothing was replaced.
    case verificationFailed([VerificationFailure])
    /// Another process holds the file's lock and the edit was asked not to wait
    /// (`Rewriter.prepare`); edit it alone later with `Rewriter.rewrite`.
    case busy(path: String)
    /// The file (or the directory that holds it) may not be written by this user, and the
    /// rewriter was not made with `allowReadOnly`; it holds the path and the `errno`.
    case notWritable(NotWritable)
    /// A system call failed while the new file was made or renamed into place, or the file
    /// changed under swelf so that it was left alone; `WriteError.code` keeps the `errno`.
    case fileSystem(WriteError)

    /// The one-line message for the user.
    public var description: String {
        // .invalidInput and .refused mirror EditError's .format and .refused
        // (ELFKitEdit/Edits/EditError.swift), flattened here so a client switches once.
        switch self {
        case .invalidInput(let error): return error.description
        case .refused(let refusal): return refusal.detail
        case .verificationFailed(let failures):
            return "refusing to write: the result failed verification: " + failures.map(\.description).joined(separator: "; ")
        case .busy(let path): return "\(path) is locked by another process"
        case .notWritable(let refusal): return refusal.description
        case .fileSystem(let error): return error.description
        }
    }

    /// The typed form of an error thrown inside the pipeline (the reader, the planner,
    /// the writer and the checks each throw their own type); `path` names a busy file.
    init(_ error: any Error, path: String) {
        switch error {
        case let error as RewriteError: self = error
        case let error as ELFError: self = .invalidInput(error)
        case EditError.format(let error): self = .invalidInput(error)
        case EditError.refused(let refusal): self = .refused(refusal)
        case let error as VerificationFailures: self = .verificationFailed(error.failures)
        case is LockBusy: self = .busy(path: path)
        case let error as NotWritable: self = .notWritable(error)
        case let error as WriteError: self = .fileSystem(error)
        default:
            // Every throwing call in the pipeline throws one of the types above; anything
            // else is still a failure to write, and keeps its message.
            self = .fileSystem(WriteError("\(error)"))
        }
    }
}

/// One reason an edited file failed verification.
public enum VerificationFailure: Hashable, Sendable, CustomStringConvertible {
    /// The edited file has a structural problem the original did not have (a segment past
    /// the end of the file, overlapping loads, a string table that is not loaded, …).
    case structure(StructureProblem)
    /// The independent verifier found a difference between the original and the edited
    /// file that the request does not allow, or a requested change that is missing.
    case change(VerificationProblem)
    /// The file written to disk is not the planned one: `offset` is where the first
    /// difference is, or the size differs (`expectedSize`, `actualSize`).
    case writtenFileDiffers(offset: UInt64?, expectedSize: UInt64, actualSize: UInt64)

    /// The problem in one sentence.
    public var description: String {
        switch self {
        case .structure(let problem): return problem.description
        case .change(let problem): return problem.description
        case .writtenFileDiffers(let offset?, _, _): return "the written file differs from the plan at offset 0x\(hex(offset))"
        case .writtenFileDiffers(nil, let expected, let actual):
            return "the written file has 0x\(hex(actual)) bytes, the plan 0x\(hex(expected))"
        }
    }
}

/// The failures of one check, thrown inside the pipeline and caught as
/// `RewriteError.verificationFailed` at its edge.
struct VerificationFailures: Error {
    let failures: [VerificationFailure]
}
