# The accounting of a long fuzz run kept in segments (Scripts/fuzz.sh --long): one libFuzzer log
# per segment, Scripts/fuzz.sh's `.build/fuzz/long/<target>/segment-*.log`. Sourced by fuzz.sh;
# Scripts/fuzz-segments-check.sh checks it on made-up logs.

# A segment's executions: libFuzzer's final count, or, for a segment that was killed before it
# could print one, the last progress line's (which undercounts, never overcounts).
segment_executions() {
  local n
  n="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$1" | tail -1)"
  [ -n "$n" ] || n="$(sed -nE 's/^#([0-9]+)\t.*/\1/p' "$1" | tail -1)"
  echo "${n:-0}"
}

# A segment's seconds: its executions over libFuzzer's average rate (its final one, or the last
# progress line's), which it computes from the segment's start by the wall clock, so a paused
# segment counts its pause.
segment_seconds() {
  local n rate
  n="$(segment_executions "$1")"
  rate="$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$1" | tail -1)"
  [ -n "$rate" ] || rate="$(sed -nE 's/^#[0-9]+\t.* exec\/s: ([0-9]+) .*/\1/p' "$1" | tail -1)"
  if [ -n "$rate" ] && [ "$rate" -gt 0 ]; then echo $((n / rate)); else echo 0; fi
}

# A long run so far, from the segments in folder $1: "segments executions seconds".
long_run_totals() {
  local f count=0 runs=0 secs=0
  for f in "$1"/segment-*.log; do
    [ -f "$f" ] || continue
    count=$((count + 1))
    runs=$((runs + $(segment_executions "$f")))
    secs=$((secs + $(segment_seconds "$f")))
  done
  echo "$count $runs $secs"
}

# One line for people: the run in folder $1 against its goal of $2 executions.
long_run_summary() {
  local count runs secs
  read -r count runs secs <<<"$(long_run_totals "$1")"
  echo "long run: $runs of $2 executions in $count segment$([ "$count" -eq 1 ] || echo s), $((secs / 60)) min"
}
