import Foundation
import Testing

/// `scripts/test-summary`, the summary `scripts/test` ends with: it counts what the Swift Testing event stream
/// says, lists every skip with its reason, and under `CI=true` fails on a skip CI could have run or a lab that did
/// not run.
@Suite("the test summary scripts/test ends with", .timeLimit(.minutes(20)))
struct TestSummaryScriptTests {
    /// `scripts/test-summary` in this repository.
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/test-summary").path

    @Test("a skip for root fails CI and names its reason, while outside CI it is only listed")
    func rootSkipFailsCI() throws {
        let events = EventStream()
            .test("passes()", "a test that passes").passed()
            .test("root()", "a test that needs root").skipped("needs root: it mounts a tmpfs")
        let ci = try Self.summarize(events, ci: true)
        #expect(ci.status == 1)
        #expect(ci.output.contains("passed:  1"))
        #expect(ci.output.contains("skipped: 1"))
        #expect(ci.output.contains("1 × needs root: it mounts a tmpfs (CI must run these)"))
        #expect(ci.output.contains("a test that needs root"))
        let developer = try Self.summarize(events, ci: false)
        #expect(developer.status == 0, "\(developer.output)")
        #expect(developer.output.contains("needs root: it mounts a tmpfs"))
    }

    @Test("a skip behind an opt-in variable fails CI too: every test runs there", arguments: [true, false])
    func optInSkipFailsCI(ci: Bool) throws {
        let events = EventStream()
            .test("exhaust()", "a test that takes every huge page")
            .skipped("it can OOM-kill other jobs: set DAXPOOL_TEST_EXHAUST_HUGEPAGES=1 to run it")
        let summary = try Self.summarize(events, ci: ci)
        #expect(summary.status == (ci ? 1 : 0), "\(summary.output)")
        #expect(summary.output.contains("set DAXPOOL_TEST_EXHAUST_HUGEPAGES=1 to run it"))
        #expect(!summary.output.contains("allowed in CI"))
    }

    @Test("a skip for a kernel without the feature passes CI, named as allowed")
    func kernelSkipPassesCI() throws {
        let events = EventStream()
            .test("metadata()", "a test of the kernel's page metadata counter")
            .skipped("/proc/vmstat has no nr_memmap_pages")
        let ci = try Self.summarize(events, ci: true)
        #expect(ci.status == 0, "\(ci.output)")
        #expect(ci.output.contains("allowed in CI: the kernel is older than 6.11"))
    }

    @Test("a test cancelled at run time counts as skipped with its reason")
    func cancelledCountsAsSkipped() throws {
        let events = EventStream().test("mounts()", "a test that mounts").cancelled("cannot mount a tmpfs here")
        let ci = try Self.summarize(events, ci: true)
        #expect(ci.status == 1)
        #expect(ci.output.contains("1 × cannot mount a tmpfs here (CI must run these)"))
    }

    @Test("a failed test fails the summary and is named; a warning does not fail it")
    func failureIsNamed() throws {
        let events = EventStream()
            .test("breaks()", "a test that breaks").failed()
            .test("warns()", "a test that warns").warned()
        let result = try Self.summarize(events, ci: false)
        #expect(result.status == 1)
        #expect(result.output.contains("failed:  1"))
        #expect(result.output.contains("  - a test that breaks"))
        #expect(result.output.contains("passed:  1"))
    }

    @Test("a run that never ended fails the summary, and the test that was running is named")
    func crashedRunFails() throws {
        var events = EventStream().test("crashes()", "a test that crashes the process")
        events.lines.removeLast(2)  // its testEnded and the runEnded never came
        events.event("testStarted", test: "Module.Suite/crashes()")
        let result = try Self.summarize(events, ci: false, endRun: false)
        #expect(result.status == 1)
        #expect(result.output.contains("did not finish: 1"))
        #expect(result.output.contains("the Swift Testing run did not end"))
    }

    @Test("a lab that did not run fails CI only, and a failed lab runner fails every run")
    func labResults() throws {
        let events = EventStream().test("passes()", "a test that passes").passed()
        let missing = "missing: the lab tests (scripts/lab-*): /var/tmp/daxpool-lab/lab.env is missing"
        #expect(try Self.summarize(events, ci: true, lab: missing).status == 1)
        let developer = try Self.summarize(events, ci: false, lab: missing)
        #expect(developer.status == 0)
        #expect(developer.output.contains("not run: the lab tests"))
        let ran = try Self.summarize(events, ci: true, lab: "scripts/lab-devdax 0 300\nscripts/lab-labels 1 40\n")
        #expect(ran.status == 1)
        #expect(ran.output.contains("scripts/lab-devdax: passed (300 s)"))
        #expect(ran.output.contains("scripts/lab-labels: FAILED (status 1, 40 s)"))
    }

    // MARK: - Helpers

    /// Writes `events` (and `lab`, the runners' results) to files and runs the script on them.
    static func summarize(
        _ events: EventStream, ci: Bool, lab: String? = nil, endRun: Bool = true
    ) throws -> (status: Int32, output: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "daxpool-summary-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var lines = events.lines
        if endRun { lines.append(EventStream.record(event: "runEnded", test: nil, text: "Test run ended.")) }
        let eventsFile = directory.appendingPathComponent("events.jsonl")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: eventsFile)
        var arguments = [script, "--events", eventsFile.path]
        if let lab {
            let labFile = directory.appendingPathComponent("lab.txt")
            try Data(lab.utf8).write(to: labFile)
            arguments += ["--lab", labFile.path]
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["CI"] = ci ? "true" : "false"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}

/// A Swift Testing event stream (`--event-stream-output-path`, schema 6.3) built line by line.
struct EventStream {
    var lines: [String] = [EventStream.record(event: "runStarted", test: nil, text: "Test run started.")]
    private var current = ""

    /// Declares a test function `name` of suite `Module.Suite` and starts it.
    func test(_ name: String, _ displayName: String) -> EventStream {
        var next = self
        let id = "Module.Suite/\(name)"
        next.current = id
        let test: [String: Any] = ["kind": "function", "id": id, "name": name, "displayName": displayName]
        next.lines.append(Self.json(["version": "6.3.0", "kind": "test", "payload": test]))
        next.lines.append(Self.record(event: "testStarted", test: id, text: "Test \"\(displayName)\" started."))
        next.lines.append(Self.record(event: "testEnded", test: id, text: "Test \"\(displayName)\" ended."))
        return next
    }

    func passed() -> EventStream { self }

    /// The current test never started: a trait skipped it with `reason`.
    func skipped(_ reason: String) -> EventStream {
        var next = self
        next.lines.removeLast(2)
        next.lines.append(Self.record(event: "testSkipped", test: current, text: "Test \"x\" skipped: \"\(reason)\""))
        return next
    }

    /// The current test called `Test.cancel(reason)`.
    func cancelled(_ reason: String) -> EventStream {
        var next = self
        next.lines.insert(
            Self.record(event: "testCancelled", test: current, text: "Test \"x\" was cancelled: \"\(reason)\""),
            at: next.lines.count - 1)
        return next
    }

    func failed() -> EventStream { withIssue(isFailure: true) }
    func warned() -> EventStream { withIssue(isFailure: false) }

    private func withIssue(isFailure: Bool) -> EventStream {
        var next = self
        var record = Self.eventRecord(event: "issueRecorded", test: current, text: "Expectation failed")
        if var payload = record["payload"] as? [String: Any] {
            payload["issue"] = ["isKnown": false, "isFailure": isFailure, "severity": isFailure ? "error" : "warning"]
            record["payload"] = payload
        }
        next.lines.insert(Self.json(record), at: next.lines.count - 1)
        return next
    }

    mutating func event(_ kind: String, test: String) {
        lines.append(Self.record(event: kind, test: test, text: kind))
    }

    static func record(event: String, test: String?, text: String) -> String {
        json(eventRecord(event: event, test: test, text: text))
    }

    static func eventRecord(event: String, test: String?, text: String) -> [String: Any] {
        var payload: [String: Any] = [
            "kind": event, "instant": ["absolute": 1.0, "since1970": 1.0],
            "messages": [["symbol": "default", "text": text]],
        ]
        if let test { payload["testID"] = test }
        return ["version": "6.3.0", "kind": "event", "payload": payload]
    }

    static func json(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
