#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// libc functions that Swift's Glibc module does not import (they sit behind
/// `_GNU_SOURCE` or in headers the module map leaves out), looked up once by name.
/// A missing symbol makes the caller fall back, never crash.
struct SystemCalls {
    typealias CopyFileRange = @convention(c) (Int32, UnsafeMutablePointer<off_t>?, Int32, UnsafeMutablePointer<off_t>?, Int, UInt32) -> Int
    typealias ListAttributes = @convention(c) (Int32, UnsafeMutablePointer<CChar>?, Int) -> Int
    typealias GetAttribute = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
    typealias SetAttribute = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32

    let copyFileRange: CopyFileRange?
    let listAttributes: ListAttributes?
    let getAttribute: GetAttribute?
    let setAttribute: SetAttribute?

    init() {
        func find<T>(_ name: String, as type: T.Type) -> T? {
            guard let symbol = dlsym(nil, name) else { return nil }
            return unsafeBitCast(symbol, to: type)
        }
        copyFileRange = find("copy_file_range", as: CopyFileRange.self)
        listAttributes = find("flistxattr", as: ListAttributes.self)
        getAttribute = find("fgetxattr", as: GetAttribute.self)
        setAttribute = find("fsetxattr", as: SetAttribute.self)
    }
}
