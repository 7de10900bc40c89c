#!/usr/bin/env bash
# Builds the freestanding x86-64 test guests (Guests/<name>/main.c + Guests/runtime) into
# OUTDIR/<name>.elf and the 32-bit boot-protocol guests (Guests/boot32) into multiboot.elf,
# multiboot-aout.bin and pvh.elf, then checks that none of them contains an instruction this host's KVM
# emulator rejects (SSE/AVX/MMX/x87 registers, x87 instructions, INT3, XSAVE/XRSTOR, CMPXCHG16B);
# the `emulator-gap` guest is exempt, it exists to execute one.
#
#   Scripts/build-guests.sh [OUTDIR]      default OUTDIR: <project root>/.build/guests
#
# Incremental: make rebuilds only what is older than its sources (Guests/Makefile).
# Toolchain: clang, ld.lld and llvm-objdump next to `swift` (the Swift toolchain ships them),
# else /opt/swift/usr/bin.
set -euo pipefail

root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
out="${1:-$root/.build/guests}"

fail() { echo "build-guests: $*" >&2; exit 1; }

# Pick the toolchain folder: beside swift first, then the usual install path.
candidates=()
if swift_path="$(command -v swift 2>/dev/null)"; then
  candidates+=("$(dirname "$(readlink -f "$swift_path")")")
fi
candidates+=(/opt/swift/usr/bin)
bin=""
for dir in "${candidates[@]}"; do
  if [ -x "$dir/clang" ] && [ -x "$dir/ld.lld" ]; then bin="$dir"; break; fi
done
[ -n "$bin" ] || fail "clang and ld.lld not found beside swift or in /opt/swift/usr/bin (searched: ${candidates[*]}); install the Swift toolchain, which ships both"
objdump="$bin/llvm-objdump"
[ -x "$objdump" ] || objdump="$(command -v llvm-objdump || true)"
[ -n "$objdump" ] || fail "llvm-objdump not found beside $bin/clang; it is needed to check the guests"
command -v make >/dev/null || fail "make is not installed (apt-get install make)"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
case "$root$out" in *" "*) fail "the project root and OUTDIR must not contain spaces (make cannot handle them): $root, $out" ;; esac

make -s -C "$root/Guests" -j"$(nproc 2>/dev/null || echo 2)" OUT="$out" CLANG="$bin/clang" LLD="$bin/ld.lld"

# Instructions the emulator rejects, matched on the disassembly text after the address.
forbidden='%[xyz]mm[0-9]|%mm[0-7]|%st\b|(^|[[:space:]])(int3|f[a-z0-9]+|fxsave[a-z0-9]*|fxrstor[a-z0-9]*|xsave[a-z0-9]*|xrstor[a-z0-9]*|cmpxchg16b)([[:space:]]|$)'
bad=0
count=0
for source in "$root"/Guests/*/main.c; do
  name="$(basename "$(dirname "$source")")"
  elf="$out/$name.elf"
  [ -f "$elf" ] || fail "$elf was not built"
  count=$((count + 1))
  [ "$name" = emulator-gap ] && continue
  hits="$("$objdump" -d --no-show-raw-insn "$elf" | sed -nE 's/^[[:space:]]*[0-9a-f]+:[[:space:]]+//p' | grep -nE "$forbidden" || true)"
  if [ -n "$hits" ]; then
    echo "build-guests: $name.elf contains instructions the KVM emulator rejects:" >&2
    echo "$hits" | head -20 >&2
    rm -f "$elf" # so the next run rebuilds and checks it again
    bad=1
  fi
done
# The boot-protocol guests (Guests/boot32) are checked the same way; the flat binary is the
# multiboot guest's code, which multiboot.elf already covers.
for elf in "$out/multiboot.elf" "$out/pvh.elf"; do
  [ -f "$elf" ] || fail "$elf was not built"
  hits="$("$objdump" -d --no-show-raw-insn "$elf" | sed -nE 's/^[[:space:]]*[0-9a-f]+:[[:space:]]+//p' | grep -nE "$forbidden" || true)"
  if [ -n "$hits" ]; then
    echo "build-guests: $(basename "$elf") contains instructions the KVM emulator rejects:" >&2
    echo "$hits" | head -20 >&2
    rm -f "$elf"
    bad=1
  fi
done
[ "$bad" -eq 0 ] || exit 1

# The suite manifest `vmm test` reads: one line per guest,
# "NAME vcpus=N [apic-ids=A,B,…] expect=pass|fail|timeout checks=TEXT" (checks= last: the rest of
# the line), from the `vcpus: N`, `apic-ids: …`, `expect: …` and `checks: …` lines of each guest's
# README (defaults: 1 vCPU, APIC IDs 0, 1, …, pass, no text); a README line `suite: no` keeps a
# guest (a benchmark, say) out of the suite.
manifest="$out/suite.txt.new"
: >"$manifest"
for source in "$root"/Guests/*/main.c; do
  dir="$(dirname "$source")"
  name="$(basename "$dir")"
  readme="$dir/README.md"
  [ -f "$readme" ] || readme=/dev/null
  grep -qE '^suite:[[:space:]]*no[[:space:]]*$' "$readme" && continue
  vcpus="$(sed -nE 's/^vcpus:[[:space:]]*([0-9]+)[[:space:]]*$/\1/p' "$readme" | head -1)"
  expect="$(sed -nE 's/^expect:[[:space:]]*(pass|fail|timeout)[[:space:]]*$/\1/p' "$readme" | head -1)"
  checks="$(sed -nE 's/^checks:[[:space:]]*(.*[^[:space:]])[[:space:]]*$/\1/p' "$readme" | head -1)"
  apic_ids="$(sed -nE 's/^apic-ids:[[:space:]]*([0-9,]+)[[:space:]]*$/\1/p' "$readme" | head -1)"
  echo "$name vcpus=${vcpus:-1}${apic_ids:+ apic-ids=$apic_ids} expect=${expect:-pass}${checks:+ checks=$checks}" >>"$manifest"
done
mv "$manifest" "$out/suite.txt"
echo "build-guests: $count guests and 3 boot-protocol images in $out"
