#!/usr/bin/env bash
# Runs ConcurrencyTests (many machines started and stopped at once), the interrupt router's race
# tests (ExactAccountingTests, CoalescedCommitTests, SharedAttachBatch*: attach batches shared
# with a helper thread) and HelperThread's own tests under the thread sanitizer: any data race
# it sees fails the run. Its build lives in .build/tsan, apart from the normal one
# (about 5 minutes the first time on a 2-core machine; then only what changed).
#
#   Scripts/tsan.sh
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
Scripts/setup.sh
Scripts/build-guests.sh >/dev/null
# halt_on_error: the first race ends the run with its report, and the run fails.
TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" \
  swift test --sanitize=thread --scratch-path .build/tsan --filter 'ConcurrencyTests|ExactAccountingTests|CoalescedCommitTests|SharedAttachBatch|HelperThreadTests'
