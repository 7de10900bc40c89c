#!/usr/bin/env bash
# The test command: installs what is missing, builds the guests (ours and the Linux one), checks the guest-side device-tree
# reader and bootargs parser on the host and the long fuzz runs' accounting, and runs `swift test` (unit tests and KVM tests that boot the guests).
# Exits non-zero when any test fails.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
Scripts/setup.sh
Scripts/build-guests.sh
# The Linux test guest (cached by content hash: about 3 minutes the first time, seconds after).
start=$SECONDS
Scripts/build-linux-guest.sh >/dev/null
echo "test.sh: the Linux test guest took $((SECONDS - start)) s" >&2
# The guest runtime's plain-C parts (device-tree reader, bootargs words), built and checked on the host
# under AddressSanitizer and UBSan (a read out of bounds or an overflow fails the check).
mkdir -p .build/hostcheck
for part in fdt bootargs; do
  cc -O1 -Wall -Werror -fsanitize=address,undefined -fno-sanitize-recover=all -I Guests/runtime -o ".build/hostcheck/$part-hostcheck" "Guests/runtime/$part-hostcheck.c" "Guests/runtime/$part.c"
  ".build/hostcheck/$part-hostcheck"
done
# The long fuzz runs' accounting (Scripts/fuzz-segments.sh), on made-up logs.
Scripts/fuzz-segments-check.sh
swift test "$@"
