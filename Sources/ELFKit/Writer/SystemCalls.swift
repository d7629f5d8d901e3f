#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Every system call the writer makes, as a value: `SystemCalls()` holds the real ones,
/// and a test replaces one of them to make that step fail (`FaultInjectionTests`).
///
/// The seam costs an indirect call per system call and no global state: the writer
/// holds its own copy. Each closure has the C function's signature and conventions
/// (−1 and `errno` on failure), so the writer's checks are the ones it makes against
/// the real calls. `copy_file_range` and the xattr calls are not imported by Swift's
/// Glibc module (they sit behind `_GNU_SOURCE` or in headers the module map leaves
/// out) and are looked up by name; a missing symbol makes the caller fall back, never
/// crash.
package struct SystemCalls {
    package typealias CopyFileRange = (Int32, UnsafeMutablePointer<off_t>?, Int32, UnsafeMutablePointer<off_t>?, Int, UInt32) -> Int
    package typealias ListAttributes = (Int32, UnsafeMutablePointer<CChar>?, Int) -> Int
    package typealias GetAttribute = (Int32, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
    package typealias SetAttribute = (Int32, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32

    package var open: (UnsafePointer<CChar>, Int32) -> Int32
    package var makeTemporary: (UnsafeMutablePointer<CChar>) -> Int32
    package var close: (Int32) -> Int32
    package var lock: (Int32, Int32) -> Int32
    package var status: (Int32, UnsafeMutablePointer<stat>) -> Int32
    package var pathStatus: (UnsafePointer<CChar>, UnsafeMutablePointer<stat>) -> Int32
    package var read: (Int32, UnsafeMutableRawPointer, Int, off_t) -> Int
    package var write: (Int32, UnsafeRawPointer, Int, off_t) -> Int
    /// `write(2)` at the current position, for outputs that cannot seek (a FIFO).
    package var writeSequential: (Int32, UnsafeRawPointer, Int) -> Int
    package var truncate: (Int32, off_t) -> Int32
    package var sync: (Int32) -> Int32
    package var changeOwner: (Int32, uid_t, gid_t) -> Int32
    package var changeMode: (Int32, mode_t) -> Int32
    package var rename: (UnsafePointer<CChar>, UnsafePointer<CChar>) -> Int32
    package var unlink: (UnsafePointer<CChar>) -> Int32
    package var effectiveUser: () -> uid_t
    package var copyFileRange: CopyFileRange?
    package var listAttributes: ListAttributes?
    package var getAttribute: GetAttribute?
    package var setAttribute: SetAttribute?

    package init() {
        typealias CopyFileRangeC = @convention(c) (Int32, UnsafeMutablePointer<off_t>?, Int32, UnsafeMutablePointer<off_t>?, Int, UInt32) -> Int
        typealias ListAttributesC = @convention(c) (Int32, UnsafeMutablePointer<CChar>?, Int) -> Int
        typealias GetAttributeC = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
        typealias SetAttributeC = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32
        func find<T>(_ name: String, as type: T.Type) -> T? {
            guard let symbol = dlsym(nil, name) else { return nil }
            return unsafeBitCast(symbol, to: type)
        }
        open = { Glibc.open($0, $1) }
        makeTemporary = { Glibc.mkstemp($0) }
        close = { Glibc.close($0) }
        lock = systemFlock
        status = { Glibc.fstat($0, $1) }
        pathStatus = systemStat
        read = { Glibc.pread($0, $1, $2, $3) }
        write = { Glibc.pwrite($0, $1, $2, $3) }
        writeSequential = { Glibc.write($0, $1, $2) }
        truncate = { Glibc.ftruncate($0, $1) }
        sync = { Glibc.fsync($0) }
        changeOwner = { Glibc.fchown($0, $1, $2) }
        changeMode = { Glibc.fchmod($0, $1) }
        rename = { Glibc.rename($0, $1) }
        unlink = { Glibc.unlink($0) }
        effectiveUser = { Glibc.geteuid() }
        copyFileRange = find("copy_file_range", as: CopyFileRangeC.self).map { function in { function($0, $1, $2, $3, $4, $5) } }
        listAttributes = find("flistxattr", as: ListAttributesC.self).map { function in { function($0, $1, $2) } }
        getAttribute = find("fgetxattr", as: GetAttributeC.self).map { function in { function($0, $1, $2, $3) } }
        setAttribute = find("fsetxattr", as: SetAttributeC.self).map { function in { function($0, $1, $2, $3, $4) } }
    }
}

// `flock` and `stat` are also struct names; outside the struct's initialiser the calls
// resolve to the functions.
private func systemFlock(_ descriptor: Int32, _ operation: Int32) -> Int32 { flock(descriptor, operation) }
private func systemStat(_ path: UnsafePointer<CChar>, _ result: UnsafeMutablePointer<stat>) -> Int32 { stat(path, result) }
