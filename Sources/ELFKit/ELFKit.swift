// The library product: one import gives the reader, the editor, the verifier, the loader
// model, doctor's diagnosis, the bundle and portability analyses, and the pipeline that
// ties them together (`Rewriter`).
@_exported import ELFKitCore
@_exported import ELFKitDiagnosis
@_exported import ELFKitEdit
@_exported import ELFKitLoader
@_exported import ELFKitPackaging
@_exported import ELFKitVerify
