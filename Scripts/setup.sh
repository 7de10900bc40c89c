#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, only when one is missing.
# Safe to run again; needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(libfdt-dev device-tree-compiler pkg-config make gcc libc6-dev acpica-tools perl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: swift is not on PATH (the Swift 6 toolchain is needed)" >&2; exit 1; }
