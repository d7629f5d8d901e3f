import ELFKitCore

/// Files that relocate themselves (a static PIE, the dynamic loader): what an edit of
/// them must leave alone.
extension PlanInput {
    /// A file with PT_DYNAMIC that runs without an interpreter (a static PIE, or a dynamic
    /// loader such as ld.so) relocates itself before anything else runs. It finds its
    /// dynamic section through `_DYNAMIC`, the link-time address of `.dynamic` built into
    /// its code, never through PT_DYNAMIC: there `.dynamic` must not move.
    var relocatesItself: Bool {
        guard file.firstSegment(.dynamic) != nil, file.firstSegment(.interp) == nil else { return false }
        return file.isStaticPIE || file.header.entry != 0
    }

    static let selfRelocationReason =
        "this file runs without an interpreter and relocates itself through _DYNAMIC, the link-time address of .dynamic, so .dynamic cannot move"

    /// Edits a self-relocating file cannot take: more dynamic entries than `.dynamic` has
    /// slots, and a run path (glibc's static-PIE start-up asserts that there is no
    /// DT_RUNPATH or DT_RPATH, up to at least 2.41; the program dies before `main`).
    /// - Parameter movesDynamic: The edited entries no longer fit in `.dynamic`.
    /// - Parameter dynamicCapacity: The slots they need, with the spare ones.
    /// - Throws: `EditError.refused` (`.selfRelocating`) for such an edit.
    func refuseUnsafeSelfRelocatingEdit(movesDynamic: Bool, dynamicCapacity: Int) throws {
        guard relocatesItself, let dynamic = try file.dynamic() else { return }
        if movesDynamic {
            throw EditError.refused(EditRefusal(.selfRelocating, ".dynamic has \(dynamic.capacity) slots and the edit needs \(dynamicCapacity - LayoutPlanner.spareDynamicSlots); \(Self.selfRelocationReason)", offset: dynamic.fileOffset))
        }
        let hadRunPath = dynamic.has(.runpath) || dynamic.has(.rpath)
        if file.isStaticPIE && !hadRunPath && outcome.entries.contains(where: { $0.tag == .runpath || $0.tag == .rpath }) {
            throw EditError.refused(EditRefusal(.selfRelocating, "a static PIE cannot have DT_RUNPATH or DT_RPATH: glibc's start-up code asserts that it has none, and the program would die before main"))
        }
    }
}
