// The library product: one import gives the reader, the editor, the verifier, the loader
// model and the pipeline that ties them together (`Rewriter`).
@_exported import ELFKitCore
@_exported import ELFKitEdit
@_exported import ELFKitLoader
@_exported import ELFKitVerify
