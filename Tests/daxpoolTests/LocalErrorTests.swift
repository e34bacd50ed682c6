import Foundation
import Testing

/// Errors the CLI raises itself (no daemon answered) print a code and a message, and no HTTP status.
@Suite("CLI-side errors", .timeLimit(.minutes(20)))
struct LocalErrorTests {
    static let cases: [(String, [String], String)] = [
        ("unknown backend", ["create-region", "--backend", "floppy", "-s", "64M"], "usage"),
        ("missing input file", ["create-device", "--input", "/nonexistent/input.json"], "bad_input"),
    ]

    @Test("an error the CLI raises itself has a code and no fake status")
    func localErrorHasNoStatus() throws {
        let harness = try DaemonHarness()
        for (label, arguments, code) in Self.cases {
            let result = harness.cli(arguments)
            #expect(result.status != 0, "\(label): exit status")
            let error = try result.error()
            #expect(error["code"] as? String == code, "\(label): \(result.stderr)")
            #expect(!((error["message"] as? String) ?? "").isEmpty, "\(label): message")
            #expect(error["status"] == nil, "\(label): \(result.stderr)")
        }
    }
}
