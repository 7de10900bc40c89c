# The accounting of a long fuzz run kept in segments (Scripts/fuzz.sh --long): one libFuzzer log
# per segment, in `.build/fuzz/long/<target>/segment-*.log` while it runs on this machine, and
# kept (`fuzz.sh --keep`) in `Fuzz/LongRuns/<target>/`, cut to the lines counted here, so that a
# commit carries the run to the next machine. Sourced by fuzz.sh; Scripts/fuzz-segments-check.sh
# checks it on made-up logs.

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

# The lines of a segment's log worth keeping: fuzz.sh's header, libFuzzer's seed, its first and
# last progress lines, its final statistics, and every line that reports a failure. The two
# functions above read the same figures from them as from the whole log.
segment_kept_lines() {
  awk -v tab='\t' '
    NR == FNR { if ($0 ~ "^#[0-9]+" tab) last = FNR; next }
    /^# fuzz\.sh --long / || /^INFO: Seed: / || /^stat::/ || /^Done [0-9]+ runs/ { print; next }
    /ERROR|^SUMMARY:|Fatal error|^artifact_prefix=|Test unit written|^MS: / { print; next }
    $0 ~ "^#[0-9]+" tab { if (!first || FNR == last) print; first = 1 }
  ' "$1" "$1"
}

# The segments of a long run, one path a line: every log in the live folder $1, and those in the
# kept folder $2 (if given) that are not in $1 as well (a segment in both counts once, by its
# live log, which is the longer).
long_run_segments() {
  local f
  for f in "$1"/segment-*.log; do [ -f "$f" ] && echo "$f"; done
  [ -n "${2:-}" ] || return 0
  for f in "$2"/segment-*.log; do
    [ -f "$f" ] && [ ! -f "$1/$(basename "$f")" ] && echo "$f"
  done
  return 0
}

# A long run so far, from its live folder $1 and kept folder $2: "segments executions seconds".
long_run_totals() {
  local f count=0 runs=0 secs=0
  while IFS= read -r f; do
    count=$((count + 1))
    runs=$((runs + $(segment_executions "$f")))
    secs=$((secs + $(segment_seconds "$f")))
  done < <(long_run_segments "$1" "${2:-}")
  echo "$count $runs $secs"
}

# The segments of a long run (folders $1 and $2) in which libFuzzer wrote an input out: a
# crash, a leak, a timeout, a slow input. Kept segments keep that line, so this counts them too.
long_run_failures() {
  local f failures=0
  while IFS= read -r f; do
    grep -q "Test unit written to" "$f" && failures=$((failures + 1))
  done < <(long_run_segments "$1" "${2:-}")
  echo "$failures"
}

# One line for people: the run against its goal of $1 executions, from folders $2 and $3.
long_run_summary() {
  local count runs secs failures
  read -r count runs secs <<<"$(long_run_totals "$2" "${3:-}")"
  failures="$(long_run_failures "$2" "${3:-}")"
  echo "long run: $runs of $1 executions in $count segment$([ "$count" -eq 1 ] || echo s), $((secs / 60)) min, $failures with a failure"
}
