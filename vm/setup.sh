#!/usr/bin/env bash
# Real-kernel runner setup: installs the host tools vm/ needs (QEMU, busybox, musl, kexec-tools, cpio, kmod). Idempotent.
#
# Exit codes: 0 all present (or installed), 2 something is missing and we are not root (one line on stderr),
# 1 apt-get failed.
set -euo pipefail

# package -> a file it ships that proves it is installed (dpkg status alone can say "unpacked" on images built with
# dpkg --unpack; what vm/ needs is the file).
declare -A PROBE=(
  [qemu-system-x86]=/usr/bin/qemu-system-x86_64
  [qemu-utils]=/usr/bin/qemu-img
  [busybox-static]=/bin/busybox
  [musl-tools]=/usr/bin/musl-gcc
  [kexec-tools]=/sbin/kexec
  [cpio]=/usr/bin/cpio
  [kmod]=/sbin/depmod
  [gzip]=/bin/gzip
  [util-linux]=/sbin/mkswap
  [gcc]=/usr/bin/gcc
  [xz-utils]=/usr/bin/xz
  # The real consumers tests check hibfuzz's formats and codecs against (fuzz/junit, spec/scenario, vm/image).
  [libxml2-utils]=/usr/bin/xmllint
  [python3-junitparser]=/usr/lib/python3/dist-packages/junitparser/__init__.py
  [python3-jsonschema]=/usr/lib/python3/dist-packages/jsonschema/__init__.py
  [lz4]=/usr/bin/lz4
  [python3-lzo]=/usr/share/doc/python3-lzo/copyright
  [python3-lz4]=/usr/lib/python3/dist-packages/lz4/__init__.py
  [python3-yaml]=/usr/lib/python3/dist-packages/yaml/__init__.py
  # The browser fuzz/explain-html.test.ts opens `explain --html` and `--svg` in (through playwright-core).
  [chromium]=/usr/bin/chromium
)

missing=()
for pkg in "${!PROBE[@]}"; do
  [[ -e "${PROBE[$pkg]}" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "vm/setup.sh: missing packages (${missing[*]}); run as root: sudo vm/setup.sh" >&2
  exit 2
fi

export DEBIAN_FRONTEND=noninteractive
echo "vm/setup.sh: installing ${missing[*]}" >&2
apt-get -o DPkg::Lock::Timeout=600 update -qq || exit 1
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || exit 1

for pkg in "${missing[@]}"; do
  if [[ ! -e "${PROBE[$pkg]}" ]]; then
    echo "vm/setup.sh: $pkg installed but ${PROBE[$pkg]} is still missing" >&2
    exit 1
  fi
done
