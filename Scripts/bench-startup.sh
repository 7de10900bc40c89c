#!/usr/bin/env bash
# Start-up benchmark: `vmm run` of the null guest (64 MiB machine, the guest passes at once) and
# the C baseline doing the same work (Scripts/bench/kvm-loop.c: create a 64 MiB VM with an
# in-kernel irqchip, load the guest, run it, tear down), alternately, ROUNDS times each. Both are
# measured the same way (Scripts/bench/measured.c: fork, exec, wait4's rusage). Prints the
# median and minimum of wall time, CPU time and peak RSS for each and their ratios.
#
#   Scripts/bench-startup.sh [ROUNDS] [VMM]   (default 30 rounds; VMM defaults to the packaged
#                                             binary of Scripts/package.sh, built if missing)
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
rounds="${1:-30}"
vmm="${2:-}"
Scripts/setup.sh
Scripts/build-guests.sh >/dev/null
mkdir -p .build/bench
cc -O2 -Wall -o .build/bench/kvm-loop Scripts/bench/kvm-loop.c
cc -O2 -Wall -o .build/bench/measured Scripts/bench/measured.c
if [ -z "$vmm" ]; then
  tarball="$(Scripts/package.sh | tail -1)"
  mkdir -p .build/bench/package
  tar -C .build/bench/package -xzf "$tarball"
  vmm="$(echo .build/bench/package/vmm-*/bin/vmm)"
fi
guest=.build/guests/null.elf
[ -x "$vmm" ] || { echo "bench-startup: no vmm at $vmm" >&2; exit 1; }

samples="$(mktemp)"
trap 'rm -f "$samples"' EXIT
# One warm-up run each, not counted (page cache, the first KVM VM of a boot).
.build/bench/measured .build/bench/kvm-loop "$guest" 2>/dev/null
.build/bench/measured "$vmm" run "$guest" --memory 64 --quiet 2>/dev/null
for ((i = 1; i <= rounds; i++)); do
  printf 'c %s\n' "$(.build/bench/measured .build/bench/kvm-loop "$guest" 2>&1)" >>"$samples"
  printf 'vmm %s\n' "$(.build/bench/measured "$vmm" run "$guest" --memory 64 --quiet 2>&1)" >>"$samples"
done
if grep -v 'status=0$' "$samples" >&2; then
  echo "bench-startup: a run above did not pass" >&2
  exit 1
fi

python3 - "$samples" "$rounds" <<'EOF'
import statistics, sys
runs = {"c": [], "vmm": []}
for line in open(sys.argv[1]):
    who, *fields = line.split()
    runs[who].append({k: int(v) for k, v in (f.split("=") for f in fields)})
def figures(who, key, scale):
    values = [r[key] / scale for r in runs[who]]
    return statistics.median(values), min(values)
rows = [("wall", "wall_ns", 1e6, "ms"), ("cpu", "cpu_ns", 1e6, "ms"), ("peak RSS", "maxrss_kib", 1024, "MiB")]
print(f"{sys.argv[2]} rounds each, alternating; median (min)")
for name, key, scale, unit in rows:
    cm, cn = figures("c", key, scale)
    vm, vn = figures("vmm", key, scale)
    print(f"{name:9} C {cm:7.2f} ({cn:7.2f}) {unit}   vmm {vm:7.2f} ({vn:7.2f}) {unit}   "
          f"ratio {vm / cm:5.2f} ({vn / cn:5.2f})")
EOF
