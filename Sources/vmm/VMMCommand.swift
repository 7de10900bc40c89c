import ArgumentParser
import VMM

#if canImport(Glibc)
import Glibc
#endif

/// The `vmm` command-line tool.
@main
struct VMMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vmm",
        abstract: "A small KVM virtual-machine monitor for test kernels and guest tests.",
        discussion: """
            With no subcommand, vmm runs the guest conformance suite (vmm test). Guests are \
            built from Guests/ by Scripts/build-guests.sh into .build/guests.

            Examples:
              vmm                                  (the conformance suite)
              vmm run .build/guests/hello.elf
              vmm test --list
              vmm SUBCOMMAND --help
            """,
        version: buildVersion,
        subcommands: [TestCommand.self, RunCommand.self, MSIXReplayCommand.self],
        defaultSubcommand: TestCommand.self
    )

    /// Parses and runs the command line.
    ///
    /// A plain `vmm run …` is read by `RunFastPath` instead of ArgumentParser, whose reflection
    /// over the command tree was half the instructions of a null guest's whole run; anything that
    /// reader does not take goes to ArgumentParser as usual (see RunFastPath.swift).
    static func main() {
        if let request = RunFastPath.parse(Array(CommandLine.arguments.dropFirst())) {
            do {
                try request.run()
            } catch let code as ExitCode {
                Glibc.exit(code.rawValue)
            } catch {
                fail("\(error)")
            }
            Glibc.exit(0)
        }
        main(nil)
    }
}
