#!/usr/bin/env bash
# The documentation check CI runs: every Swift library module under Sources/ has a DocC catalog,
# every public symbol of those modules has a documentation comment (Scripts/doc-coverage.py over
# the symbol graphs), and `swift package generate-documentation` builds every catalog with no
# warning (a broken symbol link or a wrong parameter name is a warning). The archives land in
# .build/plugins/Swift-DocC/outputs/MODULE.doccarchive.
#
#   Scripts/docs.sh
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
Scripts/setup.sh

# The Swift library modules of the package (Tests/TestSupport is not one of ours to publish).
mapfile -t modules < <(swift package describe --type json | python3 -c '
import json, sys
for target in json.load(sys.stdin)["targets"]:
    if target.get("module_type") == "SwiftTarget" and target["type"] == "library" \
            and target["path"].startswith("Sources/"):
        print(target["name"])' | sort)
[ "${#modules[@]}" -gt 0 ] || { echo "docs.sh: found no library modules" >&2; exit 1; }

missing=0
for module in "${modules[@]}"; do
  if [ ! -f "Sources/$module/$module.docc/$module.md" ]; then
    echo "Sources/$module: no DocC catalog (Sources/$module/$module.docc/$module.md)" >&2
    missing=1
  fi
done
[ "$missing" -eq 0 ] || exit 1

graphs="$(swift package dump-symbol-graph --minimum-access-level public 2>&1 \
  | sed -n 's/^Files written to //p')"
[ -d "$graphs" ] || { echo "docs.sh: dump-symbol-graph wrote no symbol graphs" >&2; exit 1; }
python3 Scripts/doc-coverage.py "$graphs" "${modules[@]}"

targets=()
for module in "${modules[@]}"; do targets+=(--target "$module"); done
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! swift package generate-documentation --warnings-as-errors "${targets[@]}" >"$log" 2>&1 \
    || grep -q "warning:" "$log"; then
  grep -A6 -E "warning:|error:" "$log" >&2 || tail -40 "$log" >&2
  echo "docs.sh: DocC reported problems (above)" >&2
  exit 1
fi
echo "docs.sh: ${#modules[@]} modules documented; archives in .build/plugins/Swift-DocC/outputs"
