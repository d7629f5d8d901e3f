import ELFKitCore
import ELFKitLoader

/// The plan while `BundlePlanner.plan` builds it, with what keeps each library, each
/// excluded or missing name and each scan for run-time loading to one.
struct BundlePlanBuilder {
    var plan = BundlePlan()
    /// Canonical path → index in `plan.libraries`.
    var libraryIndex: [String: Int] = [:]
    /// Name in lib/ → the canonical path bundled under it.
    var nameOwner: [String: String] = [:]
    /// Excluded and missing names already decided.
    var decided: Set<DecidedName> = []
    /// Indices into the policy's rules that matched a lookup.
    var usedRules: Set<Int> = []
    var programNames: Set<String> = []
    /// Canonical paths whose imports were scanned for run-time loading.
    var importScanned: Set<String> = []

    struct DecidedName: Hashable {
        let name: String
        let outcome: BundlePlan.Decision.Outcome
    }

    /// Records an excluded or missing name's decision, the first time only.
    mutating func decideOnce(_ decision: BundlePlan.Decision) {
        guard decided.insert(DecidedName(name: decision.name, outcome: decision.outcome)).inserted else { return }
        plan.decisions.append(decision)
    }

    /// Bundles `library` under its name, unless the same file is bundled already (under
    /// another name: a warning) or another file holds that name (a warning: the first
    /// one stays).
    mutating func bundle(_ library: BundlePlan.Library, reason: String, neededBy requesterName: String, rule: BundlePolicy.Rule?) {
        let canonical = library.canonical
        let name = library.name
        if let existing = libraryIndex[canonical] {
            let bundledName = plan.libraries[existing].name
            if bundledName != name, !(library.soname == bundledName) {
                plan.warnings.append("\(canonical) is needed as \(bundledName) and as \(name) (by \(requesterName)); it is bundled once, as \(bundledName)")
            }
        } else if let owner = nameOwner[name], owner != canonical {
            plan.warnings.append("two different files are needed as \(name): \(owner) is bundled, \(canonical) (for \(requesterName)) is not")
        } else {
            libraryIndex[canonical] = plan.libraries.count
            nameOwner[name] = canonical
            plan.libraries.append(library)
            plan.decisions.append(BundlePlan.Decision(name: name, neededBy: requesterName, outcome: .bundled,
                                                      reason: reason, path: library.source, rule: rule))
        }
    }
}
