#!/usr/bin/env bash
# The vmexit benchmark: kvm-unit-tests' vmexit test on vmm-qemu, reduced to the kinds of exit
# that reach the VMM, next to the minimal C exit loop (Scripts/bench/kvm-loop.c) measured in the
# same run:
#   port   inl_from_qemu − inl_from_kernel      (a port read served by the VMM vs by KVM)
#   mmio   pci-mem: mmio-no-eventfd − mmio-wildcard-eventfd (an MMIO write with vs without exit)
#   pio    pci-io: portio-no-eventfd − portio-wildcard-eventfd
# Cycles become nanoseconds at the TSC rate measured here (Scripts/bench/tsc-khz.c). Each
# difference is the VMM's round trip for that exit; the ratio is it over the C loop's round
# trip per exit. The best (smallest) of ROUNDS runs of each is compared.
#
#   Scripts/bench-vmexit.sh [ROUNDS]        default 5
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
rounds="${1:-5}"
Scripts/setup.sh
Scripts/build-guests.sh >/dev/null
tree="$(Scripts/kvm-unit-tests.sh --build-only)"
[ -n "$tree" ] || { echo "bench-vmexit: kvm-unit-tests is not available (see Scripts/kvm-unit-tests.sh)" >&2; exit 1; }
mkdir -p .build/bench
cc -O2 -Wall -o .build/bench/kvm-loop Scripts/bench/kvm-loop.c
cc -O2 -Wall -o .build/bench/tsc-khz Scripts/bench/tsc-khz.c
swift build -c release --product vmm-qemu 2>&1 | { grep -E 'error' >&2 || true; }
qemu="$(swift build -c release --show-bin-path)/vmm-qemu"
khz="$(.build/bench/tsc-khz)"

min() { sort -g | head -1; }
declare -A best
for ((i = 1; i <= rounds; i++)); do
  out="$(cd "$tree" && "$qemu" -nodefaults -device pc-testdev -device isa-debug-exit,iobase=0xf4,iosize=0x4 \
    -device pci-testdev -serial stdio -kernel x86/vmexit.flat -append 'inl_from_qemu inl_from_kernel pci-mem pci-io' 2>&1 || true)"
  for key in inl_from_qemu inl_from_kernel mmio-no-eventfd:pci-mem mmio-wildcard-eventfd:pci-mem \
             portio-no-eventfd:pci-io portio-wildcard-eventfd:pci-io; do
    v="$(printf '%s\n' "$out" | tr -d '\r' | awk -v k="$key" '$1 == k { print $2 }' | tail -1)"
    [ -n "$v" ] || { echo "bench-vmexit: no '$key' line in the vmexit output:" >&2; printf '%s\n' "$out" | tail -20 >&2; exit 1; }
    best[$key]="$(printf '%s\n%s\n' "$v" "${best[$key]:-}" | sed '/^$/d' | min)"
  done
  c="$(.build/bench/kvm-loop .build/guests/bench.elf 2>&1 >/dev/null \
      | sed -nE 's/.*exits_io=([0-9]+) exits_mmio=([0-9]+) ns=([0-9]+).*/\1 \2 \3/p' | awk '{ printf "%.1f\n", $3 / ($1 + $2) }')"
  best[c]="$(printf '%s\n%s\n' "$c" "${best[c]:-}" | sed '/^$/d' | min)"
  echo "round $i: inl_from_qemu ${best[inl_from_qemu]} inl_from_kernel ${best[inl_from_kernel]} cycles; C loop ${c} ns/exit"
done
report() {  # name served-by-VMM baseline
  awk -v n="$1" -v a="$2" -v b="$3" -v khz="$khz" -v c="${best[c]}" 'BEGIN {
    ns = (a - b) / khz * 1e6; printf "%-5s %8.0f − %8.0f cycles = %7.1f ns; C loop %6.1f ns; ratio %.3f\n", n, a, b, ns, c, ns / c }'
}
echo "best of $rounds (TSC ${khz} kHz):"
report port "${best[inl_from_qemu]}" "${best[inl_from_kernel]}"
report mmio "${best[mmio-no-eventfd:pci-mem]}" "${best[mmio-wildcard-eventfd:pci-mem]}"
report pio "${best[portio-no-eventfd:pci-io]}" "${best[portio-wildcard-eventfd:pci-io]}"
