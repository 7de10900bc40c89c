#!/usr/bin/env bash
# MSI-X unmask benchmark: the cost of unmasking n vectors (n = 1, 64, 512, 2048) one guest write at
# a time ("each": with immediate commits, one KVM_SET_GSI_ROUTING and one irqfd per vector; with
# coalesced commits, one KVM_SET_GSI_ROUTING per batch) and all at once ("all": clearing MaskAll
# with n vectors unmasked: one KVM_SET_GSI_ROUTING, n irqfds). The VMM's side drives the real
# MSI-X test device (vmm-bench, release build) until every irqfd is attached; the C side
# (Scripts/bench/unmask-loop.c) makes the ioctls of one commit per unmask ("each") or one commit
# ("all"), and with "fresh" the same with each eventfd made inside the timing, as vmm makes them
# (it holds none for vectors not in use). Prints both times, the cost per vector and the ratio.
# Usage: Scripts/bench-unmask.sh [ROUNDS]   (default 3; the best round of each is kept)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-3}"
Scripts/setup.sh
mkdir -p .build/bench
cc -O2 -Wall -o .build/bench/unmask-loop Scripts/bench/unmask-loop.c
swift build -c release --product vmm-bench 2>&1 | { grep -E 'error|warning: unre' >&2 || true; }
bench="$(swift build -c release --show-bin-path)/vmm-bench"

best() {  # best ns of ROUNDS runs of a command printing "ns=T"
  local b=""
  for ((i = 0; i < rounds; i++)); do
    t=$("$@" | sed -nE 's/^ns=([0-9]+)$/\1/p')
    [ -n "$t" ] || { echo "bench-unmask: '$*' printed no time" >&2; exit 1; }
    if [ -z "$b" ] || [ "$t" -lt "$b" ]; then b=$t; fi
  done
  echo "$b"
}

printf '%-6s %-15s %12s %12s %12s %12s %7s\n' n mode "C µs" "vmm µs" "C µs/vec" "vmm µs/vec" ratio
for n in 1 64 512 2048; do
  for mode in "each immediate" "each coalesced" "all immediate" "fresh immediate"; do
    c=$(best .build/bench/unmask-loop "$n" "${mode%% *}")
    # "fresh": the C loop makes each eventfd inside the timing, as vmm must (it holds none for
    # vectors not in use); vmm's side is the same "all" run.
    label="$mode"
    [ "${mode%% *}" = fresh ] && mode="all ${mode#* }"
    # shellcheck disable=SC2086  # the mode is two words: the operation and the commit policy
    s=$(best "$bench" unmask "$n" $mode)
    awk -v n="$n" -v m="$label" -v c="$c" -v s="$s" 'BEGIN {
      printf "%-6d %-15s %12.1f %12.1f %12.2f %12.2f %7.2f\n", n, m, c / 1000, s / 1000, c / 1000 / n, s / 1000 / n, s / c }'
  done
done
echo "growth: 'each immediate' commits once per vector and each commit sends the whole table, so it grows as n²;"
echo "        'each coalesced' commits once per batch of up to 256 changes; 'all' sends the table once: both grow as n."
