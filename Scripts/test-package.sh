#!/usr/bin/env bash
# Runs the packaged `vmm` (Scripts/package.sh) where the Swift toolchain does not exist: in a
# mount namespace with an empty tmpfs over /opt/swift. There it must load (ldd finds every
# library), print its version, help, man page and completions, and pass the guest conformance
# suite, as on a CI runner or in a container without the toolchain.
#
#   Scripts/test-package.sh [TARBALL]     (default: build it with Scripts/package.sh)
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
tarball="${1:-$(Scripts/package.sh | tail -1)}"
[ -f "$tarball" ] || { echo "test-package: no tarball at $tarball" >&2; exit 1; }
Scripts/build-guests.sh >/dev/null
guests="$root/.build/guests"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xzf "$tarball"
tree="$(echo "$work"/vmm-*)"
[ -x "$tree/bin/vmm" ] || { echo "test-package: $tarball holds no bin/vmm" >&2; exit 1; }

# Root makes a mount namespace of its own; anyone else gets one inside a user namespace.
unshare=(unshare --mount --propagation private)
[ "$(id -u)" -eq 0 ] || unshare=(unshare --map-root-user --mount --propagation private)

"${unshare[@]}" env TREE="$tree" GUESTS="$guests" bash -euo pipefail -c '
  mount -t tmpfs none /opt/swift
  if [ -n "$(ls -A /opt/swift)" ]; then echo "test-package: /opt/swift is still visible" >&2; exit 1; fi
  if ldd "$TREE/bin/vmm" | grep "not found"; then echo "test-package: vmm misses a library" >&2; exit 1; fi
  ldd "$TREE/bin/vmm-qemu" | grep "not found" && { echo "test-package: vmm-qemu misses a library" >&2; exit 1; }
  "$TREE/bin/vmm" --version
  "$TREE/bin/vmm" --help >/dev/null
  "$TREE/bin/vmm-qemu" --help >/dev/null
  grep -q "^\.Nm vmm" "$TREE/share/man/man1/vmm.1"
  grep -q "_vmm" "$TREE/share/bash-completion/completions/vmm"
  "$TREE/bin/vmm" test --guest-dir "$GUESTS"
'
echo "test-package: the packaged vmm passed the suite with /opt/swift hidden"
