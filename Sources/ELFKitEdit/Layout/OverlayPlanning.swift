import ELFKitCore

/// Plans an edit of a file that may carry bytes after its ELF image (docs/overlay-design.md
/// §12): the image is planned as if it were the whole file, and the overlay follows the
/// new image, byte for byte, as the file's tail (`EditRequest.OverlayPlacement`).
package enum OverlayPlanning {
    /// The plan of `request` on `file`, with its overlay kept.
    /// - Parameters:
    ///   - file: The input as read.
    ///   - request: The changes; `request.overlay` says where the overlay goes.
    ///   - log: The planner's decisions, also when it refuses.
    /// - Returns: The plan; its `tail` moves the overlay when the image changes size.
    /// - Throws: `EditError.refused(.overlay)` for a UPX-packed program, or a deno trailer
    ///   pointing outside the overlay; any refusal of the planner.
    package static func plan(file: ELFFile, request: EditRequest, log: inout [String]) throws(EditError) -> RewritePlan {
        let overlay: Overlay?
        do {
            overlay = try Overlay(file: file)
            if !request.isEmpty, try overlay?.format == .upx || Overlay.isUPX(file) {
                throw EditError.refused(EditRefusal(.overlay,
                    "UPX-packed program: editing the UPX stub does not edit the packed program, and moving its bytes breaks `upx -d`; unpack it with `upx -d` first"))
            }
        } catch let error as ELFError { throw .format(error) } catch let error as EditError { throw error } catch {
            throw .refused(EditRefusal(.internalError, "\(error)"))
        }
        let plan = try planKeeping(overlay, file: file, request: request, log: &log)
        guard plan.newSize > file.source.size else { return plan }
        // A PyInstaller archive that ends the image: the new content goes where it was and
        // the archive after it (TrailingArchive), in either overlay mode (there is no
        // overlay to keep in place).
        if overlay == nil, let archive = TrailingArchive(file: file) {
            var innerLog: [String] = []
            if let moved = try archive.plan(planImage: { (image: ELFFile) throws(EditError) -> RewritePlan in
                try planImage(image, request: request, sectionTableLast: false, log: &innerLog)
            }) {
                log = moved.log
                return moved
            }
        }
        if let reason = boundedCookieProblem(file, newSize: plan.newSize) {
            throw .refused(EditRefusal(.overlay, reason))
        }
        return plan
    }

    private static func planKeeping(_ overlay: Overlay?, file: ELFFile, request: EditRequest,
                                    log: inout [String]) throws(EditError) -> RewritePlan {
        guard let overlay, request.overlay == .followImage else {
            var plan = try planImage(file, request: request, sectionTableLast: false, log: &log)
            if let overlay, !plan.isEmpty, plan.imageSize > overlay.start {
                try keepOffsetChecks(&plan, overlay: overlay, file: file)
            }
            return plan
        }
        let image: ELFFile
        do { image = try ELFFile(source: PrefixByteSource(file.source, size: overlay.start)) } catch { throw .format(error) }
        var plan = try planImage(image, request: request, sectionTableLast: true, log: &log)
        plan.originalSize = file.source.size
        if plan.appended.isEmpty && plan.keptPrefix == overlay.start {
            // The image keeps its size: the overlay stays where it is, nothing moves.
            plan.keptPrefix = file.source.size
            return plan
        }
        let newStart = plan.imageSize
        do {
            plan.tail = RewritePlan.MovedTail(sourceOffset: overlay.start, offset: newStart, length: overlay.length,
                                              patches: try overlay.patches(movingTo: newStart, in: file))
        } catch let error as ELFError { throw .format(error) } catch let error as EditError { throw error } catch {
            throw .refused(EditRefusal(.internalError, "\(error)"))
        }
        plan.log.append("\(overlay.length) bytes after the ELF image (\(overlay.format.name)) moved from 0x\(hex(overlay.start)) to 0x\(hex(newStart))"
                        + (plan.tail!.patches.isEmpty ? "" : ", trailer offsets adjusted by 0x\(hex(newStart &- overlay.start))"))
        log = plan.log
        if overlay.format == .unknown {
            plan.warnings.append("\(overlay.length) bytes after the ELF image were kept at the end of the file; a program that stores absolute offsets to them will break; use --overlay keep-offset")
        }
        return plan
    }

    private static func planImage(_ file: ELFFile, request: EditRequest, sectionTableLast: Bool,
                                  log: inout [String]) throws(EditError) -> RewritePlan {
        let outcome = try DynamicEditor(file: file).apply(request)
        log = outcome.log
        var planner = try LayoutPlanner(file: file, outcome: outcome, pageSize: request.pageSize)
        planner.sectionTableLast = sectionTableLast
        return try planner.plan(log: &log)
    }

    /// PyInstaller's archive cookie in a `pydata` section within the last 4096 + 88 bytes of
    /// the file, pushed further from the end by the growth, when the archive cannot be moved
    /// to the end (bytes follow the image, or sections that are loaded follow the archive):
    /// bootloaders of PyInstaller 4.0–4.2 search only that window and would not start; 4.3
    /// and later (pyinstaller PR #5511) scan the whole file. The two cannot be told apart
    /// from the file, so the edit is refused (§10, "bounded scan").
    private static func boundedCookieProblem(_ file: ELFFile, newSize: UInt64) -> String? {
        let window: UInt64 = 4096 + 88
        let size = file.source.size
        guard let pydata = file.section(named: "pydata")?.header, pydata.type != .nobits,
              let tail = try? file.source.bytes(at: size - min(size, window), count: min(size, window), "PyInstaller cookie window")
        else { return nil }
        let magic: [UInt8] = [0x4d, 0x45, 0x49, 0o14, 0o13, 0o12, 0o13, 0o16]
        guard tail.count >= magic.count,
              let index = (0 ... tail.count - magic.count).reversed().first(where: { Array(tail[$0 ..< $0 + magic.count]) == magic })
        else { return nil }
        let cookie = size - UInt64(tail.count) + UInt64(index)
        guard cookie >= pydata.offset, newSize - cookie > window else { return nil }
        return "PyInstaller onefile (archive in section pydata): the edit would leave its cookie \(newSize - cookie) bytes before the end of the file, and bootloaders of PyInstaller 4.0-4.2 search only the last \(window); swelf moves the archive to the end only when it ends the ELF image"
    }

    /// `--overlay keep-offset` (§12.4): new content after the overlay. Readers that look at
    /// the end of the file will not find their trailer (a warning); AppImage's runtime
    /// finds its squashfs at the section header table's end, so a table that moved is refused.
    private static func keepOffsetChecks(_ plan: inout RewritePlan, overlay: Overlay, file: ELFFile) throws(EditError) {
        if overlay.format == .appImage {
            let moved: Bool
            do {
                moved = try ELFFile(source: PlannedByteSource(base: file.source, plan: plan)).header.sectionHeaderOffset
                    != file.header.sectionHeaderOffset
            } catch { throw .format(error) }
            if moved {
                throw .refused(EditRefusal(.overlay, "\(overlay.format.name): --overlay keep-offset would move the section header table, and the runtime would no longer find its squashfs at the end of the image; use the default placement"))
            }
        }
        if overlay.format.readsFromEnd {
            plan.warnings.append("\(overlay.format.name): with --overlay keep-offset its trailer no longer ends the file; the program will not find its payload")
        }
    }
}
