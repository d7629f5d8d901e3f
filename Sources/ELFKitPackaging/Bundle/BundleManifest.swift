#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

/// The list of what a bundle wrote, kept inside it (`.swelf-bundle-manifest`): one path
/// relative to the bundle per line, after a first line that names the format. It is what
/// lets `--update` replace a previous bundle without touching anything else: a file the
/// manifest does not list was not written by swelf and is never replaced or removed.
package struct BundleManifest {
    package static let fileName = ".swelf-bundle-manifest"
    static let header = "# swelf bundle manifest 1: the files this bundle wrote, relative to it"

    /// The bundle directory.
    package let output: String

    package init(output: String) { self.output = output }

    /// What a write replaces: the paths of the previous bundle that the new one does
    /// not write again, to remove once the new files are in place.
    package struct Update {
        package let stale: [String]
        /// The previous bundle's paths (empty for a new bundle).
        package let previous: [String]
    }

    /// Decides whether the bundle may be written: a missing or empty directory always;
    /// a non-empty one only with `update`, and then only over the files its manifest
    /// lists (a file in the way that a previous bundle did not write is refused).
    package func prepare(writing entries: [String], update: Bool) throws(BundleError) -> Update {
        var status = stat()
        guard BytePath(output).withCString({ lstat($0, &status) }) == 0 else { return Update(stale: [], previous: []) }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            let what = status.st_mode & S_IFMT == S_IFLNK ? "a symbolic link (refused: the bundle stays inside its directory)" : "not a directory"
            throw BundleError("\(output) exists and is \(what)")
        }
        let present = BundleManifest.entries(of: output)
        guard !present.isEmpty else { return Update(stale: [], previous: []) }
        guard update else {
            throw BundleError("\(output) is not empty: refusing to merge into it (--update replaces a previous bundle there, as its \(BundleManifest.fileName) lists it)")
        }
        let previous = try read()
        let listed = Set(previous)
        for entry in entries where !listed.contains(entry) && exists(entry) {
            throw BundleError("\(output)/\(entry) exists and was not written by a previous bundle (its \(BundleManifest.fileName) does not list it): refusing to replace it")
        }
        let new = Set(entries)
        return Update(stale: previous.filter { !new.contains($0) }, previous: previous)
    }

    /// The previous bundle's entries; none when it has no manifest. A line that is not a
    /// path inside the bundle is an error naming it: the manifest decides what is removed.
    package func read() throws(BundleError) -> [String] {
        let path = output + "/" + BundleManifest.fileName
        guard let source = try? FileByteSource(path: BytePath(path)) else { return [] }
        guard let bytes = try? source.bytes(at: 0, count: source.size, BundleManifest.fileName) else {
            throw BundleError("\(path): cannot be read")
        }
        var entries: [String] = []
        for (number, line) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let text = ByteText.string(Array(line))
            if text.isEmpty || text.hasPrefix("#") { continue }
            guard BundleManifest.isInside(text) else {
                throw BundleError("\(path):\(number + 1): '\(text)' is not a path inside the bundle")
            }
            entries.append(text)
        }
        return entries
    }

    /// Writes the manifest listing `entries` (replacing the file atomically: a temporary
    /// file renamed over it).
    package func write(_ entries: [String]) throws(BundleError) {
        let path = output + "/" + BundleManifest.fileName
        let temporary = path + ".tmp"
        let text = ([BundleManifest.header] + entries).joined(separator: "\n") + "\n"
        let bytes = ByteText.bytes(text)
        let descriptor = BytePath(temporary).withCString { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644) }
        guard descriptor >= 0 else { throw BundleError("cannot write \(temporary): \(systemErrorMessage(errno))") }
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { writeBytes(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let error = errno
                close(descriptor)
                throw BundleError("cannot write \(temporary): \(systemErrorMessage(error))")
            }
            written += count
        }
        close(descriptor)
        guard BytePath(temporary).withCString({ tp in BytePath(path).withCString { rename(tp, $0) } }) == 0 else {
            throw BundleError("cannot write \(path): \(systemErrorMessage(errno))")
        }
    }

    /// Removes each stale entry of a previous bundle: a regular file or a link, reached
    /// through real directories of the bundle only (a link on the way could lead out).
    package func remove(_ stale: [String]) throws(BundleError) {
        for entry in stale where exists(entry) {
            let path = output + "/" + entry
            guard throughDirectoriesOnly(entry) else {
                throw BundleError("\(path): a directory on its way is a symbolic link; not removed")
            }
            var status = stat()
            guard BytePath(path).withCString({ lstat($0, &status) }) == 0, status.st_mode & S_IFMT != S_IFDIR else { continue }
            guard BytePath(path).withCString({ unlink($0) }) == 0 else {
                throw BundleError("cannot remove \(path): \(systemErrorMessage(errno))")
            }
        }
    }

    /// A relative path with no empty, `.` or `..` component and no newline.
    package static func isInside(_ entry: String) -> Bool {
        !entry.hasPrefix("/") && !entry.contains("\n")
            && entry.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }

    private func exists(_ entry: String) -> Bool {
        var status = stat()
        return BytePath(output + "/" + entry).withCString({ lstat($0, &status) }) == 0
    }

    private func throughDirectoriesOnly(_ entry: String) -> Bool {
        var path = output
        for component in entry.split(separator: "/").dropLast() {
            path += "/" + component
            var status = stat()
            guard BytePath(path).withCString({ lstat($0, &status) }) == 0, status.st_mode & S_IFMT == S_IFDIR else { return false }
        }
        return true
    }

    /// The names in `directory` (none when it cannot be read).
    static func entries(of directory: String) -> [String] {
        guard let stream = BytePath(directory).withCString({ opendir($0) }) else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in ByteText.string(Array(raw.prefix { $0 != 0 })) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

// `write` is also a method of `BundleManifest`; at file scope the call resolves to the
// system call.
private func writeBytes(_ descriptor: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int { write(descriptor, bytes, count) }
