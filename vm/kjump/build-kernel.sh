#!/bin/bash
# kjump kernel builder (driven by build.ts): pristine source tree + patches + config.fragment -> bzImage in OUT.
# Usage: build-kernel.sh SRC_TREE OBJ_DIR FRAGMENT OUT_DIR [PATCH...]
# Patches are applied before the build and reverted after it, so SRC_TREE stays pristine for the next key.
set -euo pipefail
src=$1 obj=$2 frag=$3 out=$4
shift 4
mkdir -p "$obj" "$out"
applied=()
revert() {
  local i
  for ((i = ${#applied[@]} - 1; i >= 0; i--)); do patch -d "$src" -p1 -R -s <"${applied[$i]}" || true; done
}
trap revert EXIT
for p in "$@"; do
  patch -d "$src" -p1 -s --dry-run <"$p" >/dev/null || { echo "patch does not apply: $p" >&2; exit 3; }
  patch -d "$src" -p1 -s <"$p"
  applied+=("$p")
done
make -s -C "$src" O="$obj" ARCH=x86_64 tinyconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -O "$obj" -m "$obj/.config" "$frag" >/dev/null
make -s -C "$src" O="$obj" ARCH=x86_64 olddefconfig >/dev/null
# Every fragment line must be in .config verbatim ("=y" lines and "is not set" lines alike).
missing=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*) grep -qxF "$line" "$obj/.config" || { echo "config symbol did not land: $line" >&2; missing=1; } ;;
    "# CONFIG_"*" is not set")
      sym=${line#\# }; sym=${sym%% *}
      if grep -q "^$sym=" "$obj/.config"; then echo "config symbol should be unset: $sym" >&2; missing=1; fi ;;
  esac
done <"$frag"
[ "$missing" = 0 ] || exit 4
make -s -C "$src" O="$obj" ARCH=x86_64 -j"${HIBFUZZ_JOBS:-2}" bzImage
cp "$obj/arch/x86/boot/bzImage" "$out/bzImage.tmp"
cp "$obj/.config" "$out/config"
mv "$out/bzImage.tmp" "$out/bzImage"
