// Mirrors kernel/power/snapshot.c: which pages are saved (saveable_page, count_data_pages), pre-allocation
// (hibernate_preallocate_memory), the atomic copy (swsusp_save, copy_data_pages), the PFN list (pack_pfns) and the
// restore side (unpack_orig_pfns, mark_unsafe_pages, prepare_image, get_buffer) up to the final copy
// (restore_pblist walked by the arch code). Frame sets are byte maps (one byte per frame), never objects per page.
import {
  fail,
  infoDigest,
  KIND as KIND_,
  type KResult,
  type Memory,
  OWNER as OWNER_,
  ok,
  PFN_END as PFN_END_,
  PFN_ZERO_FLAG as PFN_ZERO_FLAG_,
  type Scenario,
  type SwsuspInfo,
  stringId,
} from '../../spec/index.ts';
import { e820Checksum } from '../arch/hibernate.ts';
import type { Ctx } from '../context.ts';
import { PBES_PER_LINKED_PAGE, PFNS_PER_META, pagesForIo, RESTORE_CODE_FRAMES, reservedPages } from './power.ts';

// Local copies: imported bindings are getters under tsx/vitest transforms, and hot loops read these.
const KIND = KIND_;
const OWNER = OWNER_;
const PFN_END = PFN_END_;
const PFN_ZERO_FLAG = PFN_ZERO_FLAG_;

/** Counters of page copies, kept by every copy primitive. They go only into events: no monitor reads them
 * (AbortCopiesNothing derives copies from memory), so an implementation that miscounts cannot pass a claim. */
export interface CopyCounter {
  image: number;
  exchange: number;
}

/**
 * saveable_page() over all zones, ascending: frames the original kernel uses. Free frames, frames allocated by
 * hibernation itself (forbidden) and nosave frames (e820 holes, reserved, NVS) are never saved.
 */
export function saveableFrames(mem: Memory): Uint32Array {
  let n = 0;
  for (let p = 0; p < mem.nr; p++) if (mem.owner[p] === OWNER.ORIG) n++;
  const out = new Uint32Array(n);
  let k = 0;
  for (let p = 0; p < mem.nr; p++) if (mem.owner[p] === OWNER.ORIG) out[k++] = p;
  return out;
}

/**
 * pack_pfns(): the PFN list in ascending order; with zero elision (6.6+) an all-zero page is flagged and has no
 * data page. Returns the entries and the number of data pages (image_pages).
 */
export function packPfns(
  pfns: Uint32Array,
  contentOf: (pfn: number, index: number) => number,
  zeroElision: boolean,
): { entries: Uint32Array; dataPages: number } {
  const entries = new Uint32Array(pfns.length);
  let data = 0;
  for (let i = 0; i < pfns.length; i++) {
    const p = pfns[i] as number;
    if (zeroElision && contentOf(p, i) === 0) entries[i] = p | PFN_ZERO_FLAG;
    else {
      entries[i] = p;
      data++;
    }
  }
  return { entries, dataPages: data };
}

/** Metadata pages: 512 entries each, the slot after the last entry holds BM_END_OF_MAP, the rest is zero. */
export function metaPagesOf(entries: Uint32Array): Uint32Array[] {
  // nr_meta_pages = ceil(entries * sizeof(long) / PAGE_SIZE)
  const pages = Math.ceil(entries.length / PFNS_PER_META);
  const out: Uint32Array[] = [];
  for (let m = 0; m < pages; m++) {
    const w = new Uint32Array(PFNS_PER_META);
    const from = m * PFNS_PER_META;
    const to = Math.min(entries.length, from + PFNS_PER_META);
    w.set(entries.subarray(from, to));
    if (to - from < PFNS_PER_META) w[to - from] = PFN_END;
    out.push(w);
  }
  return out;
}

/** The info page's CRC share (defined in spec/: the independent image reader checks the CRC too). */
export { infoDigest };

// ---- pre-allocation and the atomic copy (swsusp) -------------------------------------------------------------

export interface Preallocation {
  /** copy frames allocated (owner HIB), one per saveable page */
  readonly copyFrames: Uint32Array;
  /** clean page-cache pages dropped by shrink_all_memory */
  readonly dropped: number;
}

/**
 * hibernate_preallocate_memory():
 *   count    = saveable + free
 *   max_size = (count - (size + PAGES_FOR_IO)) / 2 - 2 * reserved_pages      (an image is at most ~half of RAM)
 *   target   = min(image_size, max_size); shrink (drop clean page cache) toward target;
 *   fail with ENOMEM ("Image allocation is N pages short") if saveable > max_size after shrinking.
 * Every saveable page then gets a copy frame of its own (owner HIB).
 */
export function hibernatePreallocateMemory(
  mem: Memory,
  s: Scenario,
  limits?: { saveable: number; maxSize: number },
): KResult<Preallocation> {
  let saveable = 0;
  let free = 0;
  for (let p = 0; p < mem.nr; p++) {
    if (mem.owner[p] === OWNER.ORIG) saveable++;
    else if (mem.owner[p] === OWNER.FREE) free++;
  }
  const count = saveable + free;
  const bitmapPages = Math.ceil(mem.nr / 32768) * 2; // snapshot_additional_pages(): leaves of the radix trees
  const maxSize = Math.floor((count - (bitmapPages + pagesForIo(s))) / 2) - 2 * reservedPages(s);
  const imageSize =
    s.protocol.kind === 'swsusp' && s.protocol.imageSizePages !== undefined
      ? s.protocol.imageSizePages
      : Math.floor((2 * mem.nr) / 5);
  const target = Math.min(imageSize, maxSize);
  let dropped = 0;
  if (target < saveable) {
    // shrink_all_memory(): reclaim clean page cache (the only reclaim this model has).
    for (let p = 0; p < mem.nr && saveable > target; p++) {
      if (mem.owner[p] === OWNER.ORIG && mem.kind[p] === KIND.PC_CLEAN) {
        mem.owner[p] = OWNER.FREE;
        mem.kind[p] = KIND.FREE;
        saveable--;
        free++;
        dropped++;
      }
    }
  }
  if (limits !== undefined) {
    limits.saveable = saveable;
    limits.maxSize = maxSize;
  }
  if (saveable > maxSize || free < saveable) return fail('ENOMEM');
  const copyFrames = new Uint32Array(saveable);
  let k = 0;
  for (let p = mem.nr - 1; p >= 0 && k < saveable; p--) {
    if (mem.owner[p] === OWNER.FREE) {
      mem.owner[p] = OWNER.HIB;
      copyFrames[k++] = p;
    }
  }
  return ok({ copyFrames, dropped });
}

/** swsusp_free(): give back every frame hibernation allocated. */
export function swsuspFree(mem: Memory): void {
  for (let p = 0; p < mem.nr; p++) if (mem.owner[p] === OWNER.HIB) mem.owner[p] = OWNER.FREE;
}

/**
 * swsusp_save() → copy_data_pages(): with interrupts off, copy each saveable page into its copy frame. An all-zero
 * page (6.6+) only sets zero_bm and takes no copy frame's content. Returns the saved PFNs.
 */
export function swsuspSave(
  mem: Memory,
  copyFrames: Uint32Array,
  saveable: (m: Memory) => Uint32Array,
  counter: CopyCounter,
): KResult<Uint32Array> {
  const pfns = saveable(mem);
  if (pfns.length > copyFrames.length) return fail('ENOMEM'); // enough_free_mem()
  const c = mem.content;
  for (let i = 0; i < pfns.length; i++) c[copyFrames[i] as number] = c[pfns[i] as number] as number;
  counter.image += pfns.length;
  return ok(pfns);
}

// ---- restore side --------------------------------------------------------------------------------------------

/** The boot (loader) kernel's memory during restore. */
export interface RestoreState {
  readonly mem: Memory;
  /** per frame: 1 = allocated by the loader (may be written) */
  readonly allocated: Uint8Array;
  /** per frame: writes before the final copy */
  readonly written: Uint8Array;
  /** per frame: 1 = image destination ("unsafe") */
  readonly imageSet: Uint8Array;
  readonly zeroSet: Uint8Array;
  pbeSrc: Uint32Array;
  pbeDst: Uint32Array;
  pbeCount: number;
  codeFrames: Uint32Array;
  /** cursor of __get_safe_page() */
  safeCursor: number;
}

/**
 * unpack_orig_pfns(): every entry must be a valid RAM frame of this machine that is not nosave (else -EFAULT,
 * "Memory map mismatch"). The flag bit is understood only by kernels with zero elision. Duplicates are not
 * detected here (the bitmap absorbs them; the count check later catches them).
 */
export function unpackOrigPfns(
  entries: Uint32Array,
  bootMem: Memory,
  zeroElision: boolean,
): KResult<{ imageSet: Uint8Array; zeroSet: Uint8Array; distinct: number; zeros: number }> {
  const imageSet = new Uint8Array(bootMem.nr);
  const zeroSet = new Uint8Array(bootMem.nr);
  let distinct = 0;
  let zeros = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as number;
    const flagged = zeroElision && (e & PFN_ZERO_FLAG) !== 0;
    const pfn = zeroElision ? e & ~PFN_ZERO_FLAG : e;
    if (pfn >= bootMem.nr || bootMem.owner[pfn] === OWNER.NOSAVE) return fail('EFAULT');
    if (imageSet[pfn] === 0) {
      imageSet[pfn] = 1;
      distinct++;
      if (flagged) {
        zeroSet[pfn] = 1;
        zeros++;
      }
    }
  }
  return ok({ imageSet, zeroSet, distinct, zeros });
}

/** __get_safe_page(): a free frame that is not an image destination; -1 when memory runs out. */
export function getSafePage(st: RestoreState): number {
  const { mem, imageSet } = st;
  for (let p = st.safeCursor; p < mem.nr; p++) {
    if (mem.owner[p] === OWNER.FREE && imageSet[p] === 0) {
      mem.owner[p] = OWNER.SAFE;
      st.allocated[p] = 1;
      st.safeCursor = p + 1;
      return p;
    }
  }
  st.safeCursor = mem.nr;
  return -1;
}

/**
 * prepare_image(): mark_unsafe_pages (the image set), allocate every destination that is free in this kernel (it
 * can be written in place), and reserve safe frames for copies of busy destinations, the PBE list pages and the
 * arch restore code + temporary page tables. ENOMEM when safe frames run out.
 */
export function prepareImage(st: RestoreState): KResult<void> {
  const { mem, imageSet } = st;
  let busy = 0;
  for (let p = 0; p < mem.nr; p++) {
    if (imageSet[p] === 0) continue;
    if (mem.owner[p] === OWNER.FREE) {
      mem.owner[p] = OWNER.HIB;
      st.allocated[p] = 1;
    } else busy++;
  }
  const extra = Math.ceil(busy / PBES_PER_LINKED_PAGE) + RESTORE_CODE_FRAMES;
  const code = new Uint32Array(extra);
  for (let i = 0; i < extra; i++) {
    const f = getSafePage(st);
    if (f < 0) return fail('ENOMEM');
    code[i] = f;
  }
  st.codeFrames = code;
  st.pbeSrc = new Uint32Array(busy);
  st.pbeDst = new Uint32Array(busy);
  st.pbeCount = 0;
  return ok(undefined);
}

/**
 * get_buffer(): where the next image page (destination `pfn`) is loaded: its own frame when this kernel allocated
 * it, otherwise a safe frame recorded in restore_pblist. Returns the frame, or -1 (ENOMEM).
 */
export function getBuffer(st: RestoreState, pfn: number): number {
  if (st.allocated[pfn] === 1 && st.mem.owner[pfn] === OWNER.HIB) return pfn;
  const safe = getSafePage(st);
  if (safe < 0) return -1;
  st.pbeSrc[st.pbeCount] = safe;
  st.pbeDst[st.pbeCount] = pfn;
  st.pbeCount++;
  return safe;
}

/** The arch restore loop (core_restore_code): copy each PBE's safe copy into its destination, using no stack. */
export function restoreImage(st: RestoreState, counter: CopyCounter): void {
  const c = st.mem.content;
  for (let i = 0; i < st.pbeCount; i++) c[st.pbeDst[i] as number] = c[st.pbeSrc[i] as number] as number;
  counter.image += st.pbeCount;
}

export function newRestoreState(mem: Memory, imageSet: Uint8Array, zeroSet: Uint8Array): RestoreState {
  return {
    mem,
    allocated: new Uint8Array(mem.nr),
    written: new Uint8Array(mem.nr),
    imageSet,
    zeroSet,
    pbeSrc: new Uint32Array(0),
    pbeDst: new Uint32Array(0),
    pbeCount: 0,
    codeFrames: new Uint32Array(0),
    safeCursor: 0,
  };
}

// ---- the image header (init_header, the arch header) ---------------------------------------------------------

/** get_num_physpages(): RAM frames of this machine (every frame that is not nosave). */
export function ramPages(mem: Pick<Memory, 'nr' | 'owner'>): number {
  let n = 0;
  for (let p = 0; p < mem.nr; p++) if (mem.owner[p] !== OWNER.NOSAVE) n++;
  return n;
}

/**
 * init_header(): struct swsusp_info of an image. pages = image_pages + nr_meta_pages + 1 with
 * nr_meta_pages = ceil(entries * sizeof(long) / PAGE_SIZE).
 */
export function initHeader(
  ctx: Pick<Ctx, 's' | 'profile' | 'parts'>,
  atImage: Pick<Memory, 'nr' | 'owner'>,
  packed: { readonly entries: Uint32Array; readonly dataPages: number },
  imageId: number,
): SwsuspInfo {
  const nrMeta = Math.ceil(packed.entries.length / PFNS_PER_META);
  return {
    numPhyspages: ctx.parts.ramPages(atImage),
    kernelId: stringId(ctx.profile.name),
    imagePages: packed.dataPages,
    pages: packed.dataPages + nrMeta + 1,
    e820Checksum: e820Checksum(ctx.s.machine.memPages, ctx.s.machine.e820),
    imageId,
  };
}
