// Mirrors kernel/power/swap.c: the swap map writer (get_swap_writer, swap_write_page, flush_swap_writer,
// swap_writer_finish, mark_swapfiles, free_all_swap_pages), the reader (get_swap_reader, swsusp_check), and the
// image's way through them: save_image() (swsusp_write's stream) and load_image() (swsusp_read's).
//
// Write order (swsusp, both 6.1 and 6.12): stream pages in order, a full map page whenever 511 entries are filled,
// then mark_swapfiles() signs the header, THEN flush_swap_writer() writes the last map page (fef9c8d28e28).
// Signature rule: the header is signed only after every stream page was written without error; on any error
// every allocated slot is freed and the header is left as it was.
import {
  type BlockDevice,
  crcUpdate as crcUpdate_,
  digestWords as digestWords_,
  type Errno,
  fail,
  type ImageStats,
  type KResult,
  type MapPage,
  type Memory,
  ok,
  PFN_END,
  type RefusalReason,
  SIG,
  SLOT as SLOT_,
  type SwapHeader,
  type SwsuspInfo,
} from '../../spec/index.ts';
import type { Ctx } from '../context.ts';
import type { BootMachine } from '../parts.ts';
import { type Bio, hibSubmitIo, nextWriteFault as nextWriteFault_ } from './block-dev.ts';
import {
  KF_CRC_ALL,
  MAP_PAGE_ENTRIES,
  pagesForIo,
  SF_COMPRESSION_ALG_LZ4,
  SF_CRC32_MODE,
  SF_NOCOMPRESS_MODE,
} from './power.ts';
import { infoDigest, metaPagesOf, newRestoreState, prepareImage, type RestoreState } from './snapshot.ts';

// Local copies: imported bindings are getters under tsx/vitest transforms, and hot loops read these.
const crcUpdate = crcUpdate_;
const digestWords = digestWords_;
const SLOT = SLOT_;
const nextWriteFault = nextWriteFault_;

export interface SwapMapHandle {
  readonly bio: Bio;
  readonly offset: number;
  /** alloc_swapdev_block() as this kernel has it (a Part) */
  readonly alloc: typeof allocSwapdevBlock;
  /** allocation cursor (alloc_swapdev_block hands out slots in ascending order) */
  cursor: number;
  cur: MapPage;
  curSlot: number;
  readonly firstMap: number;
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
export function getSwapWriter(
  bio: Bio,
  offset: number,
  alloc: typeof allocSwapdevBlock = allocSwapdevBlock,
): KResult<SwapMapHandle> {
  const hdr = bio.dev.header.get(offset);
  if (hdr === undefined || hdr.sig !== SIG.SWAPSPACE2) return fail('ENODEV');
  // Swap slots are the pages after the swap header (a swap file's pages before `offset` belong to other files).
  const h = { bio, offset, alloc, cursor: offset + 1, cur: newMapPage(), curSlot: -1, firstMap: -1 };
  const first = alloc(h);
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
  const at = h.alloc(h);
  if (at < 0) return fail('ENOSPC');
  const r = hibSubmitIo(h.bio, (d) => apply(d, at));
  if (!r.ok) return r;
  h.cur.entries[h.cur.count++] = at;
  if (h.cur.count === MAP_PAGE_ENTRIES) {
    const next = h.alloc(h);
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
 * A kernel starts (a boot, the jump into a resumed image, the jump back from the save kernel): it holds no writer
 * slot. swap_map[] and alloc_swapdev_block()'s extents live in the memory of the kernel that allocated them; a
 * resumed system's swap map predates its image. Nothing on storage is touched (the model keeps `allocated` there).
 */
export function swapMapAtStart(dev: BlockDevice): void {
  dev.allocated.fill(0);
}

/**
 * swap_writer_finish() for swsusp: on success sign first, then flush the last map page. Its error branch
 * (free_all_swap_pages) is the caller's: saveImage() calls the freeAllSwapPages part on any error.
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
    // get_swap_reader() reads every map page before the stream. A link past the device fails its read; a link back
    // into the chain never ends (a page per link until the allocation fails); a slot that is not a map page stands
    // for the garbage the kernel would read as one.
    if (m >= dev.nr) return fail('EIO');
    if (seen.has(m)) return fail('ENOMEM');
    const mp = dev.slot[m] === SLOT.MAP ? dev.maps.get(m) : undefined;
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

// ---- save_image() and load_image(): the stream through the map writer and back -------------------------------

export interface ImageToWrite {
  readonly info: SwsuspInfo;
  readonly entries: Uint32Array;
  readonly data: Uint32Array;
  readonly flags: number;
  readonly sig: string;
  readonly epoch: number;
  /** 'swsusp': sign, then flush last map page; 'kexec': flush all, then sign */
  readonly commit: 'swsusp' | 'kexec';
}

/** The stream against its storage, for coverage of the formulas' boundaries (no verdict reads it). map pages =
 * floor(stream / 511) + 1; storageMargin = free slots after get_swap_writer() - what the image needs (0: fits). */
export interface StreamGeometry {
  readonly entries: number;
  readonly streamPages: number;
  readonly mapPages: number;
  readonly storageMargin: number;
}

export type WriteResult =
  | { ok: true; stats: ImageStats; geometry: StreamGeometry }
  | { ok: false; errno: Errno; powerLost: boolean; writes: number; geometry?: StreamGeometry };

/**
 * save_image(): the stream — info page, PFN metadata pages, data pages — through the swap map writer, then the
 * commit (header signature). nocompress mode checks capacity first (enough_swap); compressed mode finds ENOSPC
 * mid-write. CRC: swsusp covers meta+data when SF_CRC32_MODE; the kexec protocol covers the info page too.
 */
export function saveImage(ctx: Ctx, bio: Bio, img: ImageToWrite): WriteResult {
  const meta = metaPagesOf(img.entries);
  const streamPages = 1 + meta.length + img.data.length;
  let geometry: StreamGeometry | undefined;
  const failed = (errno: Errno): WriteResult =>
    geometry !== undefined
      ? { ok: false, errno, powerLost: bio.powerLost, writes: bio.writes, geometry }
      : { ok: false, errno, powerLost: bio.powerLost, writes: bio.writes };
  const hw = ctx.parts.getSwapWriter(bio, ctx.s.storage.offset, ctx.parts.allocSwapdevBlock);
  if (!hw.ok) {
    ctx.parts.freeAllSwapPages(bio.dev);
    return failed(hw.errno);
  }
  const h: SwapMapHandle = hw.value;
  // free slots of this swap area: after its header (a swap file's pages before `offset` belong to other files)
  let free = 0;
  for (let i = ctx.s.storage.offset + 1; i < bio.dev.nr; i++)
    if (bio.dev.allocated[i] === 0 && bio.dev.slot[i] !== SLOT.SWAP_HEADER && bio.dev.slot[i] !== SLOT.OTHER) free++;
  const nocompress = (img.flags & SF_NOCOMPRESS_MODE) !== 0;
  const mapPages = Math.floor(streamPages / MAP_PAGE_ENTRIES) + 1;
  const need = nocompress ? pagesForIo(ctx.s) + streamPages + 1 : streamPages + mapPages - 1;
  geometry = { entries: img.entries.length, streamPages, mapPages, storageMargin: free - need };
  if (nocompress) {
    // enough_swap(): free slots > PAGES_FOR_IO + pages (only in nocompress mode)
    if (free <= pagesForIo(ctx.s) + streamPages) {
      ctx.parts.freeAllSwapPages(bio.dev);
      return failed('ENOSPC');
    }
  }
  let crc = 0;
  const crcAll = (img.flags & KF_CRC_ALL) !== 0;
  if (crcAll) crc = crcUpdate(crc, infoDigest(img.info));
  let r: KResult<void> = swapWritePage(h, (d, at) => {
    d.infos.set(at, { ...img.info });
    d.slot[at] = SLOT.INFO;
  });
  for (let m = 0; r.ok && m < meta.length; m++) {
    const words = meta[m] as Uint32Array;
    crc = crcUpdate(crc, digestWords(words));
    r = swapWritePage(h, (d, at) => {
      d.metas.set(at, words.slice());
      d.slot[at] = SLOT.META;
    });
  }
  const data = img.data;
  const dev = bio.dev;
  for (let k = 0; r.ok && k < data.length; k++) {
    const tok = data[k] as number;
    crc = crcUpdate(crc, tok);
    // Fast path, equivalent to swap_write_page() + hib_submit_io() while no fault is due and the map page does not
    // fill up with this entry (the slow path writes the full map page).
    if (nextWriteFault(bio) === 'none' && h.cur.count + 1 < MAP_PAGE_ENTRIES) {
      const at = h.alloc(h);
      if (at < 0) {
        r = { ok: false, errno: 'ENOSPC' };
        break;
      }
      dev.tok[at] = tok;
      dev.slot[at] = SLOT.DATA;
      bio.writes++;
      h.cur.entries[h.cur.count++] = at;
    } else {
      r = swapWritePage(h, (d, at) => {
        d.tok[at] = tok;
        d.slot[at] = SLOT.DATA;
      });
    }
  }
  const withCrc = (img.flags & (SF_CRC32_MODE | KF_CRC_ALL)) !== 0 ? crc : 0;
  const fields = { sig: img.sig, flags: img.flags, crc32: withCrc, epoch: img.epoch };
  const fin =
    img.commit === 'swsusp' ? ctx.parts.swapWriterFinish(h, fields, r) : ctx.parts.kexecWriterFinish(h, fields, r);
  if (!fin.ok) {
    // swap_writer_finish()'s error branch: release every slot (never after a power loss: nothing runs then).
    if (!bio.powerLost) ctx.parts.freeAllSwapPages(bio.dev);
    return failed(fin.errno);
  }
  return {
    ok: true,
    geometry,
    stats: {
      dataPages: data.length,
      zeroPages: img.entries.length - data.length,
      metaPages: meta.length,
      streamPages,
      writes: bio.writes,
    },
  };
}

export type LoadResult =
  | { ok: true; st: RestoreState; info: SwsuspInfo; imageId: number }
  | { ok: false; errno: Errno; reason: RefusalReason; st?: RestoreState; imageId?: number };

/**
 * load_image() + snapshot_write_next(): read the stream, check the header, unpack the PFNs, prepare_image, load
 * each data page in place or into a safe frame (ascending PFN order, as the bitmap walk does), then verify the CRC.
 * Nothing of the original kernel is touched before the final copy, so every failure here is recoverable (I7).
 */
export function loadImage(
  ctx: Ctx,
  boot: Memory,
  bootMachine: BootMachine,
  header: SwapHeader,
  opts: { zeroElision: boolean; lz4: boolean },
): LoadResult {
  const dev = ctx.dev;
  const streamR = getSwapReader(dev, header);
  // a chain that loops ends when the reader's allocation fails: out of memory, not a short image
  if (!streamR.ok) {
    return { ok: false, errno: streamR.errno, reason: streamR.errno === 'ENOMEM' ? 'outOfMemory' : 'truncatedImage' };
  }
  const stream = streamR.value;
  const info = dev.infos.get(stream[0] as number);
  if (info === undefined || dev.slot[stream[0] as number] !== SLOT.INFO)
    return { ok: false, errno: 'EINVAL', reason: 'badHeader' };
  const imageId = info.imageId;
  if ((header.flags & SF_COMPRESSION_ALG_LZ4) !== 0 && !opts.lz4)
    return { ok: false, errno: 'EINVAL', reason: 'decompressFailed', imageId };
  const mismatch = ctx.parts.checkHeader(info, bootMachine);
  if (mismatch !== undefined) return { ok: false, errno: 'EPERM', reason: mismatch, imageId };
  const nrMeta = info.pages - info.imagePages - 1;
  if (nrMeta < 0) return { ok: false, errno: 'EFAULT', reason: 'truncatedImage', imageId };
  // swap_read_page() past the last map page: the reader is released, and the next read finds no map (-EINVAL)
  if (stream.length < info.pages) return { ok: false, errno: 'EINVAL', reason: 'truncatedImage', imageId };
  // unpack_orig_pfns over the meta pages, up to BM_END_OF_MAP
  const all = new Uint32Array(nrMeta * 512);
  let ne = 0;
  let crc = 0;
  if ((header.flags & KF_CRC_ALL) !== 0) crc = crcUpdate(crc, infoDigest(info));
  for (let m = 1; m <= nrMeta; m++) {
    const at = stream[m] as number;
    const words = dev.metas.get(at) ?? new Uint32Array(512).fill(dev.tok[at] as number);
    crc = crcUpdate(crc, digestWords(words));
    for (let i = 0; i < words.length; i++) {
      const w = words[i] as number;
      if (w === PFN_END) break;
      all[ne++] = w;
    }
  }
  const un = ctx.parts.unpackOrigPfns(all.subarray(0, ne), boot, opts.zeroElision);
  if (!un.ok) return { ok: false, errno: un.errno, reason: 'pfnInvalid', imageId };
  const { imageSet, zeroSet, distinct, zeros } = un.value;
  if (distinct - zeros < info.imagePages) return { ok: false, errno: 'EFAULT', reason: 'truncatedImage', imageId };
  const st = newRestoreState(boot, imageSet, zeroSet);
  const prep = prepareImage(st);
  if (!prep.ok) return { ok: false, errno: prep.errno, reason: 'outOfMemory', st, imageId };
  // Load data pages in ascending PFN order (memory_bm_next_pfn over orig_bm).
  let k = 0;
  const base = 1 + nrMeta;
  const c = boot.content;
  for (let p = 0; p < boot.nr; p++) {
    if (imageSet[p] === 0) continue;
    let tok = 0;
    if (zeroSet[p] === 0) {
      if (k >= info.imagePages) break; // the kernel stops after `pages` stream pages; extra PFNs stay unrestored
      tok = dev.tok[stream[base + k] as number] as number;
      crc = crcUpdate(crc, tok);
      k++;
    }
    const f = ctx.parts.getBuffer(st, p);
    if (f < 0) return { ok: false, errno: 'ENOMEM', reason: 'outOfMemory', st, imageId };
    c[f] = tok;
    st.written[f] = Math.min(255, (st.written[f] as number) + 1);
  }
  if ((header.flags & (SF_CRC32_MODE | KF_CRC_ALL)) !== 0 && !ctx.parts.crcMatches(header.crc32, crc)) {
    return { ok: false, errno: 'ENODATA', reason: 'crcMismatch', st, imageId }; // "Invalid image CRC32!"
  }
  return { ok: true, st, info, imageId };
}
