#!/usr/bin/env bash
# Builds the binaries CI runners get: `vmm` and `vmm-qemu` in release, with the Swift standard
# library and libfdt linked statically (they need only glibc and libstdc++ at run time, no
# /opt/swift), stripped; then generates vmm's man page (ArgumentParser's generate-manual) and its
# shell completions from the built binary, and writes a tarball:
#
#   vmm-VERSION-x86_64-linux/bin/{vmm,vmm-qemu}
#   vmm-VERSION-x86_64-linux/share/man/man1/vmm.1
#   vmm-VERSION-x86_64-linux/share/bash-completion/completions/vmm
#   vmm-VERSION-x86_64-linux/share/zsh/site-functions/_vmm
#   vmm-VERSION-x86_64-linux/share/fish/vendor_completions.d/vmm.fish
#
#   Scripts/package.sh [OUTPUT_DIR]     (default .build/dist; prints the tarball's path last)
#
# The build lives in .build/package (about 5 minutes the first time on a 2-core machine).
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
out="${1:-.build/dist}"
Scripts/setup.sh

scratch=.build/package
# libfdt.a alone in a folder searched before the system's: `-lfdt` (CLibFDT's module map) then
# finds the archive there instead of libfdt.so.
archive="$(dpkg -L libfdt-dev | grep '/libfdt\.a$' | head -1)"
[ -n "$archive" ] || { echo "package: libfdt-dev has no libfdt.a" >&2; exit 1; }
mkdir -p "$scratch/static-libs"
ln -sf "$archive" "$scratch/static-libs/libfdt.a"
flags=(-c release --scratch-path "$scratch" --static-swift-stdlib -Xlinker -L"$root/$scratch/static-libs")
for product in vmm vmm-qemu generate-manual; do
  swift build "${flags[@]}" --product "$product" 2>&1 \
    | { grep -vE '^\[|^Building|^Build of product|^Compiling|^Write' >&2 || true; }
done
bin="$(swift build "${flags[@]}" --show-bin-path)"

# Nothing of the toolchain may be left to load at run time.
for binary in vmm vmm-qemu; do
  if ldd "$bin/$binary" | grep -E 'libswift|libFoundation|libdispatch|libfdt|/opt/swift'; then
    echo "package: $binary still loads the libraries above at run time" >&2
    exit 1
  fi
done

version="$(tr -d ' \n' < VERSION)"
name="vmm-$version-$(uname -m)-linux"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
tree="$stage/$name"
mkdir -p "$tree/bin" "$tree/share/man/man1" "$tree/share/bash-completion/completions" \
  "$tree/share/zsh/site-functions" "$tree/share/fish/vendor_completions.d"
for binary in vmm vmm-qemu; do
  strip -o "$tree/bin/$binary" "$bin/$binary"
done
"$bin/generate-manual" "$tree/bin/vmm" --output-directory "$tree/share/man/man1" >/dev/null
"$tree/bin/vmm" --generate-completion-script bash > "$tree/share/bash-completion/completions/vmm"
"$tree/bin/vmm" --generate-completion-script zsh > "$tree/share/zsh/site-functions/_vmm"
"$tree/bin/vmm" --generate-completion-script fish > "$tree/share/fish/vendor_completions.d/vmm.fish"
[ -s "$tree/share/man/man1/vmm.1" ] || { echo "package: generate-manual wrote no vmm.1" >&2; exit 1; }

mkdir -p "$out"
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
size="$(du -k "$tree/bin/vmm" | cut -f1)"
echo "package: vmm $("$tree/bin/vmm" --version), ${size} KiB stripped" >&2
readlink -f "$out/$name.tar.gz"
