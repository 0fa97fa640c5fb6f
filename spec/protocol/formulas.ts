// The kernel's sizing formulas, written from kernel/power/{snapshot,swap}.c independently of impl/ (no import of
// it): the outcome oracle (abstract.ts) predicts with these, so a slip in impl/'s copy of a formula is a finding.
// Units: pages. Scaling of the fixed kernel constants to small simulated machines is the scenario format's rule.
import type { Scenario } from '../scenario/schema.ts';

/** Swap map entries per map page: PAGE_SIZE / sizeof(sector_t) - 1 (the last word links the next map page). */
export const ORACLE_MAP_ENTRIES = 4096 / 8 - 1;
/** PFNs per metadata page: PAGE_SIZE / sizeof(unsigned long). */
export const ORACLE_PFNS_PER_META = 4096 / 8;
/** Bits per memory-bitmap block: BM_BITS_PER_BLOCK = PAGE_SIZE * BITS_PER_BYTE. */
const BM_BITS_PER_BLOCK = 4096 * 8;
/** struct pbe entries per linked list page on x86-64: (PAGE_SIZE - sizeof(void *)) / (3 * sizeof(void *)). */
export const ORACLE_PBES_PER_PAGE = Math.floor((4096 - 8) / 24);
/** x86-64 restore: relocated restore code, temporary PGD/PUD/PMD/PTE pages (set_up_temporary_mappings). */
export const ORACLE_RESTORE_FRAMES = 5;

/** PAGES_FOR_IO = (4 MiB) >> PAGE_SHIFT, scaled: min(1024, memPages / 32) unless the scenario sets it. */
export function pagesForIoOf(s: Scenario): number {
  if (s.protocol.kind === 'swsusp' && s.protocol.pagesForIo !== undefined) return s.protocol.pagesForIo;
  return Math.min(1024, Math.floor(s.machine.memPages / 32));
}

/** reserved_size (SPARE_PAGES, 1 MiB = 256 pages), scaled: min(256, memPages / 64). */
export function reservedOf(s: Scenario): number {
  return Math.min(256, Math.floor(s.machine.memPages / 64));
}

export interface PreallocPrediction {
  /** pages saved after shrink_all_memory() dropped clean page cache */
  readonly saveable: number;
  readonly dropped: number;
  readonly maxSize: number;
  /** hibernate_preallocate_memory() returns -ENOMEM */
  readonly enomem: boolean;
}

/**
 * hibernate_preallocate_memory():
 *   count    = saveable + free;  size = snapshot_additional_pages() = 2 * ceil(frames / BM_BITS_PER_BLOCK)
 *   max_size = floor((count - (size + PAGES_FOR_IO)) / 2) - 2 * reserved
 *   target   = min(image_size (default 2/5 of RAM frames), max_size); clean page cache is reclaimed toward target
 *   -ENOMEM  when what remains to save exceeds max_size, or free frames cannot hold one copy per saved page.
 */
export function preallocate(
  s: Scenario,
  frames: number,
  at: { saveable: number; free: number; cleanCache: number },
): PreallocPrediction {
  const bitmap = 2 * Math.ceil(frames / BM_BITS_PER_BLOCK);
  const maxSize = Math.floor((at.saveable + at.free - (bitmap + pagesForIoOf(s))) / 2) - 2 * reservedOf(s);
  const imageSize =
    s.protocol.kind === 'swsusp' && s.protocol.imageSizePages !== undefined
      ? s.protocol.imageSizePages
      : Math.floor((frames * 2) / 5);
  const target = Math.min(imageSize, maxSize);
  const dropped = Math.min(at.cleanCache, Math.max(0, at.saveable - target));
  const saveable = at.saveable - dropped;
  const enomem = saveable > maxSize || at.free + dropped < saveable;
  return { saveable, dropped, maxSize, enomem };
}

/** What the restore kernel's boot memory holds for one image (pages). */
export interface RestoreFrames {
  /** PFNs in the image (every one a RAM frame of the machine, distinct) */
  readonly entries: number;
  /** RAM frames the restore kernel itself occupies at boot */
  readonly loaderFrames: number;
  /** image destinations among the loader's frames ("busy": in use, so each is loaded into a safe copy) */
  readonly busy: number;
  /** RAM frames of the machine at resume */
  readonly ram: number;
}

/**
 * Safe frames the loader lacks to restore an image: ENOMEM (refused, outOfMemory) exactly when this is above 0.
 *   safe frames  = RAM frames that are neither the loader's nor image destinations = ram - loader - (entries - busy)
 *                  (mark_unsafe_pages(): every destination is unsafe; __get_safe_page() skips them; a destination
 *                  that is free at boot is taken as its own buffer, so get_buffer() loads it in place)
 *   needed       = busy                               one copy per busy destination (get_buffer() -> restore_pblist)
 *                + ceil(busy / PBES_PER_LINKED_PAGE)  the PBE list pages prepare_image() reserves for chain_alloc()
 *                + RESTORE_FRAMES                     x86-64 restore code and temporary page tables (get_safe_page())
 *   shortfall    = needed - safe = entries + loader + ceil(busy / PBES_PER_LINKED_PAGE) + RESTORE_FRAMES - ram
 * `busy` cancels out but for the PBE list pages: one more busy destination costs a safe copy and frees no frame.
 */
export function restoreShortfall(f: RestoreFrames): number {
  return f.entries + f.loaderFrames + Math.ceil(f.busy / ORACLE_PBES_PER_PAGE) + ORACLE_RESTORE_FRAMES - f.ram;
}

/** The stream of an image of `entries` PFNs, `zeros` of them flagged (no data page). */
export interface StreamPrediction {
  readonly entries: number;
  readonly dataPages: number;
  readonly zeroPages: number;
  /** nr_meta_pages = ceil(entries * sizeof(long) / PAGE_SIZE) */
  readonly metaPages: number;
  /** swsusp_info.pages = 1 (info) + nr_meta_pages + image_pages */
  readonly streamPages: number;
  /** map pages: one at get_swap_writer(), one more each time a map page fills (after every 511 stream pages) */
  readonly mapPages: number;
  /** slots the writer allocates: stream + map pages */
  readonly slots: number;
  /** page writes of a complete image: stream pages, map pages, the header */
  readonly writes: number;
}

export function stream(entries: number, zeros: number): StreamPrediction {
  const metaPages = Math.ceil(entries / ORACLE_PFNS_PER_META);
  const dataPages = entries - zeros;
  const streamPages = 1 + metaPages + dataPages;
  const mapPages = 1 + Math.floor(streamPages / ORACLE_MAP_ENTRIES);
  const slots = streamPages + mapPages;
  return { entries, dataPages, zeroPages: zeros, metaPages, streamPages, mapPages, slots, writes: slots + 1 };
}

/** enough_swap() (nocompress only): free swap pages > PAGES_FOR_IO + pages, counted after the first map page. */
export function enoughSwap(s: Scenario, freeSlots: number, streamPages: number): boolean {
  return freeSlots - 1 > pagesForIoOf(s) + streamPages;
}

export type WriteEnd =
  | { readonly kind: 'complete'; readonly torn: boolean }
  | { readonly kind: 'enospc' }
  | { readonly kind: 'eio'; readonly at: number }
  | { readonly kind: 'powerLost'; readonly writes: number };

/**
 * How save_image() + swap_writer_finish() end on `freeSlots` slots with the step's fault schedule. Write k (1-based)
 * of stream page j is j + floor((j-1)/511) (full map pages written before it); the full map page after stream page
 * 511m is write 512m. Then swsusp signs (write S+M) and flushes the last map page (write S+M+1; its error ignored:
 * the image is signed but torn); kexec flushes it first and signs last. A power loss after n writes loses write n+1
 * and all after; an EIO at n fails write n+1 (0-based n, as ioErrorAtWrite counts).
 */
export function writeEnd(
  commit: 'swsusp' | 'kexec',
  st: StreamPrediction,
  freeSlots: number,
  f: { ioErrorAtWrite?: number | undefined; powerLossAfterWrite?: number | undefined; afterSignature: boolean },
): WriteEnd {
  const total = st.writes;
  // Slot allocation a (1-based; 1 = the first map page) comes after a - 2 writes, so ENOSPC (allocation
  // freeSlots + 1) ends the write after freeSlots - 1 writes: a fault due at write freeSlots or later never comes.
  if (freeSlots === 0) return { kind: 'enospc' };
  const signAt = commit === 'swsusp' ? total - 1 : total; // 1-based write that signs the header
  const eioAt = f.ioErrorAtWrite !== undefined ? f.ioErrorAtWrite + 1 : Number.POSITIVE_INFINITY;
  const lossAt = f.powerLossAfterWrite !== undefined ? f.powerLossAfterWrite + 1 : Number.POSITIVE_INFINITY;
  const first = Math.min(eioAt, lossAt);
  if (freeSlots < st.slots && first >= freeSlots) return { kind: 'enospc' };
  if (first <= total) {
    // swsusp: the last map page write after the signature fails silently (torn, signed image)
    if (commit === 'swsusp' && first === total) return { kind: 'complete', torn: true };
    if (lossAt <= eioAt) return { kind: 'powerLost', writes: lossAt - 1 };
    return { kind: 'eio', at: eioAt };
  }
  if (f.afterSignature && commit === 'swsusp' && signAt < total) return { kind: 'complete', torn: true };
  return { kind: 'complete', torn: false };
}

/**
 * get_num_physpages() of a machine of `memPages` frames with the scenario's e820 map: every frame but the holes (the
 * e820 ranges that are not RAM, the BIOS page and the legacy hole). The header's num_physpages, and what
 * check_header() compares it with.
 */
export function ramFrames(s: Scenario, memPages: number): number {
  // the BIOS page (frame 0) and the legacy hole [640 KiB, 1 MiB) on a PC of 2 MiB or more (init.test.ts pins both)
  const pc = memPages >= 512;
  let holes = pc ? 1 + 96 : 0;
  const hole = (p: number) => pc && (p === 0 || (p >= 160 && p < 256));
  const seen = new Uint8Array(memPages);
  for (const e of s.machine.e820 ?? []) {
    if (e.type === 'ram') continue;
    for (let p = e.start; p < Math.min(memPages, e.start + e.pages); p++) {
      if (seen[p] === 0 && !hole(p)) holes++;
      seen[p] = 1;
    }
  }
  return memPages - holes;
}
