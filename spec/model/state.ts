// The abstract machine state: physical memory as typed arrays (one token, one owner tag, one kind per frame; never
// an object per page), the storage device, and the record a run leaves for the invariant checkers.
//
// Phases (kexec protocol, the 2007 proposal):
//   running → loaded (save kernel + cmdline + initrd in memory) → stopped (devices quiesced, page list prepared)
//   → jumped (save kernel runs, confined to its region) → written (image durable, header signed)
//   → poweredOff | aborted (jump back: pages already in place) ;  resume: booted (loader kernel) → checked
//   (header verified, signature reset) → loaded (pages in place or in safe frames) → copied (final copy) → running.
// Phases (swsusp): running → frozen → preallocated → snapshot (atomic copy) → thawed → written → signed → poweredOff.
//
// Frame ownership per phase (who may write which frames):
//   running:  original kernel (ORIG) writes ORIG and FREE frames; nobody writes NOSAVE frames.
//   jumped:   the save kernel writes only frames of its region (SAVEK).
//   loading:  the loader writes only frames it allocated: in-place destinations or SAFE frames.
//   copied:   the final copy writes only image destinations; it reads only SAFE frames.

// keep-sorted start
/** Frame owner tags (Uint8Array values). */
export const OWNER = {
  FREE: 0,
  ORIG: 1,
  NOSAVE: 2,
  SAVEK: 3,
  LOADER: 4,
  STAGING: 5,
  HIB: 6,
  SAFE: 7,
} as const;
// keep-sorted end
export type Owner = (typeof OWNER)[keyof typeof OWNER];

/** Frame content kinds (Uint8Array values): what the original system uses the frame for. */
export const KIND = {
  FREE: 0,
  ANON: 1,
  ZERO: 2,
  PC_CLEAN: 3,
  PC_DIRTY: 4,
  SLAB: 5,
  TEXT: 6,
  DMA: 7,
  HOLE: 8,
} as const;
export type Kind = (typeof KIND)[keyof typeof KIND];

/** Kinds the guest agent owns and verifies after resume (user space); kernel kinds are checked by the invariants. */
export function isAgentKind(k: number): boolean {
  return k === KIND.ANON || k === KIND.ZERO || k === KIND.PC_CLEAN || k === KIND.PC_DIRTY;
}

/** Content token of an all-zero page. Every other token is a non-zero 32-bit value. */
export const ZERO_TOKEN = 0;

/** Physical memory: frame i is (content[i], owner[i], kind[i]). */
export interface Memory {
  readonly nr: number;
  readonly content: Uint32Array;
  readonly owner: Uint8Array;
  readonly kind: Uint8Array;
}

export function cloneMemory(m: Memory): Memory {
  return { nr: m.nr, content: m.content.slice(), owner: m.owner.slice(), kind: m.kind.slice() };
}

// ---- storage -------------------------------------------------------------------------------------------------

/** What a storage page holds, when it is not a data page (whose content is a token in `tok`). */
export const SLOT = {
  EMPTY: 0,
  SWAP_HEADER: 1,
  MAP: 2,
  INFO: 3,
  META: 4,
  DATA: 5,
  OTHER: 6,
} as const;
export type SlotKind = (typeof SLOT)[keyof typeof SLOT];

export const SIG = { SWAPSPACE2: 'SWAPSPACE2', S1SUSPEND: 'S1SUSPEND', KEXECHIB: 'KEXECHIB', NONE: '' } as const;
export type Sig = (typeof SIG)[keyof typeof SIG];

/** The header page (struct swsusp_header overlaying the swap header). */
export interface SwapHeader {
  sig: string;
  origSig: string;
  /** page index of the first swap map page */
  image: number;
  flags: number;
  crc32: number;
  /** storage epoch when the image was made (kexec protocol only; swsusp has no such field) */
  epoch: number;
}

/** struct swsusp_info: the first stream page. Fields are numbers so a bit flip can hit them. */
export interface SwsuspInfo {
  numPhyspages: number;
  /** image kernel identity (profile name hashed to a number; utsname/version_code) */
  kernelId: number;
  imagePages: number;
  pages: number;
  e820Checksum: number;
  /** kexec protocol: id of the hibernation that made the image; lets the checker relate image and run */
  imageId: number;
}

/** One swap map page: up to MAP_PAGE_ENTRIES page indices and the next map page (0 ends the chain). */
export interface MapPage {
  entries: Uint32Array;
  count: number;
  next: number;
}

/** PFN-list entry encoding: low 31 bits PFN, bit 31 = "zero page, no data page follows" (the kernel's bit 63). */
export const PFN_ZERO_FLAG = 0x80000000;
export const PFN_END = 0xffffffff;

export interface BlockDevice {
  readonly nr: number;
  /** token of each data page; for META pages: a digest of its entries (for the CRC) */
  readonly tok: Uint32Array;
  readonly slot: Uint8Array;
  /** slots allocated by the hibernation writer and not yet freed (alloc_swapdev_block's extents) */
  readonly allocated: Uint8Array;
  /** structured pages: header at `offset`, map pages, the info page, meta pages (by page index) */
  readonly header: Map<number, SwapHeader>;
  readonly maps: Map<number, MapPage>;
  readonly infos: Map<number, SwsuspInfo>;
  readonly metas: Map<number, Uint32Array>;
  /** incremented by every boot that mounts filesystems read-write (TuxOnIce's last-mount check) */
  epoch: number;
}

/**
 * Snapshot a device. Structured pages (header, map, info, meta) are immutable values, replaced on every write, so
 * a snapshot shares them; the per-page arrays are copied.
 */
export function cloneDevice(d: BlockDevice): BlockDevice {
  return {
    nr: d.nr,
    tok: d.tok.slice(),
    slot: d.slot.slice(),
    allocated: d.allocated.slice(),
    header: new Map(d.header),
    maps: new Map(d.maps),
    infos: new Map(d.infos),
    metas: new Map(d.metas),
    epoch: d.epoch,
  };
}
