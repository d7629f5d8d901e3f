#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `swelf relocate --origin`: a run-path entry that the map sends into the moved tree,
/// written relative to the file that holds it (`$ORIGIN/../lib`), so that the tree keeps
/// working when it moves again.
///
/// Where the file will be: its path (made absolute, `.` and `..` resolved by name) under
/// an OLD, mapped to that NEW (the tree is relocated before it moves), or under a NEW as it
/// is (the tree was moved first, as conda and spack do); when the path as given is under
/// neither, its directory's real path is tried (the tree was named through a link). A file
/// under neither stays absolute: its place after the move is unknown.
///
/// Why by name and not by real path first: glibc's `$ORIGIN` for a library is the
/// directory of the name it was loaded by (a run-path directory, itself under NEW), and
/// for a program the directory of its real path; inside one tree both give the same
/// relative way to a sibling directory, and the name a user gave is the one they meant.
package struct OriginRelativePath: Sendable {
    let map: RelocationMap

    package init(map: RelocationMap) { self.map = map }

    /// `entry` (a run-path entry after the map, so under `tree`) relative to
    /// `directory` (the file's directory after the move) as `$ORIGIN[/..]*[/rest]`; nil
    /// unless both lie under `tree`, the NEW the entry was mapped to.
    static func relative(_ entry: [UInt8], from directory: [UInt8], tree: [UInt8]) -> [UInt8]? {
        let target = components(entry), from = components(directory), root = components(tree)
        guard target.starts(with: root), from.starts(with: root) else { return nil }
        var common = 0
        while common < target.count, common < from.count, target[common] == from[common] { common += 1 }
        var result = Array("$ORIGIN".utf8)
        for _ in common ..< from.count { result += Array("/..".utf8) }
        for component in target[common...] { result += [UInt8(ascii: "/")] + component }
        return result
    }

    /// The components of an absolute path, `.` dropped, `..` taking one back (never above
    /// the root), repeated slashes read as one.
    static func components(_ path: [UInt8]) -> [[UInt8]] {
        var result: [[UInt8]] = []
        for part in path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if part.elementsEqual([UInt8(ascii: ".")]) { continue }
            if part.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                if !result.isEmpty { result.removeLast() }
                continue
            }
            result.append(Array(part))
        }
        return result
    }

    static func joined(_ components: [[UInt8]]) -> [UInt8] {
        components.isEmpty ? [UInt8(ascii: "/")] : components.reduce(into: []) { $0 += [UInt8(ascii: "/")] + $1 }
    }

    /// The directory `path` (a file of the tree) will be in after the move, normalised;
    /// nil when it lies under no OLD and no NEW (see the type's comment).
    func directoryAfterMove(of path: String) -> [UInt8]? {
        var absolute = Array(path.utf8)
        if absolute.first != UInt8(ascii: "/") {
            guard let current = getcwd(nil, 0) else { return nil }
            defer { free(current) }
            absolute = Array(String(cString: current).utf8) + [UInt8(ascii: "/")] + absolute
        }
        var directory = OriginRelativePath.components(absolute)
        guard !directory.isEmpty else { return nil }
        directory.removeLast()
        if let moved = afterMove(directory) { return OriginRelativePath.joined(moved) }
        let joined = OriginRelativePath.joined(directory)
        guard let real = realpath(String(decoding: joined, as: UTF8.self), nil) else { return nil }
        defer { free(real) }
        return afterMove(OriginRelativePath.components(Array(String(cString: real).utf8))).map(OriginRelativePath.joined)
    }

    /// `directory` under the longest OLD or NEW it lies in: an OLD mapped to its NEW, a
    /// NEW as it is (when NEW lies inside OLD, a directory under both is taken to be
    /// under NEW, the longer).
    func afterMove(_ directory: [[UInt8]]) -> [[UInt8]]? {
        var best: (length: Int, result: [[UInt8]])?
        for pair in map.pairs {
            let old = OriginRelativePath.components(pair.old), new = OriginRelativePath.components(pair.new)
            if directory.starts(with: new), best.map({ new.count > $0.length }) ?? true {
                best = (new.count, directory)
            }
            if directory.starts(with: old), best.map({ old.count > $0.length }) ?? true {
                best = (old.count, new + directory[old.count...])
            }
        }
        return best?.result
    }

    /// The `$ORIGIN` form of `mapped` (a run-path entry after the map, from `entry`
    /// before it) for a file in `directory` after the move; nil when it stays absolute.
    func entry(_ mapped: [UInt8], mappedFrom entry: ArraySlice<UInt8>, directory: [UInt8]) -> [UInt8]? {
        guard let pair = map.match(in: entry, at: entry.startIndex, anywhere: false) else { return nil }
        return OriginRelativePath.relative(mapped, from: directory, tree: pair.new)
    }
}
