import ArgumentParser
import VMM

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
}
