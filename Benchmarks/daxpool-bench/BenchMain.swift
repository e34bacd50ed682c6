import Foundation

/// `daxpool-bench`: measures daxpool against the physical limits of the machine and the tools a user would pick
/// instead, each against a baseline taken in the same run, and writes bench-results.json and a Markdown table.
///
/// ```
/// daxpool-bench [--quick] [--only SECTION,...] [--no-hugetlb] [--json FILE] [--markdown FILE] [--update-doc FILE]
/// ```
/// Sections: metadata, allocator, state, api, scrub, ready.
@main
struct BenchMain {
    struct Options {
        var quick = false
        var sections: Set<String> = Set(allSections)
        var hugetlb = true
        var jsonPath = "bench-results.json"
        var markdownPath: String?
        var documentPath: String?

        static let allSections = ["metadata", "allocator", "state", "api", "scrub", "ready"]
    }

    static func main() async {
        let options: Options
        do { options = try parse(Array(CommandLine.arguments.dropFirst())) } catch {
            FileHandle.standardError.write(Data("daxpool-bench: \(error)\n\(usage)\n".utf8))
            exit(2)
        }
        let log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("[bench] \($0)\n".utf8)) }
        var machine = Machine.current()
        let clock = ContinuousClock()
        let start = clock.now
        let started = ISO8601DateFormatter().string(from: Date())
        let overhead = clockOverheadNanoseconds()
        log(
            "\(machine.cpuModel), \(machine.onlineCPUs) CPUs, Linux \(machine.kernel), load \(machine.loadAverageBefore)"
        )

        var rows: [Row] = []
        var sectionStart = clock.now
        func finished(_ section: String) {
            log("\(section): \(format((clock.now - sectionStart).nanoseconds / 1e9, digits: 1)) s")
            sectionStart = clock.now
        }
        if options.sections.contains("metadata") {
            rows += MetadataSection.run()
            finished("metadata")
        }
        if options.sections.contains("allocator") {
            rows += AllocatorSection.run(quick: options.quick, log: log)
            finished("allocator")
        }
        if options.sections.contains("state") {
            rows += await StateSection.run(quick: options.quick, log: log)
            finished("state")
        }
        if options.sections.contains("api") {
            rows += await APISection.run(quick: options.quick, log: log)
            finished("api")
        }
        if options.sections.contains("scrub") {
            rows += ScrubSection.run(quick: options.quick, log: log)
            finished("scrub")
        }
        if options.sections.contains("ready") {
            rows += await DeviceReadySection.run(
                quick: options.quick, hugetlb: options.hugetlb && getuid() == 0, log: log)
            finished("ready")
        }

        machine.loadAverageAfter = Machine.loadAverage()
        let results = Results(
            machine: machine,
            command: (["scripts/bench"] + CommandLine.arguments.dropFirst()).joined(separator: " "),
            quick: options.quick,
            started: started,
            seconds: (clock.now - start).nanoseconds / 1e9,
            clockOverheadNanoseconds: overhead,
            rows: rows
        )
        let markdown = results.markdown
        print(markdown)
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(results).write(to: URL(fileURLWithPath: options.jsonPath))
            log("wrote \(options.jsonPath)")
            if let path = options.markdownPath {
                try Data(markdown.utf8).write(to: URL(fileURLWithPath: path))
                log("wrote \(path)")
            }
            if let path = options.documentPath {
                try updateDocument(at: path, with: markdown, command: results.command)
                log("updated the results in \(path)")
            }
        } catch {
            log("cannot write the results: \(error)")
            exit(1)
        }
    }

    static let usage =
        "usage: daxpool-bench [--quick] [--only SECTION,...] [--no-hugetlb] [--json FILE] [--markdown FILE] "
        + "[--update-doc FILE]\nsections: " + Options.allSections.joined(separator: ", ")

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var remaining = arguments[...]
        func value(_ flag: String) throws -> String {
            guard let next = remaining.popFirst() else { throw BenchError("\(flag) needs a value") }
            return next
        }
        while let argument = remaining.popFirst() {
            switch argument {
            case "--quick": options.quick = true
            case "--no-hugetlb": options.hugetlb = false
            case "--only":
                let wanted = Set(try value(argument).split(separator: ",").map(String.init))
                let unknown = wanted.subtracting(Options.allSections)
                guard unknown.isEmpty else {
                    throw BenchError("unknown section(s): \(unknown.sorted().joined(separator: ", "))")
                }
                options.sections = wanted
            case "--json": options.jsonPath = try value(argument)
            case "--markdown": options.markdownPath = try value(argument)
            case "--update-doc": options.documentPath = try value(argument)
            case "--help", "-h":
                print(usage)
                exit(0)
            default: throw BenchError("unknown argument '\(argument)'")
            }
        }
        return options
    }

    /// Replaces the text between `<!-- bench-results:begin -->` and `<!-- bench-results:end -->` in the document.
    static func updateDocument(at path: String, with markdown: String, command: String) throws {
        let begin = "<!-- bench-results:begin -->"
        let end = "<!-- bench-results:end -->"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let beginRange = text.range(of: begin), let endRange = text.range(of: end),
            beginRange.upperBound <= endRange.lowerBound
        else { throw BenchError("\(path) has no \(begin) … \(end) block") }
        let block = "\n<!-- generated by `\(command)`; do not edit by hand -->\n\n" + markdown + "\n"
        let updated = text.replacingCharacters(in: beginRange.upperBound..<endRange.lowerBound, with: block)
        try updated.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
