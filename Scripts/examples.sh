#!/usr/bin/env bash
# Builds the Examples/ package (it depends on this one by path) and runs both experiments on
# their guests: tick-device (a new MSI-X device, Guests/example-tick) and exit-counter (an exit
# observer counting exits per port, on Guests/exits). Fails when either build or run fails.
#
#   Scripts/examples.sh
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
Scripts/setup.sh
Scripts/build-guests.sh >/dev/null
if ! out="$(cd Examples && swift build 2>&1)"; then
  grep -E 'error' <<<"$out" >&2 || tail -20 <<<"$out" >&2
  echo "examples: the build failed" >&2
  exit 1
fi
bin="$(cd Examples && swift build --show-bin-path)"
"$bin/tick-device" "$root/.build/guests/example-tick.elf"
"$bin/exit-counter" "$root/.build/guests/exits.elf"
echo "examples: tick-device and exit-counter passed"
