// Mirrors kernel/power/swap.c: the swap map writer (get_swap_writer, swap_write_page, flush_swap_writer,
// swap_writer_finish, mark_swapfiles, free_all_swap_pages) and reader (get_swap_reader, swsusp_check).
//
// Write order (swsusp, both 6.1 and 6.12): stream pages in order, a full map page whenever 511 entries are filled,
// then mark_swapfiles() signs the header, THEN flush_swap_writer() writes the last map page (fef9c8d28e28).
// Signature rule: the header is signed only after every stream page was written without error; on any error
// every allocated slot is freed and the header is left as it was.
import {
  type BlockDevice,
  fail,
  type KResult,
  type MapPage,
  ok,
  SIG,
  SLOT as SLOT_,
  type SwapHeader,
} from '../../spec/index.ts';
import { type Bio, hibSubmitIo } from './block-dev.ts';
import { MAP_PAGE_ENTRIES } from './power.ts';

// Local copies: imported bindings are getters under tsx/vitest transforms, and hot loops read these.
const SLOT = SLOT_;

export interface SwapMapHandle {
  readonly bio: Bio;
  readonly offset: number;
  /** allocation cursor (alloc_swapdev_block hands out slots in ascending order) */
  cursor: number;
  cur: MapPage;
  curSlot: number;
  readonly firstMap: number;
  /** stream pages written */
  pages: number;
}

const newMapPage = (): MapPage => ({ entries: new Uint32Array(MAP_PAGE_ENTRIES), count: 0, next: 0 });

/** alloc_swapdev_block(): the next free slot at or after the cursor, or -1 (ENOSPC). */
export function allocSwapdevBlock(h: { readonly bio: Bio; cursor: number }): number {
  const d = h.bio.dev;
  for (let i = h.cursor; i < d.nr; i++) {
    if (d.allocated[i] === 0 && d.slot[i] !== SLOT.SWAP_HEADER && d.slot[i] !== SLOT.OTHER) {
      d.allocated[i] = 1;
      h.cursor = i + 1;
      return i;
    }
  }
  h.cursor = d.nr;
  return -1;
}

/** get_swap_writer(): the resume device must hold a swap header; allocates the first map page. */
export function getSwapWriter(bio: Bio, offset: number): KResult<SwapMapHandle> {
  const hdr = bio.dev.header.get(offset);
  if (hdr === undefined || hdr.sig !== SIG.SWAPSPACE2) return fail('ENODEV');
  // Swap slots are the pages after the swap header (a swap file's pages before `offset` belong to other files).
  const h = { bio, offset, cursor: offset + 1, cur: newMapPage(), curSlot: -1, firstMap: -1, pages: 0 };
  const first = allocSwapdevBlock(h);
  if (first < 0) return fail('ENOSPC');
  return ok({ ...h, curSlot: first, firstMap: first });
}

function writeMapPage(h: SwapMapHandle, at: number, page: MapPage): KResult<void> {
  const copy: MapPage = { entries: page.entries.slice(), count: page.count, next: page.next };
  return hibSubmitIo(h.bio, (d) => {
    d.maps.set(at, copy);
    d.slot[at] = SLOT.MAP;
  });
}

/**
 * swap_write_page(): allocate a slot, write the page there (`apply` puts the content), record it in the map page;
 * a full map page is written after allocating the next one.
 */
export function swapWritePage(h: SwapMapHandle, apply: (dev: BlockDevice, at: number) => void): KResult<void> {
  const at = allocSwapdevBlock(h);
  if (at < 0) return fail('ENOSPC');
  const r = hibSubmitIo(h.bio, (d) => apply(d, at));
  if (!r.ok) return r;
  h.cur.entries[h.cur.count++] = at;
  h.pages++;
  if (h.cur.count === MAP_PAGE_ENTRIES) {
    const next = allocSwapdevBlock(h);
    if (next < 0) return fail('ENOSPC');
    h.cur.next = next;
    const w = writeMapPage(h, h.curSlot, h.cur);
    if (!w.ok) return w;
    h.cur = newMapPage();
    h.curSlot = next;
  }
  return ok(undefined);
}

/** flush_swap_writer(): write the last, partly filled map page. */
export function flushSwapWriter(h: SwapMapHandle): KResult<void> {
  return writeMapPage(h, h.curSlot, h.cur);
}

/** mark_swapfiles(): sign the header: orig_sig keeps the swap magic, sig becomes the image signature. */
export function markSwapfiles(
  h: SwapMapHandle,
  fields: { sig: string; flags: number; crc32: number; epoch: number },
): KResult<void> {
  const cur = h.bio.dev.header.get(h.offset);
  if (cur === undefined || cur.sig !== SIG.SWAPSPACE2) return fail('ENODEV'); // "Swap header not found!"
  const signed: SwapHeader = {
    sig: fields.sig,
    origSig: cur.sig,
    image: h.firstMap,
    flags: fields.flags,
    crc32: fields.crc32,
    epoch: fields.epoch,
  };
  const r = hibSubmitIo(h.bio, (d) => d.header.set(h.offset, signed));
  if (r.ok) {
    h.bio.signed = true;
    h.bio.signedAt = h.bio.writes;
  }
  return r;
}

/** free_all_swap_pages(): release every slot the writer allocated. */
export function freeAllSwapPages(dev: BlockDevice): void {
  dev.allocated.fill(0);
}

/**
 * swap_writer_finish() for swsusp: on success sign first, then flush the last map page. Its error branch
 * (free_all_swap_pages) is the caller's: writeImage() calls the freeAllSwapPages part on any error.
 * NOTE: the order is the kernel's (fef9c8d28e28); a power loss between the two leaves a signed, torn image.
 */
export function swapWriterFinish(
  h: SwapMapHandle,
  fields: { sig: string; flags: number; crc32: number; epoch: number },
  error: KResult<void>,
): KResult<void> {
  let r = error;
  if (r.ok) {
    r = markSwapfiles(h, fields);
    // NOTE: as in the kernel, flush_swap_writer()'s error is ignored: a failed last map page write after a
    // successful signature leaves a signed, torn image and reports success.
    flushSwapWriter(h);
  }
  return r;
}

/**
 * get_swap_reader(): the stream's page indices, read from the whole map chain. Entries of 0 mean a broken image
 * (-EFAULT). NOTE: the kernel has no cycle check; the model refuses a cycle instead of looping.
 */
export function getSwapReader(dev: BlockDevice, header: SwapHeader): KResult<Uint32Array> {
  const chunks: Uint32Array[] = [];
  let n = 0;
  const seen = new Set<number>();
  for (let m = header.image; m !== 0; ) {
    const mp = m < dev.nr && !seen.has(m) && dev.slot[m] === SLOT.MAP ? dev.maps.get(m) : undefined;
    if (mp === undefined) return fail('EFAULT');
    seen.add(m);
    for (let i = 0; i < mp.count; i++) {
      const e = mp.entries[i] as number;
      if (e === 0 || e >= dev.nr) return fail('EFAULT');
    }
    chunks.push(mp.entries.subarray(0, mp.count));
    n += mp.count;
    m = mp.next;
  }
  if (n === 0) return fail('EFAULT');
  const out = new Uint32Array(n);
  let k = 0;
  for (const c of chunks) {
    out.set(c, k);
    k += c.length;
  }
  return ok(out);
}

/**
 * swsusp_check(): is there an image at `offset`? If signed, restore the original signature right away, before
 * anything is loaded ("Reset swap signature now"), so no image is resumed twice.
 */
export function swsuspCheck(dev: BlockDevice, offset: number, sig: string): KResult<SwapHeader> {
  const h = dev.header.get(offset);
  if (h === undefined || h.sig !== sig) return fail('ENODATA');
  const found = { ...h };
  dev.header.set(offset, { ...h, sig: h.origSig || SIG.SWAPSPACE2 });
  return ok(found);
}
