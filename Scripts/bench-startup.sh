#!/usr/bin/env bash
# Start-up benchmark: `vmm run` of the null guest (64 MiB machine, the guest passes at once) and
# the C baseline doing the same work (Scripts/bench/kvm-loop.c: create a 64 MiB VM with an
# in-kernel irqchip, load the guest, run it, tear down), alternately, ROUNDS times each. Both are
# measured the same way (Scripts/bench/measured.c: fork, exec, wait4's rusage). Prints the
# median and minimum of wall time, CPU time and peak RSS for each and their ratios, then the peak
# of private dirty memory of one more run each (Scripts/bench/peak-dirty.c: read at every system
# call, which is exact, but slows the run, so it is not timed).
#
# Peak RSS counts the binary's pages mapped from the page cache, and how many the kernel maps at a
# fault depends on how the file came into the cache: a file just written (by strip, say) can sit
# in large folios that are mapped whole (a fresh 16 MiB binary then showed 13.8 MiB), while one
# read from disk is mapped in small pieces (the same binary: 6.9 MiB). The binary is therefore
# evicted from the page cache before the runs, so every run reads it as an installed binary is read.
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
cc -O2 -Wall -o .build/bench/peak-dirty Scripts/bench/peak-dirty.c
if [ -z "$vmm" ]; then
  tarball="$(Scripts/package.sh | tail -1)"
  mkdir -p .build/bench/package
  tar -C .build/bench/package -xzf "$tarball"
  vmm="$(echo .build/bench/package/vmm-*/bin/vmm)"
fi
guest=.build/guests/null.elf
[ -x "$vmm" ] || { echo "bench-startup: no vmm at $vmm" >&2; exit 1; }

python3 - "$vmm" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.fsync(fd)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
EOF
samples="$(mktemp)"
trap 'rm -f "$samples"' EXIT
# One warm-up run each, not counted (page cache, the first KVM VM of a boot).
.build/bench/measured .build/bench/kvm-loop "$guest" 2>/dev/null
.build/bench/measured "$vmm" run "$guest" --memory 64 --quiet 2>/dev/null
for ((i = 1; i <= rounds; i++)); do
  printf 'c %s\n' "$(.build/bench/measured .build/bench/kvm-loop "$guest" 2>&1)" >>"$samples"
  printf 'vmm %s\n' "$(.build/bench/measured "$vmm" run "$guest" --memory 64 --quiet 2>&1)" >>"$samples"
done
printf 'dirty-c %s\n' "$(.build/bench/peak-dirty .build/bench/kvm-loop "$guest" 2>&1)" >>"$samples"
printf 'dirty-vmm %s\n' "$(.build/bench/peak-dirty "$vmm" run "$guest" --memory 64 --quiet 2>&1)" >>"$samples"
if grep -v 'status=0$' "$samples" >&2; then
  echo "bench-startup: a run above did not pass" >&2
  exit 1
fi

python3 - "$samples" "$rounds" <<'EOF'
import statistics, sys
runs = {"c": [], "vmm": [], "dirty-c": [], "dirty-vmm": []}
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
dc = runs["dirty-c"][0]["peak_private_dirty_kib"] / 1024
dv = runs["dirty-vmm"][0]["peak_private_dirty_kib"] / 1024
print(f"private dirty C {dc:7.2f} MiB   vmm {dv:7.2f} MiB   (the peak of one run each)")
EOF
