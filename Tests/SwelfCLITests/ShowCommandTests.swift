import Foundation
import Testing

/// `swelf show` and `swelf show --json`, checked against readelf.
@Suite struct ShowCommandTests {
    @Test(arguments: Subject.all)
    func jsonMatchesReadelf(subject: Subject) throws {
        let path = subject.url.path
        let facts = try ReadelfFacts(path: path)
        let result = try Swelf.run(["show", "--json", path])
        #expect(result.status == 0, "\(result.stderr)")
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(result.stdoutBytes)) as? [String: Any])
        let files = try #require(envelope["files"] as? [[String: Any]], "one file is an array of one too")
        #expect(files.count == 1)
        let object = try #require(files.first)

        #expect(object["file"] as? String == path)
        #expect(object["ok"] as? Bool == true)
        #expect(object["class"] as? Int == (facts.elfClass == "ELF64" ? 64 : 32))
        #expect(object["endianness"] as? String == (facts.data.hasSuffix("big endian") ? "big" : "little"))
        #expect(object["e_machine"] as? Int == ReadelfFacts.machines[facts.machine].map(Int.init))
        #expect(object["interpreter"] as? String == facts.interpreter)
        #expect((object["interpreter"] is NSNull) == (facts.interpreter == nil))
        #expect(object["needed"] as? [String] == facts.needed)
        #expect(object["soname"] as? String == facts.soname)
        let runPath = facts.runpath ?? facts.rpath
        #expect(object["run_path"] as? String == runPath)
        #expect(object["run_path_tag"] as? String == (facts.runpath != nil ? "DT_RUNPATH" : facts.rpath != nil ? "DT_RPATH" : nil))
        #expect(object["program_headers"] as? Int == facts.programHeaderCount)
        #expect(object["section_headers"] as? Int == facts.sectionHeaderCount)
        if let index = facts.segmentTypes.firstIndex(of: "GNU_STACK") {
            #expect(object["executable_stack"] as? Bool == facts.segmentFlags[index].contains("E"))
        } else {
            #expect(object["executable_stack"] is NSNull)
        }
        let type = object["type"] as? String
        #expect(type == (facts.type.hasPrefix("DYN") ? "ET_DYN" : "ET_EXEC"))
        let linking = try #require(object["linking"] as? String)
        switch subject.kind {
        case "static": #expect(linking == "static")
        case "static-pie": #expect(linking == "static_pie")
        case "program": #expect(linking == "dynamic")
        case "library": #expect(linking == "shared_library")
        default: #expect(["dynamic", "dynamic_no_interpreter", "shared_library"].contains(linking), "\(linking)")
        }
        #expect(object["pie"] as? Bool == (facts.type.hasPrefix("DYN") && subject.kind != "library"))
    }

    @Test func severalFilesGiveAnArray() throws {
        let paths = ["x86_64/hello", "mips/libgreet.so.1", "s390x/hello-noshdr"].map { Repo.testBinaries.appendingPathComponent($0).path }
        let result = try Swelf.run(["show", "--json"] + paths)
        #expect(result.status == 0)
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(result.stdoutBytes)) as? [String: Any])
        let array = try #require(envelope["files"] as? [[String: Any]])
        #expect(array.map { $0["file"] as? String } == paths)
        #expect(array.map { $0["machine"] as? String } == ["x86_64", "mips", "s390"])
    }

    @Test func textSummary() throws {
        let path = Repo.testBinaries.appendingPathComponent("x86_64/hello-runpath").path
        let result = try Swelf.run(["show", path])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix(path + ":\n"))
        #expect(result.stdout.contains("\n  run-path:     $ORIGIN/lib (DT_RUNPATH)\n"))
        #expect(result.stdout.contains("\n  interpreter:  /lib64/ld-linux-x86-64.so.2\n"))
    }
}
