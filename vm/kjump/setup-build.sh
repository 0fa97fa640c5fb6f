#!/usr/bin/env bash
# kjump setup: host packages to build the kexec-jump kernel (Debian linux-source-6.12) and its static guest helper,
# to read a swap-file target on the host (e2fsprogs: debugfs),
# and to run it (kexec-tools, busybox, QEMU). Idempotent. Exit 0 present/installed, 2 missing and not root, 1 apt failed.
set -euo pipefail
declare -A PROBE=(
  [linux-source-6.12]=/usr/src/linux-source-6.12.tar.xz
  [linux-source-6.1]=/usr/src/linux-source-6.1.tar.xz
  [bc]=/usr/bin/bc
  [bison]=/usr/bin/bison
  [flex]=/usr/bin/flex
  [libelf-dev]=/usr/include/libelf.h
  [libssl-dev]=/usr/include/openssl/ssl.h
  [cpio]=/usr/bin/cpio
  [gcc]=/usr/bin/gcc
  [make]=/usr/bin/make
  [libc6-dev]=/usr/lib/x86_64-linux-gnu/libc.a
  [patch]=/usr/bin/patch
  [xz-utils]=/usr/bin/xz
  [e2fsprogs]=/usr/sbin/debugfs
  [kexec-tools]=/sbin/kexec
  [busybox-static]=/bin/busybox
  [qemu-system-x86]=/usr/bin/qemu-system-x86_64
)
missing=()
for pkg in "${!PROBE[@]}"; do [[ -e "${PROBE[$pkg]}" ]] || missing+=("$pkg"); done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "vm/kjump/setup-build.sh: missing packages (${missing[*]}); run as root" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq || exit 1
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || exit 1
for pkg in "${missing[@]}"; do
  [[ -e "${PROBE[$pkg]}" ]] || { echo "vm/kjump/setup-build.sh: $pkg installed but ${PROBE[$pkg]} missing" >&2; exit 1; }
done
