import Foundation
import Testing

/// Every suite has a time limit, so a hung test fails with its name instead of hanging the run until CI kills it.
///
/// How long: 2–5 times what the suite normally takes, at least a minute (Swift Testing counts in whole minutes). The
/// limit applies to each test of the suite. Suites of async tests get more (10 minutes or more): on a 2-core machine
/// the cooperative pool has two threads, and blocking tests beside them (the load test's clients, daemons waited for)
/// can hold both for minutes, so an async test that is not hung may still wait that long to resume.
@Suite("every suite has a time limit", .timeLimit(.minutes(1)))
struct SuiteTimeLimitTests {
    /// The repository's `Tests` directory, found from this file's path.
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .path

    /// The problems in one Swift file: a top-level `@Suite` without `.timeLimit(`, or a `@Test` in a file with no
    /// top-level `@Suite` (a type without `@Suite` is a suite too, with no trait to carry a limit).
    static func problems(in text: String, file: String) -> [String] {
        var problems: [String] = []
        var sawSuite = false
        var sawTest = false
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (number, line) in lines.enumerated() {
            if line.hasPrefix("@Test") || line.contains(" @Test") || line.hasPrefix("    @Test") { sawTest = true }
            guard line.hasPrefix("@Suite") else { continue }
            sawSuite = true
            // The attribute's arguments, which may run over several lines: up to the parenthesis that closes it.
            var attribute = ""
            var depth = 0
            var inString = false
            scan: for candidate in lines[number...] {
                for character in candidate {
                    attribute.append(character)
                    if character == "\"" { inString.toggle() }
                    guard !inString else { continue }
                    if character == "(" { depth += 1 }
                    if character == ")" {
                        depth -= 1
                        if depth == 0 { break scan }
                    }
                }
                if depth == 0 { break }
                attribute.append("\n")
            }
            if !attribute.contains(".timeLimit(") {
                problems.append("\(file):\(number + 1): a top-level @Suite without .timeLimit(.minutes(N))")
            }
        }
        if sawTest && !sawSuite {
            problems.append("\(file): @Test outside a top-level @Suite (add @Suite(.timeLimit(.minutes(N))))")
        }
        return problems
    }

    @Test("every top-level @Suite under Tests/ has a .timeLimit trait")
    func everySuiteHasATimeLimit() throws {
        let files = try #require(FileManager.default.subpaths(atPath: Self.testsDirectory)).filter {
            $0.hasSuffix(".swift") && !$0.hasPrefix("Fixtures/")
        }
        #expect(files.count > 50, "found only \(files.count) Swift files under \(Self.testsDirectory)")
        var problems: [String] = []
        var suites = 0
        for file in files.sorted() {
            let text = try String(contentsOfFile: "\(Self.testsDirectory)/\(file)", encoding: .utf8)
            suites += text.split(separator: "\n").filter { $0.hasPrefix("@Suite") }.count
            problems += Self.problems(in: text, file: file)
        }
        #expect(suites > 100, "found only \(suites) top-level suites")
        #expect(problems.isEmpty, "\(problems.count) suites without a time limit:\n\(problems.joined(separator: "\n"))")
    }

    @Test("the check finds a suite without a limit, one whose limit is on a later line, and a test with no suite")
    func checkerFindsProblems() {
        #expect(Self.problems(in: "@Suite(\"a\")\nstruct A {\n    @Test func t() {}\n}\n", file: "A").count == 1)
        #expect(Self.problems(in: "@Suite\nstruct A {}\n", file: "A").count == 1)
        #expect(
            Self.problems(
                in: "@Suite(\n    \"a (b)\", .serialized,\n    .timeLimit(.minutes(2)))\nstruct A {}\n", file: "A"
            )
            .isEmpty)
        #expect(Self.problems(in: "struct A {\n    @Test func t() {}\n}\n", file: "A").count == 1)
        // A nested suite inherits its parent's limit.
        #expect(
            Self.problems(
                in:
                    "@Suite(.timeLimit(.minutes(1)))\nstruct A {\n    @Suite struct B {\n        @Test func t() {}\n    }\n}\n",
                file: "A"
            ).isEmpty)
    }
}
