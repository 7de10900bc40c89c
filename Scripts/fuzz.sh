#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, with AddressSanitizer) of what a guest or a file controls:
# the targets of Fuzz/ (a package of its own that depends on this one). Each runs for a time
# budget from its committed seeds (Fuzz/Corpus/<target>/, plus the built boot-protocol and ELF64
# guests for the loaders) and dictionary (Fuzz/Dictionaries/<target>.dict); new inputs go to
# .build/fuzz/corpus/<target>/ and every crash, leak or invariant failure to
# .build/fuzz/crashes/<target>/. Prints execs, execs/s and coverage per
# target; fails when any target crashed.
#
#   Scripts/fuzz.sh [--time SECONDS] [--long [--runs N]] [--keep] [TARGET...]
#     --time S   seconds per target (default 60)
#     --long     run each target until 10^8 executions in all, in segments of at most 30
#                minutes (.build/fuzz/long/<target>/), one long run per target at a time; one
#                that was stopped (Ctrl-C ends it with an exact count, a machine's session
#                ending kills it) goes on from its corpus and count when started again, and
#                from those kept in Fuzz/LongRuns/<target>/ (--keep) on another machine
#     --runs N   the executions a long run makes in all (default 10^8)
#     --keep     fuzz nothing: copy each long run's segments, cut to the lines that count, and
#                the inputs of its corpus that add coverage into Fuzz/LongRuns/<target>/, to be
#                committed: --long on another machine then goes on from there
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
seconds=60; long=0; keep=0; long_runs=100000000; runs_given=0; targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) seconds="$2"; shift 2 ;;
    --long) long=1; shift ;;
    --runs) long_runs="$2"; runs_given=1; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz: unknown option $1" >&2; exit 64 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: --time takes a positive number of seconds, not '$seconds'" >&2; exit 64; }
[ "$keep" -eq 0 ] || [ "$long" -eq 0 ] || { echo "fuzz: --keep fuzzes nothing: give it without --long" >&2; exit 64; }
[ "$runs_given" -eq 0 ] || [ "$long" -eq 1 ] || { echo "fuzz: --runs counts a long run's executions: give --long too" >&2; exit 64; }
# libFuzzer reads -runs as an int.
[[ "$long_runs" =~ ^[1-9][0-9]{0,9}$ ]] && [ "$long_runs" -le 2147483647 ] ||
  { echo "fuzz: --runs takes a count from 1 to 2147483647, not '$long_runs'" >&2; exit 64; }
((${#targets[@]})) || targets=(fuzz-boot-loaders fuzz-pci-config fuzz-pc-devices fuzz-trace-replay fuzz-msix fuzz-acpi-tables fuzz-device-tree
                            fuzz-virtio-queues fuzz-remapping)
Scripts/setup.sh
Scripts/build-guests.sh >/dev/null
# The coverage kinds are named explicitly: with Swift 6.3.1, --sanitize=fuzzer alone left
# release (whole-module) builds uninstrumented now and then, and the runs below refuse a target
# that reports no coverage.
# AddressSanitizer is asked for through -Xswiftc and -Xcc, not --sanitize=address: SwiftPM keeps
# --sanitize values in a set and hands them to swiftc in a random order, and a build given
# -sanitize=address before -sanitize=fuzzer came out with a quarter less instrumentation
# (objects a quarter smaller, coverage 193 instead of 290 on the same fuzz-virtio-queues corpus).
# This way swiftc always sees fuzzer first (SwiftPM puts its own flags before -Xswiftc ones, which
# the check after the build confirms); --sanitize=fuzzer stays SwiftPM's own, so it links the
# targets with libFuzzer's main.
flags=(-c release --sanitize=fuzzer -Xswiftc -sanitize=address -Xcc -fsanitize=address
       -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp)
(cd Fuzz && swift package resolve >/dev/null)
build() {
  local out
  # Planned afresh each time (a few seconds): from the release.yaml of an earlier build, SwiftPM
  # 6.3.1 missed a file added to SwiftVMM's sources ("has no member"), and after a build of one
  # --product it compiled SwiftVMM's executables as libraries ("statements are not allowed at
  # the top level").
  rm -f Fuzz/.build/release.yaml
  if ! out="$(cd Fuzz && swift build "${flags[@]}" 2>&1)"; then
    grep -E 'error' <<<"$out" >&2 || tail -20 <<<"$out" >&2
    echo "fuzz: the build failed" >&2
    exit 1
  fi
}
bin="$(cd Fuzz && swift build "${flags[@]}" --show-bin-path)"
# The objects of this package's modules that hold code but no coverage counters: a module
# built without them would be fuzzed blind, and nothing else would show it.
uninstrumented() {
  local module o
  for module in Sources/*/; do
    module="$(basename "$module")"
    for o in "$bin/$module.build"/*.o; do
      [ -f "$o" ] || continue
      objdump -h "$o" | awk '$2 == "__sancov_cntrs" { counters = 1 }
        $2 ~ /^\.text/ && $2 != ".text.asan.module_ctor" && $3 !~ /^0+$/ { code = 1 }
        END { exit !(code && !counters) }' && echo "$o"
    done
  done
  return 0
}
# The first sanitizer swiftc was given for this package's modules, by the build's own commands.
first_sanitizer() {
  grep -F '"-module-name","FuzzTargets"' Fuzz/.build/release.yaml | head -1 | grep -oE '"-sanitize=[a-z]+"' | head -1 | tr -d '"'
}
build
if [ "$(first_sanitizer)" != "-sanitize=fuzzer" ]; then
  echo "fuzz: swiftc was given $(first_sanitizer) before -sanitize=fuzzer (see the flags above); the build is less instrumented" >&2
  exit 1
fi
missing="$(uninstrumented)"
if [ -n "$missing" ]; then
  echo "fuzz: $(wc -l <<<"$missing") objects hold code without coverage counters (first: ${missing%%$'\n'*}); building again from clean" >&2
  rm -rf Fuzz/.build
  (cd Fuzz && swift package resolve >/dev/null)
  build
  missing="$(uninstrumented)"
  if [ -n "$missing" ]; then
    echo "fuzz: still not instrumented after a clean build: $missing" >&2
    exit 1
  fi
fi
# Allocation stacks of 4 frames, not 30: recording them was a sixth of some targets' time. A
# crash input replays with full stacks by running the target on it alone (or in swift test).
# Not fewer than 2: LeakSanitizer reports a leak only when its allocation stack has the caller's
# frame, so with 0 or 1 frames every leak passes unseen (tried with a C program that leaks).
export ASAN_OPTIONS="malloc_context_size=4${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
# shellcheck source=Scripts/fuzz-segments.sh
source Scripts/fuzz-segments.sh
# The seeds a run starts from besides its committed ones: the built guests, for the loaders.
built_seeds() {
  [ "$1" != fuzz-boot-loaders ] ||
    printf '%s\n' .build/guests/multiboot.elf .build/guests/multiboot-aout.bin .build/guests/pvh.elf .build/guests/hello.elf
}
# --keep for target $1: its long run's segments (cut), and the inputs of its corpus that add
# features to those kept before (libFuzzer's -merge=1), less the seeds, which are kept where
# they are. Kept inputs stay: a keep adds files and never rewrites the set, so the repository
# grows only with what a run found.
keep_long_run() {
  local target="$1" live=".build/fuzz/long/$1" kept="Fuzz/LongRuns/$1" corpus=".build/fuzz/corpus/$1" f before work
  if [ ! -d "$live" ]; then echo "fuzz: $target: no long run on this machine to keep"; return 0; fi
  mkdir -p "$kept/corpus" || return 1
  for f in "$live"/segment-*.log; do
    if [ -f "$f" ]; then segment_kept_lines "$f" >"$kept/$(basename "$f")" || return 1; fi
  done
  before="$(find "$kept/corpus" -type f | wc -l)"
  # From a copy of the corpus: a run still going replaces inputs by shorter ones, which a merge
  # reading its folder could miss. The merge adds to a folder of the seeds and the kept inputs
  # what they lack, under new names; those files are what the run found.
  # (set -e does not hold in a function called with ||: each step that matters returns itself.)
  work=".build/fuzz/keep/$target"; rm -rf "$work"; mkdir -p "$work/corpus" "$work/known" || return 1
  cp -r "$corpus"/. "$work/corpus"/ 2>/dev/null || true
  { find Fuzz/Corpus/"$target" "$kept/corpus" -type f 2>/dev/null; built_seeds "$target"; } | xargs -r cp -n -t "$work/known"/ || return 1
  ls "$work/known" >"$work/before" || return 1
  if ! "$bin/$target" -merge=1 -max_len="$max_len" -rss_limit_mb=4096 "$work/known" "$work/corpus" \
       >".build/fuzz/$target.merge.log" 2>&1; then
    echo "fuzz: $target: merging its corpus failed (.build/fuzz/$target.merge.log)" >&2
    return 1
  fi
  ls "$work/known" | comm -13 "$work/before" - | while IFS= read -r f; do cp -n "$work/known/$f" "$kept/corpus/" || exit 1; done || return 1
  rm -rf "$work"
  echo "fuzz: $target: kept $(long_run_summary "$long_runs" "$live" "$kept"); its corpus $before -> $(find "$kept/corpus" -type f | wc -l) inputs, $(du -sh --apparent-size "$kept/corpus" | cut -f1) ($kept)"
}
failed=0
# One libFuzzer run of $target with "${budget[@]}", appended to $log, and its figures; sets
# status and found, and failed when it failed.
fuzz_once() {
  status=0
  "$bin/$target" "${budget[@]}" "${dict[@]}" -max_len="$max_len" -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "$corpus" >>"$log" 2>&1 || status=$?
  local runs rate cov
  runs="$(segment_executions "$log")"
  rate="$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -1)"
  cov="$(grep -oE "cov: [0-9]+" "$log" | tail -1 | cut -d" " -f2 || true)"
  found="$(find "$crashes" -type f | wc -l)"
  echo "fuzz: $target: $runs execs, ${rate:-?}/s, coverage ${cov:-?}, $found crash files (exit $status)"
  if [ -z "$cov" ]; then
    echo "fuzz: $target reported no coverage: the build is not instrumented (try rm -rf Fuzz/.build)" >&2
    failed=1; status=1
  fi
  if [ "$status" -ne 0 ] || [ "$found" -ne 0 ]; then
    failed=1
    grep -E 'ERROR|Fatal error|panic|SUMMARY' "$log" | head -5 >&2 || true
  fi
}
for target in "${targets[@]}"; do
  [ -x "$bin/$target" ] || { echo "fuzz: no target $target in Fuzz/" >&2; exit 64; }
  # Kernel images need room; the other targets decode operations, where short inputs run faster.
  max_len=4096; [ "$target" = fuzz-boot-loaders ] && max_len=65536
  if [ "$keep" -eq 1 ]; then keep_long_run "$target" || failed=1; continue; fi
  corpus=".build/fuzz/corpus/$target"; crashes=".build/fuzz/crashes/$target"
  mkdir -p "$corpus" "$crashes"
  cp -n Fuzz/Corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  built_seeds "$target" | xargs -r cp -n -t "$corpus"/
  dict=(); [ -f "Fuzz/Dictionaries/$target.dict" ] && dict=(-dict="Fuzz/Dictionaries/$target.dict")
  if [ "$long" -eq 0 ]; then
    budget=(-max_total_time="$seconds")
    log=".build/fuzz/$target.log"; : >"$log"
    fuzz_once
    continue
  fi
  # A long run kept on another machine goes on from its corpus as well.
  segments=".build/fuzz/long/$target"; kept="Fuzz/LongRuns/$target"; mkdir -p "$segments"
  # One long run of a target at a time: two would fuzz one corpus and count twice. libFuzzer
  # inherits the lock, so it holds while the run goes on, even if this script was killed.
  exec {lock}>"$segments/.lock"
  if ! flock -n "$lock"; then
    echo "fuzz: $target: another long run of it is going ($segments/.lock is held)" >&2
    exec {lock}>&-; failed=1; continue
  fi
  cp -n "$kept"/corpus/* "$corpus"/ 2>/dev/null || true
  done_runs="$(long_run_totals "$segments" "$kept" | cut -d' ' -f2)"
  if [ "$done_runs" -ge "$long_runs" ]; then
    found="$(find "$crashes" -type f | wc -l)"
    echo "fuzz: $target: $(long_run_summary "$long_runs" "$segments" "$kept"), $found crash files (done; rm -r $segments $kept to start again)"
    # A failure in any segment fails the run, here or kept: after the fix it starts again.
    [ "$found" -eq 0 ] && [ "$(long_run_failures "$segments" "$kept")" -eq 0 ] || failed=1
    exec {lock}>&-
    continue
  fi
  # Segments of at most 30 minutes, each ending with libFuzzer's exact count (and reloading the
  # corpus, a few seconds): one that is killed (a machine's session ending kills everything)
  # counts only up to its last progress line, which libFuzzer prints ever more rarely. Ctrl-C
  # (SIGINT to libFuzzer) ends the segment going with its exact count, and the run.
  while [ "$done_runs" -lt "$long_runs" ]; do
    budget=(-runs=$((long_runs - done_runs)) -max_total_time=1800)
    log="$segments/segment-$(date -u +%Y%m%dT%H%M%SZ).log"
    echo "# fuzz.sh --long $target, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $done_runs executions before this segment" >"$log"
    fuzz_once
    echo "fuzz: $target: $(long_run_summary "$long_runs" "$segments" "$kept")"
    # Ctrl-C: libFuzzer ends the segment with its count and exits 72; so does this script.
    if [ "$status" -eq 72 ]; then echo "fuzz: $target: stopped (SIGINT); --long goes on from here" >&2; exit 130; fi
    [ "$status" -eq 0 ] && [ "$found" -eq 0 ] || break
    done_runs="$(long_run_totals "$segments" "$kept" | cut -d' ' -f2)"
  done
  exec {lock}>&-
done
exit "$failed"
