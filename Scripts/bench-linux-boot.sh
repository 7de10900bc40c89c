#!/usr/bin/env bash
# Linux boot benchmark: time from the VMM's start to the test guest's /init ("vmm-linux: init" on
# the console), under this VMM (release build, `vmm run`, the pc machine with no MSI-X test
# device) and under the minimal C VMM Scripts/bench/linux-loop.c compiled in the same run, which
# boots the very same RAM contents (`vmm run --dump-boot` writes them: kernel, initrd, zero page,
# E820, ACPI and MP tables) with nothing but a 16550, the i8042 reset and the in-kernel irqchip
# and PIT. Both boot by the Linux protocol's 64-bit entry. Rounds alternate the two; the medians and their ratio are printed (goal: <= 1.05).
# Usage: Scripts/bench-linux-boot.sh [ROUNDS]   (default 3; each boot takes about 15 s here)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-3}"
Scripts/setup.sh
guest="$(Scripts/build-linux-guest.sh)"
mkdir -p .build/bench
cc -O2 -Wall -o .build/bench/linux-loop Scripts/bench/linux-loop.c
swift build -c release --product vmm 2>&1 | { grep -E 'error|warning: unre' >&2 || true; }
vmm="$(swift build -c release --show-bin-path)/vmm"
cmdline="$(cat Guests/linux/cmdline)"
args=("$guest/vmlinux" --boot-protocol linux --memory 128 --test-devices 0 --initrd "$guest/initramfs.cpio" --cmdline "$cmdline" --timeout 300)
boot=.build/bench/linux.boot
"$vmm" run "${args[@]}" --dump-boot "$boot"

# Seconds from start to the /init line, read off the VMM's standard output.
to_init() {
  python3 - "$@" <<'EOF'
import subprocess, sys, time
start = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
seen = None
for line in p.stdout:
    if seen is None and b"vmm-linux: init" in line:
        seen = time.monotonic() - start
p.wait()
print("%.3f" % seen if seen is not None else "none")
EOF
}

c_times=(); s_times=()
for ((i = 1; i <= rounds; i++)); do
  c=$(to_init .build/bench/linux-loop "$boot")
  s=$(to_init "$vmm" run "${args[@]}")
  echo "round $i: C $c s, vmm $s s" >&2
  if [ "$c" = none ] || [ "$s" = none ]; then
    echo "bench-linux-boot: round $i did not reach /init (\"vmm-linux: init\" never printed)" >&2
    exit 1
  fi
  c_times+=("$c"); s_times+=("$s")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
mc=$(median "${c_times[@]}"); ms=$(median "${s_times[@]}")
awk -v c="$mc" -v s="$ms" -v n="$rounds" 'BEGIN {
  printf "linux boot to /init, median of %d: C loop %.2f s, vmm %.2f s, ratio %.3f\n", n, c, s, s / c }'
