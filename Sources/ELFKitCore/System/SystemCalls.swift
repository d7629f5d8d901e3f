#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// libc functions that Swift's Glibc module does not import (they sit behind
/// `_GNU_SOURCE` or in headers the module map leaves out), looked up once by name.
/// A missing symbol makes the caller fall back, never crash.
package struct SystemCalls {
    package typealias CopyFileRange = @convention(c) (Int32, UnsafeMutablePointer<off_t>?, Int32, UnsafeMutablePointer<off_t>?, Int, UInt32) -> Int
    package typealias ListAttributes = @convention(c) (Int32, UnsafeMutablePointer<CChar>?, Int) -> Int
    package typealias GetAttribute = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
    package typealias SetAttribute = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32

    package let copyFileRange: CopyFileRange?
    package let listAttributes: ListAttributes?
    package let getAttribute: GetAttribute?
    package let setAttribute: SetAttribute?

    package init() {
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
