#!/usr/bin/env bash
# Runs kvm-unit-tests' x86 suite through its own, unmodified runner (run_tests.sh) with vmm-qemu
# as QEMU, writes JUnit, and compares every test's result with the committed expectations
# (Scripts/kvm-unit-tests.expected). A test expected to pass that does not is a regression: the
# script fails. One that passes though not expected to is reported so the file can be updated.
#
#   Scripts/kvm-unit-tests.sh [--junit FILE] [--jobs N] [TEST...]
#   Scripts/kvm-unit-tests.sh --build-only      prints the built tree's path (or nothing)
#
# Source: $KUT_SRC (a kvm-unit-tests tree), else the tarball in ../shared/kvm-unit-tests/; with
# neither it says so and exits 0 (skipped). The build is cached under .build/kvm-unit-tests/
# by the tarball's (or tree's) content hash and the compiler's version, so a second run only
# runs the tests. Tests listed with a timeout in the expectations run with that timeout (they
# hang here for a host reason); the others with the suite's own.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
expectations="$root/Scripts/kvm-unit-tests.expected"
junit="$root/.build/kvm-unit-tests/junit.xml"
jobs="$(nproc 2>/dev/null || echo 2)"
only=()
build_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --junit) junit="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "kvm-unit-tests: unknown option $1" >&2; exit 64 ;;
    *) only+=("$1"); shift ;;
  esac
done
say() { echo "kvm-unit-tests: $*" >&2; }
# The compilers and libfdt that both builds below need.
"$root/Scripts/setup.sh"

# The source and its content hash.
tarball=""
if [ -n "${KUT_SRC:-}" ]; then
  [ -f "$KUT_SRC/run_tests.sh" ] || { say "KUT_SRC=$KUT_SRC is not a kvm-unit-tests tree (no run_tests.sh)"; exit 1; }
  hash="$(cd "$KUT_SRC" && find . -path ./logs -prune -o -type f \( -name '*.[chS]' -o -name '*.cfg' -o -name 'Makefile*' -o -name '*.lds' \) -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
else
  for candidate in "$root"/../shared/kvm-unit-tests/kvm-unit-tests-*.tar.gz; do
    [ -f "$candidate" ] && tarball="$candidate"
  done
  if [ -z "$tarball" ]; then
    say "no source: set KUT_SRC to a kvm-unit-tests tree or put its tarball in ../shared/kvm-unit-tests/ (skipped)"
    exit 0
  fi
  hash="$(sha256sum "$tarball" | cut -c1-16)"
fi
hash="$hash-$(gcc -dumpfullversion 2>/dev/null || echo gcc)"
cache="$root/.build/kvm-unit-tests/$hash"
tree="$cache/src"

# Build once per hash.
if [ ! -f "$cache/built" ]; then
  say "building kvm-unit-tests into $cache (once per source hash)"
  rm -rf "$cache"
  mkdir -p "$cache"
  if [ -n "$tarball" ]; then
    mkdir -p "$cache/unpack"
    tar -xzf "$tarball" -C "$cache/unpack"
    mv "$cache/unpack"/* "$tree"
    rmdir "$cache/unpack"
  else
    cp -a "$KUT_SRC" "$tree"
  fi
  (cd "$tree" && ./configure >"$cache/configure.log" 2>&1 && make -j"$jobs" >"$cache/make.log" 2>&1) \
    || { say "the build failed; see $cache/configure.log and $cache/make.log"; exit 1; }
  touch "$cache/built"
fi
if [ "$build_only" -eq 1 ]; then echo "$tree"; exit 0; fi

# The front end, in release (its exit path is what vmexit measures).
say "building vmm-qemu (release)"
(cd "$root" && swift build -c release --product vmm-qemu >/dev/null) || { say "swift build of vmm-qemu failed"; exit 1; }
qemu="$(cd "$root" && swift build -c release --show-bin-path)/vmm-qemu"

# Expectations: NAME pass|fail|skip [timeout=DURATION] [# reason]
declare -A expect timeout_of
while read -r name result rest; do
  case "$name" in ''|'#'*) continue ;; esac
  expect[$name]="$result"
  if [[ "$rest" =~ timeout=([0-9]+[smh]?) ]]; then timeout_of[$name]="${BASH_REMATCH[1]}"; fi
done <"$expectations"

# Which tests to run: all the runner knows (or those named), split by the timeout they take.
mapfile -t all < <(cd "$tree" && ./run_tests.sh -l 2>/dev/null | sed -n 's/^\([A-Za-z0-9_.-]*\)$/\1/p')
((${#only[@]})) && all=("${only[@]}")
declare -A by_timeout
for name in "${all[@]}"; do
  t="${timeout_of[$name]:-default}"
  by_timeout[$t]+=" $name"
done

results="$cache/results.txt"
: >"$results"
start=$(date +%s)
for t in "${!by_timeout[@]}"; do
  # shellcheck disable=SC2086 # the names are words
  if [ "$t" = default ]; then
    (cd "$tree" && QEMU="$qemu" ACCEL=kvm ./run_tests.sh -j "$jobs" ${by_timeout[$t]} </dev/null) >>"$results" 2>&1 || true
  else
    (cd "$tree" && QEMU="$qemu" ACCEL=kvm TIMEOUT="$t" ./run_tests.sh -j "$jobs" ${by_timeout[$t]} </dev/null) >>"$results" 2>&1 || true
  fi
done
elapsed=$(( $(date +%s) - start ))

# Compare, and write JUnit.
sed -i 's/\x1b\[[0-9;]*m//g' "$results"
mkdir -p "$(dirname "$junit")"
regressions=0; unexpected=0; passed=0; failed=0; skipped=0
{
  echo '<?xml version="1.0" encoding="UTF-8"?>'
  echo "<testsuite name=\"kvm-unit-tests\" tests=\"$(grep -cE '^(PASS|FAIL|SKIP) ' "$results")\" time=\"$elapsed\">"
  while read -r result name reason; do
    case "$result" in PASS|FAIL|SKIP) ;; *) continue ;; esac
    want="${expect[$name]:-pass}"
    got="$(echo "$result" | tr 'A-Z' 'a-z')"
    case "$got" in pass) passed=$((passed + 1)) ;; fail) failed=$((failed + 1)) ;; skip) skipped=$((skipped + 1)) ;; esac
    text="$(printf '%s' "$reason" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g; s/"/\&quot;/g')"
    echo "  <testcase classname=\"kvm-unit-tests.x86\" name=\"$name\">"
    [ "$got" = fail ] && echo "    <failure message=\"$text\"/>"
    [ "$got" = skip ] && echo "    <skipped message=\"$text\"/>"
    echo "  </testcase>"
    if [ "$want" = pass ] && [ "$got" != pass ]; then
      say "REGRESSION: $name was expected to pass, got $got $reason"
      regressions=$((regressions + 1))
    elif [ "$want" != pass ] && [ "$got" = pass ]; then
      say "note: $name passes now (expected $want): update $expectations"
      unexpected=$((unexpected + 1))
    fi
  done <"$results"
  echo "</testsuite>"
} >"$junit"
say "$passed passed, $failed failed, $skipped skipped in ${elapsed}s; JUnit in $junit; $regressions regressions, $unexpected unexpected passes"
[ "$regressions" -eq 0 ]
