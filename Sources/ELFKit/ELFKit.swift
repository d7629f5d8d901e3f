// The library product: one import gives the reader, the editor, the verifier, the loader
// model, doctor's diagnosis, the bundle and portability analyses, and the pipeline that
// ties them together (`Rewriter`).

// ELFKit is for Linux: it follows glibc's and musl's loaders, reads /etc/ld.so.cache and
// writes files with Linux system calls (*at calls, copy_file_range, FICLONE, flock).
// SwiftPM can declare minimum versions of Apple platforms only, so the platform is
// declared here, where a build elsewhere stops with this sentence.
#if !os(Linux)
#error("ELFKit supports Linux only")
#endif
@_exported import ELFKitCore
@_exported import ELFKitDiagnosis
@_exported import ELFKitEdit
@_exported import ELFKitLoader
@_exported import ELFKitPackaging
@_exported import ELFKitVerify
