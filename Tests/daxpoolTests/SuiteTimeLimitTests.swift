import Foundation
import Testing

/// Every suite has a time limit, so a hung test fails with its name instead of hanging the run until CI kills it.
///
/// How long: 20 minutes, longer than a whole run takes. The limit applies to each test of the suite and counts from the
/// test's start, waits included: in a full run on a 2-core machine the cooperative pool has two threads, and blocking
/// tests (the load test's clients, daemons and processes waited for) can hold both for most of the run, so even a
/// pure-model test that takes milliseconds may wait that long. A full run of 5.6 minutes with 1–3 minute limits failed
/// 636 checks of tests that were not hung; the longest wait was the whole run. The limit catches a hang, not slowness.
@Suite("every suite has a time limit", .timeLimit(.minutes(20)))
struct SuiteTimeLimitTests {
    /// The repository's `Tests` directory, found from this file's path.
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .path

    /// The shortest limit that a test waiting for a thread in a full run does not exceed (see above).
    static let minimumMinutes = 20

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
            if let range = attribute.range(of: ".timeLimit(.minutes(") {
                let digits = attribute[range.upperBound...].prefix { $0.isNumber }
                if let minutes = Int(digits), minutes < minimumMinutes {
                    problems.append(
                        "\(file):\(number + 1): .timeLimit(.minutes(\(minutes))) is under \(minimumMinutes) minutes")
                }
            } else if !attribute.contains(".timeLimit(") {
                problems.append("\(file):\(number + 1): a top-level @Suite without .timeLimit(.minutes(N))")
            }
        }
        if sawTest && !sawSuite {
            problems.append("\(file): @Test outside a top-level @Suite (add @Suite(.timeLimit(.minutes(N))))")
        }
        return problems
    }

    @Test("every top-level @Suite under Tests/ has a .timeLimit trait of at least 20 minutes")
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

    @Test(
        "the check finds a suite without a limit or with a short one, reads a limit on a later line, and finds a test with no suite"
    )
    func checkerFindsProblems() {
        #expect(Self.problems(in: "@Suite(\"a\")\nstruct A {\n    @Test func t() {}\n}\n", file: "A").count == 1)
        #expect(Self.problems(in: "@Suite\nstruct A {}\n", file: "A").count == 1)
        #expect(Self.problems(in: "@Suite(.timeLimit(.minutes(5)))\nstruct A {}\n", file: "A").count == 1)
        #expect(
            Self.problems(
                in: "@Suite(\n    \"a (b)\", .serialized,\n    .timeLimit(.minutes(20)))\nstruct A {}\n", file: "A"
            )
            .isEmpty)
        #expect(Self.problems(in: "struct A {\n    @Test func t() {}\n}\n", file: "A").count == 1)
        // A nested suite inherits its parent's limit.
        #expect(
            Self.problems(
                in:
                    "@Suite(.timeLimit(.minutes(20)))\nstruct A {\n    @Suite struct B {\n        @Test func t() {}\n    }\n}\n",
                file: "A"
            ).isEmpty)
    }
}
