#!/usr/bin/env bash
# Builds the Linux test guest: a small kernel from Debian's linux-source-6.1 (fetched with
# `apt-get download`), `make tinyconfig` plus Guests/linux/config, with the source changes this
# host needs (Guests/linux/*.patch, why in each), and an initramfs of Debian's static busybox
# with Guests/linux/init as /init.
#
#   Scripts/build-linux-guest.sh            builds what is missing, prints the output folder
#   Scripts/build-linux-guest.sh --check    prints the folder if it is built, else fails
#
# The output folder, .build/linux-guest/current, holds vmlinux (an ELF with a PVH note),
# bzImage (LZ4-compressed) and initramfs.cpio. The kernel is cached by the hash of the config,
# the patches, this script, the source package's version and the compiler's; the initramfs by
# the hash of init and busybox's version. A second run costs seconds; a first about 3 minutes
# on 2 cores (the download is 140 MB).
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
guest="$root/Guests/linux"
base="$root/.build/linux-guest"
current="$base/current"
say() { echo "build-linux-guest: $*" >&2; }

case "${1:-}" in
  --check)
    [ -f "$current/vmlinux" ] && [ -f "$current/bzImage" ] && [ -f "$current/initramfs.cpio" ] \
      || { say "not built: run Scripts/build-linux-guest.sh"; exit 1; }
    echo "$current"; exit 0 ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) say "unknown option $1"; exit 64 ;;
esac

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
need=()
for p in flex bison bc lz4 libelf-dev xz-utils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The version apt would download; the package lists must exist for that.
version_of() { apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Version: //p' | head -1; }
source_version="$(version_of linux-source-6.1)"
busybox_version="$(version_of busybox-static)"
if [ -z "$source_version" ] || [ -z "$busybox_version" ]; then
  $sudo apt-get update -qq
  source_version="$(version_of linux-source-6.1)"
  busybox_version="$(version_of busybox-static)"
fi
[ -n "$source_version" ] || { say "apt knows no linux-source-6.1 package (Debian 12's main archive has it)"; exit 1; }
[ -n "$busybox_version" ] || { say "apt knows no busybox-static package"; exit 1; }

download() {  # download PACKAGE INTO: the .deb, fetched once per version
  local into="$2"
  mkdir -p "$into"
  if ! ls "$into"/*.deb >/dev/null 2>&1; then
    (cd "$into" && apt-get download "$1" >/dev/null 2>&1) \
      || { $sudo apt-get update -qq; (cd "$into" && apt-get download "$1" >/dev/null); } \
      || { say "apt-get download $1 failed"; exit 1; }
  fi
  ls "$into"/*.deb | head -1
}

kernel_hash="$( { cat "$guest/config" "$guest"/*.patch "$0"; echo "$source_version"; gcc -dumpfullversion; } | sha256sum | cut -c1-16)"
kernel="$base/kernel-$kernel_hash"
if [ ! -f "$kernel/built" ]; then
  say "building the kernel into $kernel (once per content hash; about 3 minutes)"
  rm -rf "$kernel"
  mkdir -p "$kernel"
  deb="$(download linux-source-6.1 "$base/download/linux-source-$source_version")"
  dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' | tar -xJ -C "$kernel"
  src="$(ls -d "$kernel"/linux-source-*)"
  for patch in "$guest"/*.patch; do
    patch -d "$src" -p1 --quiet --forward < "$patch" || { say "$(basename "$patch") does not apply to linux-source $source_version"; exit 1; }
  done
  log="$kernel/make.log"
  {
    make -C "$src" tinyconfig
    "$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "$guest/config"
    make -C "$src" olddefconfig
  } >"$log" 2>&1 || { say "configuring failed; see $log"; exit 1; }
  # Every line of the fragment must have survived olddefconfig (a dependency missing drops it).
  while read -r line; do
    case "$line" in
      CONFIG_*=*) grep -qx "$line" "$src/.config" || { say "config: $line did not take (see $src/.config)"; exit 1; } ;;
      "# CONFIG_"*" is not set")
        name="${line#\# }"; name="${name% is not set}"
        ! grep -q "^$name=" "$src/.config" || { say "config: $name is still set"; exit 1; } ;;
    esac
  done < "$guest/config"
  make -C "$src" -j"$(nproc)" vmlinux bzImage >>"$log" 2>&1 || { say "the kernel build failed; see $log"; exit 1; }
  cp "$src/vmlinux" "$kernel/vmlinux"
  cp "$src/arch/x86/boot/bzImage" "$kernel/bzImage"
  gcc -O2 -o "$kernel/gen_init_cpio" "$src/usr/gen_init_cpio.c"
  rm -rf "$src"
  touch "$kernel/built"
  # Earlier hashes' kernels are not used again.
  find "$base" -maxdepth 1 -name 'kernel-*' ! -name "kernel-$kernel_hash" -exec rm -rf {} +
fi

initramfs_hash="$( { cat "$guest/init" "$0"; echo "$busybox_version"; } | sha256sum | cut -c1-16)"
initramfs="$base/initramfs-$initramfs_hash.cpio"
if [ ! -f "$initramfs" ]; then
  say "packing the initramfs"
  work="$base/initramfs-work"
  rm -rf "$work" && mkdir -p "$work"
  deb="$(download busybox-static "$base/download/busybox-static-$busybox_version")"
  dpkg-deb -x "$deb" "$work/pkg"
  cat > "$work/list" <<EOF
dir /bin 0755 0 0
dir /dev 0755 0 0
dir /proc 0755 0 0
dir /sys 0755 0 0
dir /tmp 1777 0 0
nod /dev/console 0600 0 0 c 5 1
file /bin/busybox $work/pkg/bin/busybox 0755 0 0
slink /bin/sh /bin/busybox 0777 0 0
file /init $guest/init 0755 0 0
EOF
  "$kernel/gen_init_cpio" "$work/list" > "$initramfs.tmp"
  mv "$initramfs.tmp" "$initramfs"
  rm -rf "$work"
  find "$base" -maxdepth 1 -name 'initramfs-*.cpio' ! -name "initramfs-$initramfs_hash.cpio" -delete
fi

rm -rf "$current.tmp" && mkdir -p "$current.tmp"
ln -s "$kernel/vmlinux" "$current.tmp/vmlinux"
ln -s "$kernel/bzImage" "$current.tmp/bzImage"
ln -s "$initramfs" "$current.tmp/initramfs.cpio"
rm -rf "$current" && mv "$current.tmp" "$current"
echo "$current"
