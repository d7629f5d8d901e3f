@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// What came out of calling every reader API on one input.
struct ReaderOutcome {
    var parsed = false
    var errors: [ELFError] = []
    var needed: [String]?
}

/// Calls every read-only API on `bytes`. Each must return or throw `ELFError` (the
/// typed `throws(ELFError)` makes anything else impossible); a Swift trap kills the
/// test process, which is how a crash shows up as a failure.
func exerciseReader(_ bytes: [UInt8]) -> ReaderOutcome {
    var outcome = ReaderOutcome()
    let file: ELFFile
    do {
        file = try ELFFile(source: MemoryByteSource(bytes))
    } catch {
        outcome.errors.append(error)
        return outcome
    }
    outcome.parsed = true
    func attempt<T>(_ body: () throws(ELFError) -> T) -> T? {
        do { return try body() } catch {
            outcome.errors.append(error)
            return nil
        }
    }
    _ = attempt { () throws(ELFError) in try file.interpreter() }
    _ = attempt { () throws(ELFError) in try file.rawInterpreter() }
    _ = file.sectionNames()
    _ = file.section(named: ".dynamic")
    _ = file.sectionNameTableIndex
    _ = file.executableStack
    _ = file.isStatic
    _ = file.isPIE
    _ = file.isStaticPIE
    _ = file.loadSegments
    for header in file.sectionHeaders where header.type == .strtab {
        _ = attempt { () throws(ELFError) in try file.readStringTable(section: header) }
    }
    _ = attempt { () throws(ELFError) in try file.notes() }
    _ = attempt { () throws(ELFError) in try file.requireDynamic() }
    if let dynamic = attempt({ () throws(ELFError) in try file.dynamic() }) ?? nil {
        outcome.needed = attempt { () throws(ELFError) in try dynamic.needed() }
        _ = attempt { () throws(ELFError) in try dynamic.soname() }
        _ = attempt { () throws(ELFError) in try dynamic.rpath() }
        _ = attempt { () throws(ELFError) in try dynamic.runpath() }
        _ = attempt { () throws(ELFError) in try dynamic.versionNeeds() }
        _ = attempt { () throws(ELFError) in try dynamic.versionDefinitions() }
        if let table = attempt({ () throws(ELFError) in try dynamic.stringTable() }) {
            for entry in dynamic.entries where entry.tag.isStringOffset {
                _ = attempt { () throws(ELFError) in try table.string(at: entry.value) }
                _ = attempt { () throws(ELFError) in try table.rawString(at: entry.value) }
            }
        }
        _ = dynamic.flags
        _ = dynamic.flags1
    }
    for error in outcome.errors { _ = error.description }
    return outcome
}
