import MSIX
import MSIXReplay
import Testing

@Suite("Trace replay")
struct ReplayerTests {
    /// Replays `trace` (one op per element) and returns the output lines.
    func run(_ trace: [String]) -> [String] { Replayer.replay(trace) }

    @Test("a scripted trace: held backend signals, polls, unmask order, message change, disable, save/load, reset")
    func scriptedTrace() {
        let trace = [
            #"{"op":"init","vectors":4}"#,
            #"{"op":"notifiers","poll":true}"#,
            #"{"op":"bar_write","offset":16,"size":4,"value":4276092928}"#,
            #"{"op":"bar_write","offset":24,"size":4,"value":49}"#,
            #"{"op":"notify","vector":1}"#,
            #"{"op":"backend","vector":2}"#,
            #"{"op":"bar_read","offset":2048,"size":4}"#,
            #"{"op":"cap_write","offset":2,"size":2,"value":32768}"#,
            #"{"op":"bar_write","offset":28,"size":4,"value":0}"#,
            #"{"op":"backend","vector":1}"#,
            #"{"op":"backend","vector":3}"#,
            #"{"op":"backend","vector":3}"#,
            #"{"op":"bar_write","offset":60,"size":4,"value":0}"#,
            #"{"op":"bar_write","offset":44,"size":4,"value":0}"#,
            #"{"op":"bar_write","offset":24,"size":4,"value":50}"#,
            #"{"op":"bar_write","offset":24,"size":4,"value":50}"#,
            #"{"op":"save"}"#,
            #"{"op":"cap_write","offset":0,"size":4,"value":0}"#,
            #"{"op":"notify","vector":3}"#,
            #"{"op":"load"}"#,
            #"{"op":"reset"}"#,
            #"{"op":"cap_read","offset":0,"size":4}"#,
            #"{"op":"unset_notifiers"}"#,
        ]
        let expected = [
            #"{"event":"poll","first":0,"end":4}"#,
            #"{"event":"poll","first":0,"end":4}"#,
            #"{"event":"read","value":6}"#,
            #"{"event":"use","vector":1,"address":4276092928,"data":49}"#,
            #"{"event":"msi","vector":1,"address":4276092928,"data":49,"via":"signal"}"#,
            #"{"event":"msi","vector":1,"address":4276092928,"data":49,"via":"irqfd"}"#,
            #"{"event":"use","vector":3,"address":0,"data":0}"#,
            #"{"event":"msi","vector":3,"address":0,"data":0,"via":"irqfd"}"#,
            #"{"event":"use","vector":2,"address":0,"data":0}"#,
            #"{"event":"msi","vector":2,"address":0,"data":0,"via":"signal"}"#,
            #"{"event":"release","vector":1}"#,
            #"{"event":"use","vector":1,"address":4276092928,"data":50}"#,
            #"{"event":"release","vector":1}"#,
            #"{"event":"release","vector":2}"#,
            #"{"event":"release","vector":3}"#,
            #"{"event":"use","vector":1,"address":4276092928,"data":50}"#,
            #"{"event":"use","vector":2,"address":0,"data":0}"#,
            #"{"event":"use","vector":3,"address":0,"data":0}"#,
            #"{"event":"release","vector":1}"#,
            #"{"event":"release","vector":2}"#,
            #"{"event":"release","vector":3}"#,
            #"{"event":"read","value":196625}"#,
        ]
        #expect(run(trace) == expected)
    }

    @Test("a held signal is delivered after the use event and before the pending bit's signal, per vector ascending")
    func heldThenPendingOrder() {
        let trace = [
            #"{"op":"init","vectors":3}"#,
            #"{"op":"notifiers","poll":false}"#,
            #"{"op":"bar_write","offset":12,"size":4,"value":0}"#,
            #"{"op":"bar_write","offset":28,"size":4,"value":0}"#,
            #"{"op":"backend","vector":0}"#,
            #"{"op":"notify","vector":0}"#,
            #"{"op":"notify","vector":1}"#,
            #"{"op":"backend","vector":1}"#,
            #"{"op":"cap_write","offset":3,"size":1,"value":128}"#,
        ]
        #expect(run(trace) == [
            #"{"event":"use","vector":0,"address":0,"data":0}"#,
            #"{"event":"msi","vector":0,"address":0,"data":0,"via":"irqfd"}"#,
            #"{"event":"msi","vector":0,"address":0,"data":0,"via":"signal"}"#,
            #"{"event":"use","vector":1,"address":0,"data":0}"#,
            #"{"event":"msi","vector":1,"address":0,"data":0,"via":"irqfd"}"#,
            #"{"event":"msi","vector":1,"address":0,"data":0,"via":"signal"}"#,
        ])
    }

    @Test("held backend signals survive reset and restore and are not part of a snapshot")
    func heldSignalsSurvive() {
        let trace = [
            #"{"op":"init","vectors":2}"#,
            #"{"op":"save"}"#,
            #"{"op":"backend","vector":1}"#,
            #"{"op":"reset"}"#,
            #"{"op":"load"}"#,
            #"{"op":"notifiers","poll":false}"#,
            #"{"op":"cap_write","offset":2,"size":2,"value":32768}"#,
            #"{"op":"bar_write","offset":24,"size":8,"value":0}"#,
            #"{"op":"backend","vector":1}"#,
        ]
        #expect(run(trace) == [
            #"{"event":"use","vector":1,"address":0,"data":0}"#,
            #"{"event":"msi","vector":1,"address":0,"data":0,"via":"irqfd"}"#,
            #"{"event":"msi","vector":1,"address":0,"data":0,"via":"irqfd"}"#,
        ])
    }

    @Test("a poll turns held signals of masked vectors into pending bits; unmasked ones stay held")
    func pollMovesHeldSignals() {
        let trace = [
            #"{"op":"init","vectors":70}"#,
            #"{"op":"backend","vector":65}"#,
            #"{"op":"backend","vector":3}"#,
            #"{"op":"bar_write","offset":48,"size":8,"value":0}"#,   // vector 3: address 0
            #"{"op":"bar_write","offset":56,"size":8,"value":0}"#,   // vector 3: unmasked (function still disabled)
            #"{"op":"cap_write","offset":3,"size":1,"value":128}"#,  // enable, no notifiers: nothing fires
            #"{"op":"notifiers","poll":true}"#,                       // use 3 delivers its held signal
            #"{"op":"bar_read","offset":2056,"size":8}"#,             // last qword: poll 64–70 (high half empty)
            #"{"op":"bar_read","offset":2048,"size":8}"#,
        ]
        #expect(run(trace) == [
            #"{"event":"use","vector":3,"address":0,"data":0}"#,
            #"{"event":"msi","vector":3,"address":0,"data":0,"via":"irqfd"}"#,
            #"{"event":"poll","first":0,"end":70}"#,
            #"{"event":"poll","first":64,"end":70}"#,
            #"{"event":"read","value":2}"#,
            #"{"event":"poll","first":0,"end":32}"#,
            #"{"event":"poll","first":32,"end":64}"#,
            #"{"event":"read","value":0}"#,
        ])
    }

    @Test("the recording router: poll during set-notifiers already moves held signals of masked vectors")
    func pollAtSetNotifiers() {
        let trace = [
            #"{"op":"init","vectors":4}"#,
            #"{"op":"backend","vector":2}"#,
            #"{"op":"notifiers","poll":true}"#,
            #"{"op":"bar_read","offset":2048,"size":4}"#,
        ]
        #expect(run(trace) == [
            #"{"event":"poll","first":0,"end":4}"#,
            #"{"event":"poll","first":0,"end":4}"#,
            #"{"event":"read","value":4}"#,
        ])
    }

    @Test("unuse, unuse_all and use: unused vectors drop raises, unuse to 0 clears pending")
    func useOps() {
        let trace = [
            #"{"op":"init","vectors":2}"#,
            #"{"op":"notify","vector":0}"#,
            #"{"op":"unuse","vector":0}"#,
            #"{"op":"bar_read","offset":2048,"size":4}"#,
            #"{"op":"notify","vector":0}"#,
            #"{"op":"use","vector":0}"#,
            #"{"op":"notify","vector":0}"#,
            #"{"op":"notify","vector":1}"#,
            #"{"op":"bar_read","offset":2048,"size":4}"#,
            #"{"op":"unuse_all"}"#,
            #"{"op":"bar_read","offset":2048,"size":4}"#,
        ]
        #expect(run(trace) == [
            #"{"event":"read","value":0}"#,
            #"{"event":"read","value":3}"#,
            #"{"event":"read","value":0}"#,
        ])
    }

    @Test("invalid guest accesses read all ones and change nothing")
    func invalidAccesses() {
        let trace = [
            #"{"op":"init","vectors":16}"#,
            #"{"op":"bar_read","offset":2,"size":4}"#,
            #"{"op":"bar_read","offset":0,"size":2}"#,
            #"{"op":"bar_read","offset":4096,"size":8}"#,
            #"{"op":"bar_read","offset":0,"size":0}"#,
            #"{"op":"bar_write","offset":12,"size":2,"value":0}"#,
            #"{"op":"bar_read","offset":12,"size":4}"#,
            #"{"op":"cap_read","offset":11,"size":4}"#,
            #"{"op":"cap_read","offset":2,"size":2}"#,
        ]
        #expect(run(trace) == [
            #"{"event":"read","value":4294967295}"#,
            #"{"event":"read","value":65535}"#,
            #"{"event":"read","value":18446744073709551615}"#,
            #"{"event":"read","value":18446744073709551615}"#,
            #"{"event":"read","value":1}"#,
            #"{"event":"read","value":4294967295}"#,
            #"{"event":"read","value":15}"#,
        ])
    }

    @Test("error lines: each bad line emits one error event with its line number and replay goes on")
    func errors() {
        let trace = [
            #"{"op":"notify","vector":0}"#,
            #"not json"#,
            #"{"op":"init","vectors":0}"#,
            #"{"op":"init","vectors":4}"#,
            #"{"op":"frob"}"#,
            #"{"vector":1}"#,
            #"{"op":5}"#,
            #"{"op":"notify"}"#,
            #"{"op":"notify","vector":4}"#,
            #"{"op":"backend","vector":-1}"#,
            #"{"op":"use","vector":"1"}"#,
            #"{"op":"unuse","vector":99999999999999999999}"#,
            #"{"op":"notifiers"}"#,
            #"{"op":"notifiers","poll":1}"#,
            #"{"op":"notifiers","poll":false}"#,
            #"{"op":"notifiers","poll":false}"#,
            #"{"op":"load"}"#,
            #"{"op":"bar_read","offset":-8,"size":4}"#,
            "",
            #"{"op":"cap_read","offset":0,"size":1}"#,
            #"{"op":"init","vectors":4096}"#,
            #"{"op":"cap_read","offset":2,"size":2}"#,
            #"{"op":"init","vectors":-18446744073709551615}"#,
        ]
        #expect(run(trace) == [
            #"{"event":"error","line":1,"message":"op \"notify\" before init"}"#,
            #"{"event":"error","line":2,"message":"bad JSON at column 1: expected '{' (a line is one JSON object)"}"#,
            #"{"event":"error","line":3,"message":"MSI-X vector count 0 is outside 1…2048"}"#,
            #"{"event":"error","line":5,"message":"unknown op \"frob\""}"#,
            #"{"event":"error","line":6,"message":"missing field \"op\""}"#,
            #"{"event":"error","line":7,"message":"field \"op\" must be a string"}"#,
            #"{"event":"error","line":8,"message":"missing field \"vector\""}"#,
            #"{"event":"error","line":9,"message":"vector 4 is out of range (4 vectors)"}"#,
            #"{"event":"error","line":10,"message":"vector -1 is out of range (4 vectors)"}"#,
            #"{"event":"error","line":11,"message":"field \"vector\" must be an integer"}"#,
            #"{"event":"error","line":12,"message":"bad JSON at column 24: integer does not fit 64 bits"}"#,
            #"{"event":"error","line":13,"message":"missing field \"poll\""}"#,
            #"{"event":"error","line":14,"message":"field \"poll\" must be true or false"}"#,
            #"{"event":"error","line":16,"message":"MSI-X vector notifiers are already set"}"#,
            #"{"event":"error","line":17,"message":"load with no snapshot saved"}"#,
            #"{"event":"error","line":18,"message":"field \"offset\" must be a non-negative integer, not -8"}"#,
            #"{"event":"read","value":17}"#,
            #"{"event":"error","line":21,"message":"MSI-X vector count 4096 is outside 1…2048"}"#,
            #"{"event":"read","value":3}"#,
            #"{"event":"error","line":23,"message":"MSI-X vector count -18446744073709551615 is outside 1…2048"}"#,
        ])
    }

    @Test("feed passes each event line to emit; error messages are escaped JSON strings")
    func feedAndEscaping() {
        var replayer = Replayer()
        var lines: [String] = []
        replayer.feed(line: #"{"op":"init","vectors":1}"#, number: 1) { lines.append($0) }
        replayer.feed(line: #"{"op":"a\"b\\c\n"}"#, number: 2) { lines.append($0) }
        #expect(lines == [#"{"event":"error","line":2,"message":"unknown op \"a\\\"b\\\\c\\n\""}"#])
        #expect(replayer.device?.vectorCount == 1)
    }
}
