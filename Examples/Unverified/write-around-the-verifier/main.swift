// Must not compile: the editor, the planner, the planned image and the writer are
// `package` in ELFKit, so that `Rewriter`, which verifies, is the only road from an edit
// to a file. scripts/test-examples checks that the compiler names each of them.
import ELFKit

let file = try ELFFile(path: CommandLine.arguments[1])
var request = EditRequest()
request.runPath = .set(Array("/unverified".utf8))
let outcome = try DynamicEditor(file: file).apply(request)
let plan = try LayoutPlanner(file: file, outcome: outcome, pageSize: nil).plan()
_ = PlannedByteSource(base: file.source, plan: plan)
try AtomicFileWriter().write(plan: plan, input: file.source, to: BytePath(CommandLine.arguments[1]),
                             verifyPlan: {}, check: { _ in })
