// Scenario -> real-VM plan: what a real kernel in QEMU can run, and the guest parameters that run it. Pure.

import { PAGE_SIZE, PAGES_FOR_IO } from '../spec/brand.ts';
import { mapLinkBit } from '../spec/model/image.ts';
import type {
  CorruptStep,
  FaultRegion,
  HibernateStep,
  Scenario,
  StorageKind,
  SwsuspAbortPoint,
  SwsuspCompression,
} from '../spec/scenario/schema.ts';
import { SWSUSP_ABORT_POINTS } from '../spec/scenario/schema.ts';
import { dmCryptKey } from './image/dmcrypt.ts';
import { pcMemoryRefusal } from './qemu/args.ts';
import { SWAPFILE_MIN_PAGES, SWAPFILE_OFFSET, swapFilePages } from './swapfile.ts';

/** Smallest guest a Debian kernel + our initramfs boots and hibernates in (96 MiB). */
export const MIN_VM_MEM_PAGES = 96 * 256;
/** Pages the guest kernel and initramfs need besides the agent's workload (64 MiB). */
export const VM_SYSTEM_PAGES = 64 * 256;

export type Support = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const no = (reason: string): Support => ({ ok: false, reason });

/** Whether a real kernel can run the scenario; the reason names the first thing it cannot. */
/**
 * The `corrupt` regions both targets alter alike: a data page (the model flips its page token, the disk the page or
 * its chunk's compressed bytes), and with a CRC over the stream a metadata page (both end in an integrity refusal).
 * A `header` flip on the model changes a swsusp_info field, on the disk a raw bit of the header page, mostly in bytes
 * the kernel never reads; a raw map or nocompress metadata page may be hit past its last entry. A map page's
 * next_swap (bits from MAP_NEXT_BIT) is the same 64-bit word on both, and on a swap partition both writers lay the
 * chain out alike (map pages at 1 + 512·k, seen on 6.1 and 6.12), so the same bit makes the same link.
 */
export const corruptReadAlike = (
  st: Pick<CorruptStep, 'region' | 'bit'>,
  compression: SwsuspCompression,
  storage: StorageKind,
): boolean =>
  st.region === 'data' ||
  (st.region === 'meta' && compression !== 'none') ||
  (st.region === 'map' && mapLinkBit(st.bit) !== undefined && storage === 'swapPartition');

/** What the model's `corrupt` step flips a bit of, per region (impl/steps.ts corruptStep). */
const CORRUPT_UNIT = {
  data: 'data page token',
  header: 'swsusp_info field',
  map: 'swap map entry',
  meta: 'PFN list entry',
} as const satisfies Record<FaultRegion, string>;

export function vmSupports(s: Scenario): Support {
  if (s.protocol.kind !== 'swsusp') return no('protocol kexec runs on the kexec-jump kernel (vm/kjump), not here');
  if (s.machine.memPages < MIN_VM_MEM_PAGES) {
    return no(`machine.memPages ${s.machine.memPages} < ${MIN_VM_MEM_PAGES} (96 MiB): too small for a real kernel`);
  }
  const mem = pcMemoryRefusal('machine.memPages', s.machine.memPages);
  if (mem !== undefined) return no(mem);
  if ((s.machine.e820 ?? []).length > 0) return no('machine.e820: QEMU firmware decides the memory map');
  const storage = storageSupport(s);
  if (!storage.ok) return storage;
  const p = s.protocol;
  if (p.interface === 'uswsusp' && p.compression !== 'none') {
    return no(`protocol.compression ${p.compression}: the agent writes a uswsusp image uncompressed (set "none")`);
  }
  if (p.pagesForIo !== undefined && p.pagesForIo !== PAGES_FOR_IO) {
    return no(`protocol.pagesForIo ${p.pagesForIo}: a real kernel's PAGES_FOR_IO is ${PAGES_FOR_IO}`);
  }
  const w = s.workload;
  if (w.dma > 0) return no('workload.dma: no device DMA model in the guest');
  const agentPages = w.anon + w.zero + w.pageCacheClean + w.pageCacheDirty;
  if (agentPages + VM_SYSTEM_PAGES > s.machine.memPages) {
    return no(`workload: ${agentPages} pages + ${VM_SYSTEM_PAGES} for the guest system exceed machine.memPages`);
  }
  for (const [i, st] of s.steps.entries()) {
    if (st.op === 'write' && st.kind !== 'anon')
      return no(`steps[${i}].kind ${st.kind}: the agent rewrites anon pages only`);
    if (st.op === 'hibernate' && st.dmaAfterStopPages !== undefined)
      return no(`steps[${i}].dmaAfterStopPages: no DMA model`);
    if (st.op === 'hibernate' && st.powerLossAfterWrite !== undefined && st.ioErrorAtWrite !== undefined) {
      return no(`steps[${i}]: powerLossAfterWrite and ioErrorAtWrite together`);
    }
    if (st.op === 'hibernate' && s.protocol.interface === 'uswsusp' && st.abortAt !== undefined) {
      return no(`steps[${i}].abortAt: abort points drive the sysfs interface only`);
    }
    if (st.op === 'resume' && st.e820Changed)
      return no(`steps[${i}].e820Changed: QEMU firmware decides the memory map`);
    if (
      st.op === 'corrupt' &&
      st.region === 'map' &&
      mapLinkBit(st.bit) !== undefined &&
      s.storage.kind !== 'swapPartition'
    ) {
      return no(
        `steps[${i}].region map, next_swap on a ${s.storage.kind}: the links there are not laid out as the model's slots, so the same bit makes another link`,
      );
    }
    if (st.op === 'corrupt' && !corruptReadAlike(st, p.compression, s.storage.kind)) {
      return no(
        `steps[${i}].region ${st.region}: the model flips a bit of one ${CORRUPT_UNIT[st.region]}, the disk bit ${st.bit} of a 4 KiB page (vm/image/corrupt.ts): different faults, so no differential`,
      );
    }
    if (st.op === 'resume' && st.memPages !== undefined && st.memPages < MIN_VM_MEM_PAGES) {
      return no(`steps[${i}].memPages ${st.memPages} < ${MIN_VM_MEM_PAGES}`);
    }
    const resumeMem = st.op === 'resume' ? pcMemoryRefusal(`steps[${i}].memPages`, st.memPages ?? 0) : undefined;
    if (resumeMem !== undefined) return no(resumeMem);
  }
  return { ok: true };
}

/**
 * The storage targets the runner builds: a swap partition (header at page 0), a swap file on ext4 (swapfile.ts) and a
 * plain dm-crypt volume over the disk (image/dmcrypt.ts).
 */
export function storageSupport(s: Scenario): Support {
  const st = s.storage;
  switch (st.kind) {
    case 'swapPartition':
      return st.offset === 0 ? { ok: true } : no('storage.offset: a swap partition has its header at page 0');
    case 'swapFile': {
      if (st.offset !== SWAPFILE_OFFSET) {
        return no(
          `storage.offset ${st.offset}: the guest's filesystem puts the swap file's header at page ${SWAPFILE_OFFSET} (its first free block; vm/swapfile.ts)`,
        );
      }
      if (swapFilePages(st) < SWAPFILE_MIN_PAGES) {
        return no(`storage.pages ${st.pages}: a swap file needs ${SWAPFILE_MIN_PAGES} pages after the offset`);
      }
      const i = s.steps.findIndex((x) => x.op === 'bootNoresume' && x.writeStoragePages > 0);
      if (i >= 0) {
        return no(
          `steps[${i}].writeStoragePages: the model writes the device's first pages, which on a swap file are the filesystem's`,
        );
      }
      return { ok: true };
    }
    case 'dmCrypt': {
      if (st.offset !== 0)
        return no('storage.offset: the dm-crypt volume is the whole swap area, its header at page 0');
      // the host reads the disk through its own decryption, but flips bits and counts page writes on the raw disk
      const i = s.steps.findIndex((x) => x.op === 'corrupt' || (x.op === 'hibernate' && hasHostWriteFault(x)));
      if (i >= 0) {
        return no(
          `steps[${i}]: corrupt and the NBD write faults act on the raw disk, under dm-crypt's ciphertext and its reordered writes (not modelled for dmCrypt)`,
        );
      }
      return { ok: true };
    }
    case 'fuseFile': {
      if (st.offset !== 0) return no('storage.offset: the FUSE file (hibfused) is the image file itself, from page 0');
      // sysfs runs as written: the kernel refuses swapon on the FUSE file (the fuse event says so), and `echo disk`
      // then finds no swap device, which is the outcome the model predicts (impl/power/hibernate.ts)
      const i = s.steps.findIndex(
        (x) => x.op === 'corrupt' || x.op === 'bootNoresume' || (x.op === 'hibernate' && hasHostWriteFault(x)),
      );
      if (i >= 0)
        return no(
          `steps[${i}]: the FUSE target runs one hibernation into its file (no faults, corrupt or noresume boots)`,
        );
      return { ok: true };
    }
  }
}

const hasHostWriteFault = (st: HibernateStep): boolean =>
  st.ioErrorAtWrite !== undefined || st.powerLossAfterWrite !== undefined || st.ioErrorAfterSignature === true;

/** The dm-crypt key word of one boot (init.sh hibfuzz.dmkey): the scenario's key, another one, or none at resume. */
export function dmKeyWord(s: Scenario, role: BootRole): string[] {
  if (s.storage.kind !== 'dmCrypt') return [];
  const at = role === 'resume' ? s.storage.keyAtResume : 'same';
  if (at === 'missing') return ['hibfuzz.dmkey=none'];
  return [`hibfuzz.dmkey=${dmCryptKey(s.id, s.seed, at === 'same' ? 'right' : 'wrong').toString('hex')}`];
}

/** FNV-1a 32-bit of the scenario id: the tag every agent page carries. */
export function scenarioIdHash(id: string): number {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(id, 'utf8')) {
    h ^= c;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export const memMiB = (pages: number): number => Math.ceil(pages / 256);

const PM_TEST_LEVELS: Readonly<Record<Exclude<SwsuspAbortPoint, 'testResume'>, string>> = {
  core: 'core',
  devices: 'devices',
  freezer: 'freezer',
  platform: 'platform',
  processors: 'processors',
};

/** Agent op for one hibernate step (agent.c: h, hp<level>, ht, hu). */
export function hibernateOp(st: HibernateStep, iface: 'sysfs' | 'uswsusp'): string {
  if (iface === 'uswsusp') return 'hu';
  if (st.abortAt === undefined) return 'h';
  if (st.abortAt === 'testResume') return 'ht';
  if ((SWSUSP_ABORT_POINTS as readonly string[]).includes(st.abortAt)) {
    return `hp${PM_TEST_LEVELS[st.abortAt as Exclude<SwsuspAbortPoint, 'testResume'>]}`;
  }
  throw new Error(`hibernateOp: ${st.abortAt} is not a swsusp abort point`);
}

/** The agent program: write and hibernate steps in order, each hibernate followed by a verify (v). */
export function agentProgram(s: Scenario): string {
  const iface = s.protocol.kind === 'swsusp' ? s.protocol.interface : 'sysfs';
  const ops: string[] = [];
  for (const st of s.steps) {
    if (st.op === 'write') ops.push(`w${st.pages}`);
    if (st.op === 'hibernate') ops.push(hibernateOp(st, iface), 'v');
  }
  return ops.join(',');
}

export const BOOT_ROLES = ['first', 'noresume', 'resume'] as const;
export type BootRole = (typeof BOOT_ROLES)[number];

/** The agent's per-scenario parameters (hibfuzz.* words): on the kernel command line, or typed after a restore. */
export function agentWords(s: Scenario): string[] {
  const w = s.workload;
  return [
    `hibfuzz.id=0x${scenarioIdHash(s.id).toString(16)}`,
    `hibfuzz.seed=${s.seed}`,
    `hibfuzz.anon=${w.anon}`,
    `hibfuzz.zero=${w.zero}`,
    `hibfuzz.pc=${w.pageCacheClean + w.pageCacheDirty}`,
    `hibfuzz.prog=${agentProgram(s)}`,
    ...(s.protocol.kind === 'swsusp' && s.protocol.imageSizePages !== undefined
      ? [`hibfuzz.imagesize=${s.protocol.imageSizePages * PAGE_SIZE}`]
      : []),
  ];
}

/**
 * Kernel command line of one boot. With `wait`, the first and resume boots stop for one console line (snapshot
 * point, vm/fast.ts) and the first boot's agent words are left out (they are typed after the restore).
 */
export function kernelCmdline(
  s: Scenario,
  role: BootRole,
  opts: { noresumeWritePages?: number; wait?: boolean } = {},
): string[] {
  // no_timer_check: under TCG on a loaded host the IO-APIC timer check can time out and panic ("IO-APIC + timer
  // doesn't work!", seen in a campaign): the host's slowness, not the kernel's behaviour under test
  // sysrq_always_enabled: a hang ends with a task dump (vm/boot.ts sends sysrq-t at the timeout), which Debian's
  // kernel.sysrq=438 would leave off from the first instruction to init
  const words = [
    'console=ttyS0',
    'panic=-1',
    'ignore_loglevel',
    'no_console_suspend',
    'oops=panic',
    'no_timer_check',
    'sysrq_always_enabled',
  ];
  // a swap file: its header's page (resume_offset, every boot) and, at the first boot, its size (init.sh makes it)
  const file = s.storage.kind === 'swapFile';
  if (file) words.push(`hibfuzz.resumeoffset=${s.storage.offset}`);
  words.push(...dmKeyWord(s, role));
  // the FUSE target: hibfused serves the disk as one file (init.sh), the agent's uswsusp writes its image into it
  if (s.storage.kind === 'fuseFile' && role === 'first') words.push(`hibfuzz.fuse=${s.storage.pages}`);
  if (role === 'first') {
    if (s.protocol.kind === 'swsusp' && s.protocol.compression === 'none') words.push('hibernate=nocompress');
    // lz4 is a module in Debian's kernels: init loads it, then selects it (/sys/module/hibernate/parameters/
    // compressor, 6.9+; a 6.1 kernel has no such parameter and keeps LZO, as the model's 6.1 profile predicts)
    if (s.protocol.kind === 'swsusp' && s.protocol.compression === 'lz4') words.push('hibfuzz.compressor=lz4');
    if (file) words.push(`hibfuzz.swapfile=${swapFilePages(s.storage)}`);
    words.push('hibfuzz.boot=first');
    if (opts.wait === true) words.push('hibfuzz.wait=1');
    else words.push(...agentWords(s));
  } else if (role === 'resume') {
    words.push('hibfuzz.boot=resume');
    if (opts.wait === true) words.push('hibfuzz.wait=1');
  } else {
    words.push('noresume', 'hibfuzz.boot=noresume', `hibfuzz.wpages=${opts.noresumeWritePages ?? 0}`);
  }
  return words;
}

/** Kernel line for a resume step's kernel override. */
export const debianLineOf = (k: '6.1' | '6.12'): string => `debian-${k}`;
