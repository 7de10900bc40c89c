#!/usr/bin/env bash
# The main job: installs what is missing, builds the guests and the VMM, and runs `vmm` with the
# given arguments (none: the built-in default). Usage: Scripts/run.sh [vmm arguments…]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
Scripts/setup.sh
Scripts/build-guests.sh >/dev/null
swift build --product vmm 2>&1 | { grep -vE '^\[|^Building|^Build complete|^Compiling|^Write' >&2 || true; }
exec "$(swift build --show-bin-path)/vmm" "$@"
