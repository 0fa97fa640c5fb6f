// The image as the spec reads it from storage: header → swap map chain → info page → PFN metadata → data pages.
// Independent of impl/'s loader (which mirrors the kernel and keeps the kernel's blind spots): the checkers use
// this reader to say what an image on storage *is*.

import { readFrames } from './chunks.ts';
import {
  type BlockDevice,
  PFN_END as PFN_END_,
  PFN_ZERO_FLAG as PFN_ZERO_FLAG_,
  SLOT as SLOT_,
  type SwapHeader,
  type SwsuspInfo,
} from './state.ts';
import { digestWords } from './tokens.ts';

// Local copies: imported bindings are getters under tsx/vitest transforms, and hot loops read these.
const PFN_END = PFN_END_;
const PFN_ZERO_FLAG = PFN_ZERO_FLAG_;
const SLOT = SLOT_;

/** Entries of one PFN metadata page (PAGE_SIZE / sizeof(long)). */
export const PFNS_PER_META = 512;
/** Entries of one swap map page (PAGE_SIZE / 8 - 1). */
export const MAP_PAGE_ENTRIES = 511;

// swsusp_header.flags (kernel/power/power.h SF_*), and the kexec protocol's own flag.
// keep-sorted start
export const SF_PLATFORM_MODE = 1;
export const SF_NOCOMPRESS_MODE = 2;
export const SF_CRC32_MODE = 4;
export const SF_HW_SIG = 8;
export const SF_COMPRESSION_ALG_LZ4 = 16;
/** kexec protocol (hibfuzz's design): CRC covers the whole stream, header page included. */
export const KF_CRC_ALL = 0x100;
// keep-sorted end

/** The info page's share of the CRC (the kexec protocol's CRC covers it). */
export function infoDigest(i: SwsuspInfo): number {
  return digestWords([i.numPhyspages, i.kernelId, i.imagePages, i.pages, i.e820Checksum, i.imageId]);
}

export interface DecodedImage {
  readonly header: SwapHeader;
  readonly info: SwsuspInfo;
  /** PFN entries in list order, zero flag included (PFN_ZERO_FLAG) */
  readonly entries: Uint32Array;
  /** data page tokens, the k-th for the k-th unflagged entry */
  readonly data: Uint32Array;
  /** storage pages the image occupies (map pages, info, meta, data) */
  readonly pagesUsed: Uint32Array;
}

export type DecodeError =
  | 'noSignature'
  | 'mapBroken'
  | 'infoMissing'
  | 'metaMissing'
  | 'dataMissing'
  | 'countsInconsistent'
  | 'terminatorMisplaced';

export type DecodeResult = { ok: true; image: DecodedImage } | { ok: false; error: DecodeError; detail: string };

/** The swsusp_info fields a `corrupt` step of region `header` flips, by `index mod 6`. */
export const INFO_FIELDS = ['numPhyspages', 'kernelId', 'imagePages', 'pages', 'e820Checksum', 'imageId'] as const;

/** A `corrupt` step's page in a region of `pages` pages: `index mod pages` (the model's fault and the oracle). */
export const flipPage = (index: number, pages: number): number => index % Math.max(1, pages);
/** A `corrupt` step's word in a page of `words` words (map entries, PFNs): `(index >>> 3) mod words`. */
export const flipWord = (index: number, words: number): number => (index >>> 3) % Math.max(1, words);

/** First bit of a swap map page's next_swap (byte PAGE_SIZE - 8, after MAP_PAGE_ENTRIES 8-byte entries). */
export const MAP_NEXT_BIT = MAP_PAGE_ENTRIES * 64;

/**
 * Which bit of next_swap a `corrupt` step of region `map` flips: bit `bit - MAP_NEXT_BIT` (0..63) of the 64-bit link
 * when `bit` lies in next_swap, as on a real disk; undefined when it flips an entry instead.
 */
export const mapLinkBit = (bit: number): number | undefined => (bit >= MAP_NEXT_BIT ? bit - MAP_NEXT_BIT : undefined);

/** A 64-bit next_swap after flipping bit `k`: links are below 2^32, so a high bit only adds 2^k. */
export const flipLink = (next: number, k: number): number => (k < 32 ? (next ^ (1 << k)) >>> 0 : next + 2 ** k);

/**
 * Where a `corrupt` step of region `meta` flips a bit: meta page flipPage(index, nrMeta), word flipWord(index,
 * min(PFNS_PER_META, entries)) of it; `entry` is the PFN list entry that word holds, undefined when the word lies
 * past the list (the end marker or the padding after it).
 */
export function metaFlipWord(
  nrMeta: number,
  entries: number,
  index: number,
): { page: number; word: number; entry: number | undefined } {
  const page = flipPage(index, nrMeta);
  const word = flipWord(index, Math.min(PFNS_PER_META, entries));
  const entry = page * PFNS_PER_META + word;
  return { page, word, entry: entry < entries ? entry : undefined };
}

export const isSigned = (h: SwapHeader | undefined): boolean =>
  h !== undefined && h.sig !== 'SWAPSPACE2' && h.sig !== '';

/** Read the image whose header page is at `offset`, if the header is signed. Never throws on bad content. */
export function decodeImage(dev: BlockDevice, offset: number): DecodeResult {
  const header = dev.header.get(offset);
  if (header === undefined || !isSigned(header))
    return { ok: false, error: 'noSignature', detail: 'header not signed' };
  const slot = readFrames<Uint8Array>(dev, 'slot') as Uint8Array; // a snapshot's chunks, read without a kept copy
  // Walk the map chain, guarding against cycles and pages that are not map pages.
  const mapPages: number[] = [];
  const seen = new Set<number>();
  let n = 0;
  for (let m = header.image; m !== 0; ) {
    if (seen.has(m) || m >= dev.nr)
      return { ok: false, error: 'mapBroken', detail: `map page ${m} repeats or is out of range` };
    seen.add(m);
    const mp = dev.maps.get(m);
    if (mp === undefined || slot[m] !== SLOT.MAP) {
      return { ok: false, error: 'mapBroken', detail: `page ${m} is not a swap map page` };
    }
    mapPages.push(m);
    n += mp.count;
    m = mp.next;
  }
  const stream = new Uint32Array(n);
  let k0 = 0;
  for (const m of mapPages) {
    const mp = dev.maps.get(m) as NonNullable<ReturnType<typeof dev.maps.get>>;
    stream.set(mp.entries.subarray(0, mp.count), k0);
    k0 += mp.count;
  }
  const infoAt = stream[0];
  const info = infoAt === undefined ? undefined : dev.infos.get(infoAt);
  if (infoAt === undefined || info === undefined || slot[infoAt] !== SLOT.INFO) {
    return { ok: false, error: 'infoMissing', detail: 'first stream page is not an info page' };
  }
  const nrMeta = info.pages - info.imagePages - 1;
  if (nrMeta < 0 || info.pages !== stream.length) {
    return {
      ok: false,
      error: 'countsInconsistent',
      detail: `info.pages ${info.pages}, image_pages ${info.imagePages}, map entries ${stream.length}`,
    };
  }
  const all = new Uint32Array(nrMeta * PFNS_PER_META);
  let ne = 0;
  let ended = false;
  for (let i = 1; i <= nrMeta; i++) {
    const at = stream[i] as number;
    const words = dev.metas.get(at);
    if (words === undefined || slot[at] !== SLOT.META) {
      return { ok: false, error: 'metaMissing', detail: `stream page ${i} (storage ${at}) is not a meta page` };
    }
    for (let k = 0; k < words.length; k++) {
      const w = words[k] as number;
      if (ended) {
        if (w !== 0) return { ok: false, error: 'terminatorMisplaced', detail: `word after the end in meta ${i}` };
      } else if (w === PFN_END) {
        ended = true;
        if (i !== nrMeta) return { ok: false, error: 'terminatorMisplaced', detail: `end marker in meta page ${i}` };
      } else all[ne++] = w;
    }
  }
  const entries = all.subarray(0, ne);
  let nData = 0;
  for (let i = 0; i < ne; i++) if (((entries[i] as number) & PFN_ZERO_FLAG) === 0) nData++;
  if (nData !== info.imagePages) {
    return {
      ok: false,
      error: 'countsInconsistent',
      detail: `${nData} unflagged entries, image_pages ${info.imagePages}`,
    };
  }
  const data = new Uint32Array(nData);
  const tok = readFrames<Uint32Array>(dev, 'tok') as Uint32Array;
  for (let k = 0; k < nData; k++) {
    const at = stream[1 + nrMeta + k] as number;
    if (slot[at] !== SLOT.DATA) return { ok: false, error: 'dataMissing', detail: `data page ${k} not written` };
    data[k] = tok[at] as number;
  }
  const pagesUsed = new Uint32Array(mapPages.length + stream.length);
  pagesUsed.set(mapPages);
  pagesUsed.set(stream, mapPages.length);
  return {
    ok: true,
    image: {
      header,
      info,
      entries,
      data,
      pagesUsed,
    },
  };
}

const decoded = new WeakMap<BlockDevice, Map<number, DecodeResult>>();
// Decodes kept, oldest first, and their bytes: a trace of many big images keeps only the latest few (a monitor that
// comes back to an older one decodes it again), so the memo never holds an image per cycle of a long run.
const kept: { dev: BlockDevice; bytes: number }[] = [];
let keptBytes = 0;
const MEMO_BYTES = 16 * 2 ** 20;
const BIG_DECODE = 2 ** 20;

const bytesOf = (r: DecodeResult): number =>
  r.ok ? r.image.entries.buffer.byteLength + r.image.data.byteLength + r.image.pagesUsed.byteLength : 64;

/**
 * decodeImage() for the monitors, memoised per device snapshot: trace snapshots are never mutated after they are
 * recorded, so several invariants share one decode. Never use it on a live device.
 */
export function decodeSnapshot(dev: BlockDevice, offset: number): DecodeResult {
  let byOffset = decoded.get(dev);
  if (byOffset === undefined) {
    byOffset = new Map();
    decoded.set(dev, byOffset);
  }
  let r = byOffset.get(offset);
  if (r === undefined) {
    r = decodeImage(dev, offset);
    byOffset.set(offset, r);
    const bytes = bytesOf(r);
    // small images stay memoised weakly, as the trace holds them; only big decodes count against the memo's bytes
    if (bytes < BIG_DECODE) return r;
    kept.push({ dev, bytes });
    keptBytes += bytes;
    while (keptBytes > MEMO_BYTES && kept.length > 1) {
      const old = kept.shift() as { dev: BlockDevice; bytes: number };
      keptBytes -= old.bytes;
      if (old.dev !== dev) decoded.delete(old.dev);
    }
  }
  return r;
}
