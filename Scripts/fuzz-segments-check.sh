#!/usr/bin/env bash
# Checks the long-run accounting of Scripts/fuzz-segments.sh on made-up libFuzzer logs: a
# finished segment counts libFuzzer's final figures, a killed one its last progress line, a
# folder with no segment counts nothing, and a run adds its segments up. Scripts/test.sh runs it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=Scripts/fuzz-segments.sh
source "$root/Scripts/fuzz-segments.sh"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
failures=0
expect() {  # expect WHAT ACTUAL EXPECTED
  if [ "$2" != "$3" ]; then echo "fuzz-segments-check: $1: got '$2', expected '$3'" >&2; failures=$((failures + 1)); fi
}
tab=$'\t'
# Finished: progress lines, then the final statistics (which count past the last line).
cat >"$dir/segment-20260101T000000Z.log" <<LOG
# fuzz.sh --long fuzz-x, commit 0000000, 0 executions before this segment
#2${tab}INITED cov: 10 ft: 11 corp: 1/1b exec/s: 0 rss: 30Mb
#1048576${tab}pulse  cov: 20 ft: 30 corp: 5/40b lim: 4 exec/s: 4096 rss: 40Mb
#1500000${tab}NEW    cov: 21 ft: 31 corp: 6/44b lim: 4 exec/s: 4000 rss: 40Mb L: 4/4 MS: 1 ChangeBit-
Done 2000000 runs in 500 second(s)
stat::number_of_executed_units: 2000000
stat::average_exec_per_sec:     4000
stat::new_units_added:          6
LOG
expect "finished segment's executions" "$(segment_executions "$dir/segment-20260101T000000Z.log")" 2000000
expect "finished segment's seconds" "$(segment_seconds "$dir/segment-20260101T000000Z.log")" 500
# Killed: no final statistics; an ASan stack line and a '#' header do not count.
cat >"$dir/segment-20260102T000000Z.log" <<LOG
# fuzz.sh --long fuzz-x, commit 0000000, 2000000 executions before this segment
#3000${tab}INITED cov: 21 ft: 31 corp: 6/44b exec/s: 0 rss: 30Mb
    #0 0x55d in foo (/bin/fuzz-x+0x1)
#600000${tab}REDUCE cov: 22 ft: 33 corp: 7/50b lim: 8 exec/s: 3000 rss: 41Mb L: 2/8 MS: 2 EraseBytes-CopyPart-
LOG
expect "killed segment's executions" "$(segment_executions "$dir/segment-20260102T000000Z.log")" 600000
expect "killed segment's seconds" "$(segment_seconds "$dir/segment-20260102T000000Z.log")" 200
# A log libFuzzer wrote nothing to yet.
echo "# fuzz.sh --long fuzz-x, commit 0000000, 2600000 executions before this segment" >"$dir/segment-20260103T000000Z.log"
expect "empty segment's executions" "$(segment_executions "$dir/segment-20260103T000000Z.log")" 0
expect "empty segment's seconds" "$(segment_seconds "$dir/segment-20260103T000000Z.log")" 0
expect "totals" "$(long_run_totals "$dir")" "3 2600000 700"
expect "summary" "$(long_run_summary "$dir" 100000000)" "long run: 2600000 of 100000000 executions in 3 segments, 11 min"
mkdir "$dir/none"
expect "no segment" "$(long_run_totals "$dir/none")" "0 0 0"
expect "one segment's summary" "$(rm "$dir"/segment-2026010[23]*; long_run_summary "$dir" 5)" "long run: 2000000 of 5 executions in 1 segment, 8 min"
[ "$failures" -eq 0 ] || exit 1
echo "fuzz-segments-check: long-run accounting as expected"
