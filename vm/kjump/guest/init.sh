#!/bin/busybox sh
# kjump guest /init for all three roles: a (original kernel), b (save kernel, kexec'd with preserve-context), c (cold-boot restore).
# Every result is one "HIBFUZZ {json}" line on stdout, the agent channel ttyS1 when the kernel has that port (no kernel
# message shares it, vm/qemu/args.ts), else the console; the host (vm/kjump/run.ts) timestamps them on arrival.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /tmp && mount -t tmpfs tmp /tmp
if : 2>/dev/null >/dev/ttyS1; then stty -F /dev/ttyS1 raw 2>/dev/null; exec >/dev/ttyS1; fi
# every event out of the UART (busybox stty sets the mode with TCSADRAIN) before a jump or a power-off
drain() { stty -F /dev/ttyS1 raw 2>/dev/null || :; }
arg() { v=$2; for w in $(cat /proc/cmdline); do case "$w" in "$1"=*) v="${w#*=}" ;; esac; done; echo "$v"; }
ev() { echo "HIBFUZZ {\"ev\":\"$1\",\"up\":$(cut -d' ' -f1 /proc/uptime)$2}"; drain; }
halt_now() { ev "$1-halt"; sync; poweroff -f; sleep 5; echo o >/proc/sysrq-trigger; }
role=$(arg hibkj.role a)
disk=$(arg hibkj.dev /dev/vda)
dev=$disk
# The storage target (vm/kjump/target.ts): raw = the disk; file = /mnt/hibkj.img on an ext4 filesystem A makes and
# keeps mounted, B and C write and read its extents through a device-mapper table (hibkj target file); crypt = a
# plain dm-crypt volume over the disk, the key on the command line; fuse = /mnt/image served by hibfused. Sets dev; a target that cannot be set up is one
# target-failed event and a power-off (the host reports it as its own trouble, never as a kernel finding).
target=$(arg hibkj.target raw)
tpages=$(arg hibkj.tpages 0)
tfail() { echo "HIBFUZZ {\"ev\":\"target-failed\",\"why\":\"$1\"}"; drain; halt_now "$role"; }
open_target() {
  case "$target" in
  raw) ;;
  file)
    mkdir -p /mnt
    if [ "$role" = a ]; then
      # the swsusp runner's filesystem (vm/guest/init.sh): a block per page, nothing reserved, few inodes
      mke2fs -q -b 4096 -m 0 -i 67108864 "$disk" >/dev/null 2>&1 || tfail "mke2fs $disk failed"
      mount -t ext4 -o noatime,nodelalloc "$disk" /mnt || tfail "mount $disk (ext4) failed"
      # hibkj.tshort=N (a fault of the runner's tests): the file is N pages short of the container
      dd if=/dev/zero of=/mnt/hibkj.img bs=4096 count=$((tpages - $(arg hibkj.tshort 0))) 2>/dev/null ||
        tfail "writing /mnt/hibkj.img failed"
      sync
      # the file's clean page cache (dd's zeros, most of a small guest's RAM) is not the scenario's memory: dropped,
      # as the swsusp runner does. Left, it starved kexec_load's control-page allocation (GFP_KERNEL|__GFP_NORETRY:
      # "Could not allocate control_code_buffer", ENOMEM in load) once in the make test-vm run of 2026-12-02
      echo 3 >/proc/sys/vm/drop_caches
      dev=/mnt/hibkj.img
    else
      mount -t ext4 -o ro "$disk" /mnt || tfail "mount $disk (ext4) read-only failed: no filesystem of A"
      hibkj target file "$disk" /mnt /mnt/hibkj.img "$tpages" || halt_now "$role"
      dev=/dev/hibkj-target
    fi
    ;;
  crypt)
    key=$(arg hibkj.key "")
    if [ -z "$key" ]; then
      [ "$role" = c ] || tfail "no hibkj.key for the dm-crypt volume"
      # the restore environment cannot unlock the volume: the resume is refused, A's image stays
      echo 'HIBFUZZ {"ev":"c-refused","reason":"keyUnavailable"}'
      drain
      halt_now c
    fi
    hibkj target crypt "$disk" "$key" || halt_now "$role"
    dev=/dev/hibkj-target
    ;;
  fuse)
    # every role runs its own server over the same backing range (A's is frozen while B or C runs)
    mkdir -p /mnt
    hibfused "$disk" 0 $((tpages * 4096)) /mnt image || tfail "hibfused could not serve $disk on /mnt"
    grep -q "^hibfused /mnt fuse.hibfused " /proc/mounts || tfail "/mnt is not a hibfused mount"
    dev=/mnt/image
    ev target ",\"kind\":\"fuse\",\"pages\":$(($(stat -c %s /mnt/image) / 4096)),\"pid\":$(pidof hibfused)"
    ;;
  *) tfail "unknown hibkj.target $target" ;;
  esac
}
case "$role" in
a)
  ev a-init ",\"cpus\":$(grep -c ^processor /proc/cpuinfo),\"kexecLoaded\":$(cat /sys/kernel/kexec_loaded)"
  pages=$(arg hibkj.pages 4096); seed=$(arg hibkj.seed 1); gen=$(arg hibkj.gen 1); full=$(arg hibkj.full 0)
  memmax=$(arg hibkj.memmax 0x4ffffff)
  open_target
  hibkj hold "$pages" "$seed" "$gen" "$full" "$memmax" /tmp/ready "$dev" "$(arg hibkj.zeropages 0)" &
  hold=$!
  while [ ! -s /tmp/ready ]; do
    kill -0 $hold 2>/dev/null || { ev a-hold-failed; halt_now a; }
    usleep 20000
  done
  list=$(cat /tmp/ready)
  fwd=""
  for w in $(cat /proc/cmdline); do case "$w" in hibkj.role=*|hibkj.pages=*) ;; hibkj.*) fwd="$fwd $w" ;; esac; done
  bextra=$(arg hibkj.bextra "")
  ev a-load
  # hibkj.kexecdebug=-d: kexec-tools prints the segments just before the kexec_load syscall (splits user vs kernel time)
  kexec $(arg hibkj.kexecdebug "") -i --pass-memmap-cmdline --load-preserve-context --mem-min=0x1000 --mem-max="$memmax" \
    --initrd=/boot/initrd-b.gz \
    --append="console=ttyS0 panic=-1 $(echo "$bextra" | tr , ' ') hibkj.role=b hibkj.list=$list $fwd" /boot/bzImage
  rc=$?
  ev a-loaded ",\"rc\":$rc,\"kexecLoaded\":$(cat /sys/kernel/kexec_loaded)"
  if [ $rc != 0 ]; then
    # The load was refused (e.g. B's region too small): A carries on, and must have lost nothing.
    kill -USR1 $hold
    wait $hold
    halt_now a
  fi
  ev a-jump
  kexec -e
  rc=$?
  # A runs again here: after B's jump back (kexec -e returns 255) or after a cold-boot restore.
  ev a-back ",\"rc\":$rc"
  kill -USR1 $hold
  wait $hold
  # A read its file through the page cache (dd's zeros): B or C wrote the blocks behind it
  [ "$target" = raw ] || echo 3 >/proc/sys/vm/drop_caches
  hibkj diskinfo "$dev" stale
  ev a-done ",\"cpus\":$(cat /sys/devices/system/cpu/online | tr -d '\n' | sed 's/^/"/;s/$/"/')"
  halt_now a
  ;;
b)
  ev b-init ",\"cpus\":$(grep -c ^processor /proc/cpuinfo)"
  open_target
  hibkj save "$dev"
  rc=$?
  ev b-save-rc ",\"rc\":$rc"
  mode=$(arg hibkj.mode abort)
  if [ "$mode" = poweroff ] && [ $rc = 0 ]; then halt_now b; fi
  jb=$(arg kexec_jump_back_entry "")
  if [ "$(arg hibkj.helper own)" = stock ]; then
    kexec --load-jump-back-helper --entry="$jb"
    rc=$?
    ev b-helper-loaded ",\"rc\":$rc,\"kexecLoaded\":$(cat /sys/kernel/kexec_loaded)"
    [ $rc = 0 ] || { dmesg | tail -40; halt_now b; }
    ev jump
    kexec -e
    ev b-jump-failed ",\"rc\":$?"
  else
    hibkj jumpback "$jb" go $(arg hibkj.jbseg "")
    ev b-jump-failed ",\"rc\":$?"
  fi
  halt_now b
  ;;
c)
  ev c-init ",\"cpus\":$(grep -c ^processor /proc/cpuinfo)"
  open_target
  hibkj restore "$dev" "$(arg hibkj.restore jump)"
  ev c-restore-failed ",\"rc\":$?"
  halt_now c
  ;;
esac
