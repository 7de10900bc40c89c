#!/usr/bin/env bash
# Checks the long-run accounting of Scripts/fuzz-segments.sh on made-up libFuzzer logs: a
# finished segment counts libFuzzer's final figures, a killed one its last progress line, a
# folder with no segment counts nothing, a run adds its segments up, a segment cut for keeping
# counts what its whole log counts and keeps its header, seed and failure lines, one both live
# and kept counts once, and a segment that wrote an input out counts as a failure, live or
# kept (also in the summary). Scripts/test.sh runs it.
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
expect "summary" "$(long_run_summary 100000000 "$dir")" "long run: 2600000 of 100000000 executions in 3 segments, 11 min, 0 with a failure"
mkdir "$dir/none"
expect "no segment" "$(long_run_totals "$dir/none")" "0 0 0"

# Kept: the cut logs count what the whole ones do, and keep the header, the seed and a failure.
mkdir "$dir/kept"
cat >"$dir/segment-20260104T000000Z.log" <<LOG
# fuzz.sh --long fuzz-x, commit 0000000, 2600000 executions before this segment
INFO: Seed: 1234
#2${tab}INITED cov: 22 ft: 33 corp: 7/50b exec/s: 0 rss: 30Mb
#700${tab}NEW    cov: 23 ft: 34 corp: 8/52b lim: 8 exec/s: 350 rss: 41Mb L: 2/8 MS: 1 ChangeBit-
==77== ERROR: libFuzzer: deadly signal
MS: 2 ChangeBit-EraseBytes-; base unit: 0
artifact_prefix='crashes/'; Test unit written to crashes/crash-0
stat::number_of_executed_units: 800
stat::average_exec_per_sec:     400
LOG
for f in "$dir"/segment-*.log; do segment_kept_lines "$f" >"$dir/kept/$(basename "$f")"; done
for f in "$dir"/segment-*.log; do
  k="$dir/kept/$(basename "$f")"
  expect "$(basename "$f") kept: executions" "$(segment_executions "$k")" "$(segment_executions "$f")"
  expect "$(basename "$f") kept: seconds" "$(segment_seconds "$k")" "$(segment_seconds "$f")"
  expect "$(basename "$f") kept: header" "$(head -1 "$k")" "$(head -1 "$f")"
done
expect "kept lines of a failed segment" "$(grep -c -e 'INFO: Seed: 1234' -e 'deadly signal' -e '^MS: 2' -e 'Test unit written' "$dir/kept/segment-20260104T000000Z.log")" 4
expect "kept lines of a long segment" "$(wc -l <"$dir/kept/segment-20260101T000000Z.log")" 7
expect "kept only" "$(long_run_totals "$dir/none" "$dir/kept")" "4 2600800 702"
expect "kept failures" "$(long_run_failures "$dir/none" "$dir/kept")" 1
expect "live failures" "$(long_run_failures "$dir")" 1
# A live log that grew after it was kept counts by its live figures, once.
mv "$dir/kept/segment-20260102T000000Z.log" "$dir/none/"
echo "#900000${tab}pulse  cov: 22 ft: 33 corp: 7/50b lim: 8 exec/s: 3000 rss: 41Mb" >>"$dir/segment-20260102T000000Z.log"
expect "live and kept" "$(long_run_totals "$dir" "$dir/kept")" "4 2900800 802"
expect "live, and kept from elsewhere" "$(long_run_totals "$dir/none" "$dir/kept")" "4 2600800 702"
rm "$dir/none/segment-20260102T000000Z.log"
expect "one segment's summary" "$(rm "$dir"/segment-2026010[234]*; long_run_summary 5 "$dir")" "long run: 2000000 of 5 executions in 1 segment, 8 min, 0 with a failure"
[ "$failures" -eq 0 ] || exit 1
echo "fuzz-segments-check: long-run accounting as expected"
