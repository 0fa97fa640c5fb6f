#!/bin/busybox sh
# Initramfs /init of the guest (busybox sh): mounts, loads modules (modules.order), then per hibfuzz.boot=:
#   first     mkswap + swapon the swap disk, set the resume device (finds no image), run the agent; with
#             hibfuzz.swapfile=PAGES: an ext2 filesystem on the disk (ext4 driver, /modules-fs), a swap file of PAGES
#             pages on it as its first file (the agent writes it and reports its extents), mkswap + swapon that
#             with hibfuzz.fuse=PAGES: hibfused serves a file of PAGES pages of the disk at /mnt/fuse/image, swapon
#             is tried on it (reported), the agent's uswsusp writes its image there
#   (every boot) hibfuzz.dmkey=HEX|none: the swap disk through dm-crypt (/dev/dm-0), or no key at this boot
#   (every boot) hibfuzz.resumeoffset=PAGE goes to /sys/power/resume_offset before the device goes to /sys/power/resume
#   resume    write maj:min to /sys/power/resume: on success the image's agent continues and this init is gone
#   noresume  (booted with `noresume`) with hibfuzz.wpages=N > 0: mkswap, overwrite N pages of the swap area; power off
# With hibfuzz.wait=1 the first and resume boots stop at a `waiting` event and read one line from the console first:
# the host snapshots the VM there (QEMU migration) and later restores it and sends the line (vm/fast.ts). For the
# first boot the line holds the agent's hibfuzz.* parameters.
# Every result is one line `HIBFUZZ {json}` on stdout: the agent channel ttyS1 when the kernel has that port (no
# kernel message is written into it, vm/qemu/args.ts), else the console. The host's lines go on reading the console.
/bin/busybox mkdir -p /proc /sys /dev /tmp /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
if : 2>/dev/null >/dev/ttyS1; then stty -F /dev/ttyS1 raw 2>/dev/null; exec >/dev/ttyS1; fi
# every event out of the UART (busybox stty sets the mode with TCSADRAIN) before this kernel goes away
drain() { stty -F /dev/ttyS1 raw 2>/dev/null || :; }
for m in $(cat /modules.order); do insmod "/modules/$m" || echo "HIBFUZZ {\"ev\":\"error\",\"what\":\"insmod $m\"}"; done

arg() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
BOOT=$(arg hibfuzz.boot)
SWAP=$(arg hibfuzz.swapdev); SWAP=${SWAP:-/dev/vda}
BLK=${SWAP#/dev/}
i=0; while [ ! -e "/sys/block/$BLK/dev" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
DEV=$(cat "/sys/block/$BLK/dev" 2>/dev/null)
OFF=$(arg hibfuzz.resumeoffset)
# the swap header's page on the device (a swap file's resume_offset), before the device: writing it starts a resume
setdev() {
  if [ -n "$OFF" ]; then echo "$OFF" > /sys/power/resume_offset || echo "HIBFUZZ {\"ev\":\"error\",\"what\":\"resume_offset\"}"; fi
  [ -z "$DEV" ] || echo "$DEV" > /sys/power/resume
}
# the storage target's drivers (initramfs.ts: ext4, fuse or dm-crypt), loaded once; their files are freed after
fsmods() {
  [ -d /modules-fs ] || return 0
  for m in $(cat /modules-fs.order); do insmod "/modules-fs/$m" || return 1; done
  rm -rf /modules-fs
}
# hibfuzz.dmkey=HEX (every boot of a dmCrypt scenario, vm/dmcrypt.ts): the swap disk through a plain dm-crypt mapping
# with that key (the agent's DM ioctls: /dev/dm-0); hibfuzz.dmkey=none: no key at this boot, the init does not touch
# the device and says so (a resume without the key is refused here, as a distribution's initramfs would)
DMKEY=$(arg hibfuzz.dmkey)
AGENTDEV=""
if [ -n "$DMKEY" ]; then
  fsmods || echo "HIBFUZZ {\"ev\":\"error\",\"what\":\"insmod dm-crypt\"}"
  # the raw disk is never used instead of the mapping: without it there is no swap and no resume device
  if [ "$DMKEY" = none ]; then DEV=""; SWAP=/dev/hibfuzz-no-dm-crypt-key
  elif /agent --dmcrypt "$SWAP" "$DMKEY"; then
    SWAP=/dev/dm-0; DEV=$(cat /sys/block/dm-0/dev); AGENTDEV=hibfuzz.swapdev=/dev/dm-0
  else DEV=""; SWAP=/dev/hibfuzz-no-dm-crypt-mapping; echo "HIBFUZZ {\"ev\":\"error\",\"what\":\"dmcrypt\"}"; fi
fi
# hibfuzz.fuse=PAGES (first boot of a fuseFile scenario): the FUSE target. hibfused serves /mnt/fuse/image, PAGES pages
# of the swap disk; mkswap + swapon on it (the swsusp side: what the kernel says is reported in a fuse event); the
# agent's uswsusp writes its image into the file (hibfuzz.imagefile). sysrq on: the host asks for every task's state
# (sysrq-t) when the writer stops making progress (vm/boot.ts)
fuse() {
  fsmods || return 1
  echo 1 > /proc/sys/kernel/sysrq
  mkdir -p /mnt/fuse
  /hibfused "$SWAP" 0 $(($1 * 4096)) /mnt/fuse image || return 1
  mkswap /mnt/fuse/image >/dev/null 2>&1 || return 1
  R=$(swapon /mnt/fuse/image 2>&1 | tr -d '"\\' | tr '\n' ' ')
  if grep -q /mnt/fuse/image /proc/swaps; then R=ok; swapoff /mnt/fuse/image; fi
  echo "HIBFUZZ {\"ev\":\"fuse\",\"file\":\"/mnt/fuse/image\",\"swapon\":\"$R\"}"
  AGENTDEV=hibfuzz.imagefile=/mnt/fuse/image
}
# hibfuzz.swapfile=PAGES: the filesystem (vm/swapfile.ts: its first free block is the header page), the swap file
# as its first file, swapon; its clean page cache dropped (the image holds the agent's and the guest's own memory)
swapfile() {
  fsmods || return 1
  mkdir -p /mnt
  mke2fs -q -b 4096 -m 0 -i 67108864 "$SWAP" >/dev/null 2>&1 || return 1
  mount -t ext4 -o noatime,nodelalloc "$SWAP" /mnt || return 1
  /agent --swapfile /mnt/swap "$1" "${OFF:-0}" || return 1
  mkswap /mnt/swap >/dev/null && sync && swapon /mnt/swap || return 1
  echo 3 > /proc/sys/vm/drop_caches
}
echo "HIBFUZZ {\"ev\":\"init\",\"boot\":\"$BOOT\",\"dev\":\"$DEV\"}"

case "$BOOT" in
first)
  C=$(arg hibfuzz.compressor)
  if [ -n "$C" ]; then
    P=/sys/module/hibernate/parameters/compressor
    if [ -e $P ] && echo "$C" > $P; then echo "HIBFUZZ {\"ev\":\"compressor\",\"name\":\"$(cat $P)\"}"
    else echo "HIBFUZZ {\"ev\":\"compressor\",\"name\":\"lzo\",\"unsupported\":\"$C\"}"; fi
  fi
  SWF=$(arg hibfuzz.swapfile)
  FUSE=$(arg hibfuzz.fuse)
  if [ -n "$SWF" ]; then swapfile "$SWF" || echo "HIBFUZZ {\"ev\":\"error\",\"what\":\"swapfile\"}"
  elif [ -n "$FUSE" ]; then
    # no FUSE file: the agent's writer gets a path that does not exist, never the raw disk (the host refuses the run)
    fuse "$FUSE" || { echo "HIBFUZZ {\"ev\":\"error\",\"what\":\"fuse\"}"; AGENTDEV=hibfuzz.imagefile=/mnt/no-fuse-file; }
  else mkswap "$SWAP" >/dev/null && swapon "$SWAP" || echo "HIBFUZZ {\"ev\":\"error\",\"what\":\"swapon\"}"; fi
  setdev
  LINE=""
  if [ "$(arg hibfuzz.wait)" = 1 ]; then echo "HIBFUZZ {\"ev\":\"waiting\"}"; read -r LINE; fi
  # shellcheck disable=SC2086 # LINE is a list of hibfuzz.key=value words
  exec /agent $LINE $AGENTDEV
  ;;
resume)
  if [ "$(arg hibfuzz.wait)" = 1 ]; then echo "HIBFUZZ {\"ev\":\"waiting\"}"; read -r LINE; fi
  if [ "$DMKEY" = none ]; then echo "HIBFUZZ {\"ev\":\"keyUnavailable\"}"
  else
    echo "HIBFUZZ {\"ev\":\"resuming\"}"
    drain
    setdev
  fi
  echo "HIBFUZZ {\"ev\":\"resumeReturned\"}"
  ;;
noresume)
  N=$(arg hibfuzz.wpages); N=${N:-0}
  # the new system takes the swap area as a distribution would (util-linux swapon reinitializes a swsusp signature:
  # mkswap), then writes pages into it; the model's bootNoresume step does the same (impl/steps.ts)
  if [ "$N" -gt 0 ]; then
    mkswap "$SWAP" >/dev/null
    dd if=/dev/urandom of="$SWAP" bs=4096 seek=1 count="$N" conv=notrunc,fsync 2>/dev/null
  fi
  SIG=$(dd if="$SWAP" bs=4096 skip="${OFF:-0}" count=1 2>/dev/null | dd bs=1 skip=4086 count=10 2>/dev/null | tr -d '\000')
  echo "HIBFUZZ {\"ev\":\"noresumeDone\",\"wrote\":$N,\"sig\":\"$SIG\"}"
  ;;
*)
  echo "HIBFUZZ {\"ev\":\"error\",\"what\":\"unknown hibfuzz.boot\"}"
  ;;
esac
drain
sync
poweroff -f
