import ArgumentParser
import MSIXReplay
import VMM

/// `vmm msix-replay [FILE|-]`: drive the MSI-X module with a JSON-lines trace, without KVM.
struct MSIXReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "msix-replay",
        abstract: "Replay an MSI-X trace (JSON lines) against the real MSI-X module and print the events.",
        discussion: """
            Each input line is one JSON object with an "op" (init, notifiers, unset_notifiers, \
            cap_write, cap_read, bar_write, bar_read, notify, backend, use, unuse, unuse_all, reset, \
            save, load). Each output line is one JSON event (use, release, poll, msi, read, error) \
            in the order it happens. A bad line produces an error event and the replay goes on. \
            README.md ("Trace replay") describes every op and event.

            Examples:
              vmm msix-replay trace.jsonl
              echo '{"op":"init","vectors":4}' | vmm msix-replay
            """
    )

    @Argument(help: "The trace to replay; - or nothing reads standard input.")
    var file: String = "-"

    func run() throws {
        var replayer = Replayer()
        var number = 0
        func feed(_ line: String) {
            number += 1
            replayer.feed(line: line, number: number) { print($0) }
        }
        if file == "-" {
            while let line = readLine(strippingNewline: true) { feed(line) }
        } else {
            let bytes: [UInt8]
            do {
                bytes = try HostFile.read(file, as: "trace")
            } catch {
                fail("\(error)")
            }
            for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
                feed(String(decoding: line, as: UTF8.self))
            }
        }
    }
}
