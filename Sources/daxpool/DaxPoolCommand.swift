import ArgumentParser
import DaxPoolAPI

#if canImport(Glibc)
import Glibc
#endif

/// `daxpool`: the memory plane for virtualization hosts.
@main
struct DaxPoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daxpool",
        abstract: "Carve host memory into regions and hand it to VMMs as device-dax style devices.",
        discussion: """
            Every command but 'serve' and the label tools (read-labels, check-labels, init-labels) talks to \
            the daemon over its Unix socket (--socket, or DAXPOOL_SOCKET).
            Output is JSON with sorted keys; errors are one JSON object on stderr and a non-zero exit.
            """,
        version: "0.1.0",
        subcommands: [
            ServeCommand.self,
            ListCommand.self,
            MapCommand.self,
            CreateRegionCommand.self,
            DestroyRegionCommand.self,
            SetPoolCommand.self,
            ResizeRegionCommand.self,
            CreateDeviceCommand.self,
            ReconfigureDeviceCommand.self,
            DestroyDeviceCommand.self,
            EnableDeviceCommand.self,
            DisableDeviceCommand.self,
            AttachCommand.self,
            DetachCommand.self,
            QemuArgsCommand.self,
            InjectErrorCommand.self,
            ClearErrorsCommand.self,
            EventsCommand.self,
            ReadLabelsCommand.self,
            CheckLabelsCommand.self,
            InitLabelsCommand.self,
            ProgressCommand.self,
            RecoverCommand.self,
            LiveUpdateCommand.self,
            LendCommand.self,
            ReclaimCommand.self,
            PlanCommand.self,
        ]
    )

    /// Runs the command; any failure becomes one JSON error object on stderr.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ErrorBody {
            Output.printError(error)
            Glibc.exit(error.status == nil ? 2 : 1)
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is CleanExit {
                exit(withError: error)
            }
            let message = fullMessage(for: error)
            Output.printError(ErrorBody(code: .usage, message: message))
            Glibc.exit(code.rawValue == 0 ? 1 : code.rawValue)
        }
    }
}
