#!/usr/bin/env bash
# Builds the binaries CI runners get: `vmm` and `vmm-qemu` in release, linked as static
# executables (the Swift runtime and standard library, libfdt, libstdc++ and glibc are all in the
# binary: nothing is loaded at run time, no /opt/swift, no dynamic linker), stripped; then generates vmm's man page (ArgumentParser's generate-manual) and its
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
# A static executable also starts faster: no dynamic linking (a tenth of a null guest's run
# was ld.so's symbol lookups and relocations with the standard library linked statically into
# a dynamic executable). The linker's "Using 'getpwnam_r' in statically linked applications"
# warnings are about FoundationEssentials' user and group lookups (ArgumentParser links it), which
# vmm never makes; they are filtered out below.
flags=(-c release --scratch-path "$scratch" -Xswiftc -static-executable -Xlinker -L"$root/$scratch/static-libs")
for product in vmm vmm-qemu generate-manual; do
  swift build "${flags[@]}" --product "$product" 2>&1 \
    | { grep -vE '^\[|^Building|^Build of product|^Compiling|^Write|in statically linked applications requires at runtime|the use of .mktemp. is dangerous' >&2 || true; }
done
bin="$(swift build "${flags[@]}" --show-bin-path)"

# Nothing may be left to load at run time.
for binary in vmm vmm-qemu; do
  if readelf -d "$bin/$binary" 2>/dev/null | grep -E 'NEEDED|INTERP'; then
    echo "package: $binary is not a static executable: it loads the above at run time" >&2
    exit 1
  fi
  if readelf -l "$bin/$binary" | grep -q INTERP; then
    echo "package: $binary asks for a program interpreter" >&2
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
