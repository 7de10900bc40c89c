#!/usr/bin/env bash
# Interrupt-delivery benchmark: the `bench-irq` guest takes N interrupts one at a time (it raises
# one, halts until it arrives, raises the next) through each path of the MSI-X test device:
#   signal    RAISE write -> MMIO exit -> KVM_SIGNAL_MSI
#   irqfd     RAISE_BACKEND write -> MMIO exit -> eventfd write -> irqfd
#   doorbell  DOORBELL[0] write -> KVM ioeventfd (no exit) -> backend thread -> eventfd -> irqfd
# under this VMM (release build) and under Scripts/bench/irq-loop.c, a minimal C VMM compiled in
# the same run that does the same ioctls and eventfd writes. Each is run with N = 200 and
# N = 1200; the difference of the two run-loop times removes the fixed start-up cost:
#   rate = 1000 / (t(1200) - t(200))  interrupts/s,
# with each t the fastest of ROUNDS runs. Prints per path the two rates and vmm/C (1 = same speed,
# below 1 = the VMM is slower). Fails if any run fails or delivers fewer interrupts than asked.
# Usage: Scripts/bench-interrupts.sh [ROUNDS]   (default 3)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-3}"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: Scripts/bench-interrupts.sh [ROUNDS]" >&2; exit 2; }
Scripts/setup.sh
Scripts/build-guests.sh >/dev/null
mkdir -p .build/bench
cc -O2 -Wall -o .build/bench/irq-loop Scripts/bench/irq-loop.c -lfdt -lpthread
swift build -c release --product vmm 2>&1 | { grep -E 'error|warning: unre' >&2 || true; }
vmm="$(swift build -c release --show-bin-path)/vmm"
guest=.build/guests/bench-irq.elf
small=200
large=1200
modes=(signal irqfd doorbell)

fail() { echo "bench-interrupts: $*" >&2; exit 1; }

# run_c MODE N: prints the run-loop time in ns of the C loop; fails unless the guest passed and
# reported at least N deliveries.
run_c() {
  local out line
  if ! out=$(.build/bench/irq-loop "$guest" "$1" "$2" 2>&1); then
    fail "C loop, mode=$1 n=$2 failed: $(echo "$out" | tail -3 | tr '\n' ' ')"
  fi
  line=$(echo "$out" | grep -E "^mode=$1 n=$2 " | tail -1)
  local d ns status
  d=$(echo "$line" | sed -nE 's/.* delivered=([0-9]+) .*/\1/p')
  ns=$(echo "$line" | sed -nE 's/.* ns=([0-9]+) .*/\1/p')
  status=$(echo "$line" | sed -nE 's/.* status=([^ ]+).*/\1/p')
  [ "$status" = 0 ] && [ -n "$ns" ] || fail "C loop, mode=$1 n=$2: bad summary: $out"
  [ -n "$d" ] && [ "$d" -ge "$2" ] || fail "C loop, mode=$1 n=$2 delivered ${d:-nothing}, expected $2"
  echo "$ns"
}

# run_vmm MODE N: the same for this VMM ("vmm: exits_io=A exits_mmio=B ns=T" from --stats). The
# guest checks every delivery itself (it fails on the first interrupt that never arrives), so a
# pass means N were delivered.
run_vmm() {
  local out ns
  if ! out=$("$vmm" run "$guest" --cmdline "mode=$1 n=$2" --stats --quiet --timeout 60 2>&1 >/dev/null); then
    # Once more with the console shown, for the guest's own account of the failure.
    out=$("$vmm" run "$guest" --cmdline "mode=$1 n=$2" --timeout 60 2>&1 || true)
    fail "vmm, mode=$1 n=$2 failed: $(echo "$out" | tail -3 | tr '\n' ' ')"
  fi
  ns=$(echo "$out" | sed -nE 's/.*exits_io=[0-9]+ exits_mmio=[0-9]+ ns=([0-9]+).*/\1/p' | tail -1)
  [ -n "$ns" ] || fail "vmm, mode=$1 n=$2 printed no statistics: $out"
  echo "$ns"
}

min() { if [ -z "$1" ] || [ "$2" -lt "$1" ]; then echo "$2"; else echo "$1"; fi; }
# rate T_SMALL T_LARGE: interrupts per second from the two run-loop times in ns.
rate() { awk -v a="$1" -v b="$2" -v n=$((large - small)) 'BEGIN { if (b <= a) print "nan"; else printf "%.0f\n", n * 1e9 / (b - a) }'; }

declare -A best
for ((r = 1; r <= rounds; r++)); do
  report="round $r:"
  for m in "${modes[@]}"; do
    cs=$(run_c "$m" $small); cl=$(run_c "$m" $large)
    vs=$(run_vmm "$m" $small); vl=$(run_vmm "$m" $large)
    best[c,$m,s]=$(min "${best[c,$m,s]:-}" "$cs"); best[c,$m,l]=$(min "${best[c,$m,l]:-}" "$cl")
    best[v,$m,s]=$(min "${best[v,$m,s]:-}" "$vs"); best[v,$m,l]=$(min "${best[v,$m,l]:-}" "$vl")
    report+=" $m C $(rate "$cs" "$cl")/s vmm $(rate "$vs" "$vl")/s;"
  done
  echo "${report%;}"
done

echo "best of $rounds (interrupts/s from the fastest run of each size, n=$large minus n=$small):"
for m in "${modes[@]}"; do
  c=$(rate "${best[c,$m,s]}" "${best[c,$m,l]}")
  v=$(rate "${best[v,$m,s]}" "${best[v,$m,l]}")
  [ "$c" != nan ] && [ "$v" != nan ] || fail "$m: the n=$large runs were not slower than the n=$small runs (too noisy to measure)"
  ratio=$(awk -v v="$v" -v c="$c" 'BEGIN { printf "%.3f", v / c }')
  us_c=$(awk -v c="$c" 'BEGIN { printf "%.1f", 1e6 / c }')
  us_v=$(awk -v v="$v" 'BEGIN { printf "%.1f", 1e6 / v }')
  echo "$m: C loop $c interrupts/s, vmm $v interrupts/s, ratio $ratio  (${us_c} vs ${us_v} us per delivery)"
done
