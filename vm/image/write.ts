// Test-image encoder: builds swsusp swap images as kernel/power/swap.c (swsusp_write) and snapshot.c (pack_pfns) lay them out.

import { makeRng } from '../../spec/model/init.ts';
import { crc32Le } from './crc32.ts';
import {
  asciiBytes,
  CMP_HEADER,
  type Compression,
  ceilDiv,
  HIBERNATE_SIG,
  INFO_IMAGE_PAGES,
  INFO_NUM_PHYSPAGES,
  INFO_PAGES,
  INFO_SIZE,
  MAP_NEXT_SWAP,
  MAP_PAGE_ENTRIES,
  PAGE_SIZE,
  PFNS_PER_META_PAGE,
  SF_COMPRESSION_ALG_LZ4,
  SF_CRC32_MODE,
  SF_HW_SIG,
  SF_NOCOMPRESS_MODE,
  SF_PLATFORM_MODE,
  SWSUSP_HEADER_CRC32,
  SWSUSP_HEADER_FLAGS,
  SWSUSP_HEADER_HW_SIG,
  SWSUSP_HEADER_IMAGE,
  SWSUSP_HEADER_ORIG_SIG,
  SWSUSP_HEADER_SIG,
  setU64,
  UNC_PAGES,
  viewOf,
  X86_E820_CHECKSUM_OFFSET,
  X86_RESTORE_MAGIC,
  X86_RESTORE_MAGIC_OFFSET,
  ZERO_FLAG_HI,
} from './format.ts';
import { lz4CompressLiterals } from './lz4.ts';
import { lzo1xCompressLiterals } from './lzo.ts';

export const IMAGE_STYLES = ['6.1', '6.12'] as const;
/** '6.1': zero pages stored as data; '6.12': zero pages flagged with bit 63 and left out (6.6+). */
export type ImageStyle = (typeof IMAGE_STYLES)[number];

/** xorshift32 for seeded test data: the model's generator (spec/model/init.ts makeRng), one implementation. */
export const xorshift32 = makeRng;

export function seededBytes(n: number, seed: number): Uint8Array {
  const next = xorshift32(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const w = next();
    out[i] = w & 0xff;
    if (i + 1 < n) out[i + 1] = (w >>> 8) & 0xff;
    if (i + 2 < n) out[i + 2] = (w >>> 16) & 0xff;
    if (i + 3 < n) out[i + 3] = w >>> 24;
  }
  return out;
}

export interface PfnEntry {
  readonly pfn: number;
  readonly zero: boolean;
}

/**
 * Metadata pages for a PFN list: 512 u64 per page, bit 63 set on zero entries, ~0 in the slot after the last
 * entry unless the last page is exactly full; nr_meta = ceil(entries × 8 / PAGE_SIZE).
 * @remarks Mirrors kernel/power/snapshot.c: pack_pfns().
 */
export function packPfns(entries: readonly PfnEntry[]): Uint8Array[] {
  const nrMeta = ceilDiv(entries.length * 8, PAGE_SIZE);
  const pages: Uint8Array[] = [];
  for (let m = 0; m < nrMeta; m++) {
    const page = new Uint8Array(PAGE_SIZE);
    const v = viewOf(page);
    for (let j = 0; j < PFNS_PER_META_PAGE; j++) {
      const e = entries[m * PFNS_PER_META_PAGE + j];
      if (e === undefined) {
        v.setUint32(j * 8, 0xffffffff, true);
        v.setUint32(j * 8 + 4, 0xffffffff, true);
        break;
      }
      setU64(v, j * 8, e.pfn);
      if (e.zero) v.setUint32(j * 8 + 4, (v.getUint32(j * 8 + 4, true) | ZERO_FLAG_HI) >>> 0, true);
    }
    pages.push(page);
  }
  return pages;
}

export interface InfoFields {
  readonly numPhyspages: number;
  readonly imagePages: number;
  readonly pages: number;
  /** defaults to pages × PAGE_SIZE */
  readonly size?: number;
  readonly e820Checksum?: number;
  readonly archMagic?: bigint;
}

/** A struct swsusp_info page as x86-64 init_header fills it (restore_data_record over the uts name). */
export function encodeSwsuspInfo(f: InfoFields): Uint8Array {
  const page = new Uint8Array(PAGE_SIZE);
  const v = viewOf(page);
  v.setBigUint64(0, 0xffffffff81000000n, true); // jump_address (any kernel-text address)
  v.setBigUint64(8, 0x1000000n, true); // jump_address_phys
  v.setBigUint64(16, 0x2000000n, true); // cr3
  v.setBigUint64(X86_RESTORE_MAGIC_OFFSET, f.archMagic ?? X86_RESTORE_MAGIC, true);
  v.setUint32(X86_E820_CHECKSUM_OFFSET, f.e820Checksum ?? 0x1234abcd, true);
  setU64(v, INFO_NUM_PHYSPAGES, f.numPhyspages);
  setU64(v, INFO_IMAGE_PAGES, f.imagePages);
  setU64(v, INFO_PAGES, f.pages);
  setU64(v, INFO_SIZE, f.size ?? f.pages * PAGE_SIZE);
  return page;
}

export interface SavedPage {
  readonly pfn: number;
  /** PAGE_SIZE bytes; all-zero content is a zero page */
  readonly data: Uint8Array;
}

export interface StreamOptions {
  /** saved pages in ascending PFN order */
  readonly pages: readonly SavedPage[];
  readonly style: ImageStyle;
  /** defaults to the highest PFN + 1 */
  readonly numPhyspages?: number;
  readonly e820Checksum?: number;
}

export interface Stream {
  /** uncompressed stream pages: swsusp_info, metadata, data */
  readonly pages: Uint8Array[];
  readonly entries: readonly PfnEntry[];
  readonly imagePages: number;
  readonly nrMeta: number;
  readonly zeroPages: number;
}

const isZeroPage = (p: Uint8Array): boolean => p.every((b) => b === 0);

/**
 * The snapshot stream for a set of saved pages (snapshot_read_next order): swsusp_info, nr_meta PFN pages, then
 * one data page per non-zero page ('6.12') or per page ('6.1').
 */
export function buildStream(opts: StreamOptions): Stream {
  const elide = opts.style === '6.12';
  const entries: PfnEntry[] = opts.pages.map((p) => ({ pfn: p.pfn, zero: elide && isZeroPage(p.data) }));
  const data = opts.pages.filter((_, i) => !entries[i]?.zero).map((p) => p.data);
  const meta = packPfns(entries);
  const pages = 1 + meta.length + data.length;
  const maxPfn = opts.pages.reduce((m, p) => Math.max(m, p.pfn), -1);
  const info = encodeSwsuspInfo({
    numPhyspages: opts.numPhyspages ?? maxPfn + 1,
    imagePages: data.length,
    pages,
    ...(opts.e820Checksum === undefined ? {} : { e820Checksum: opts.e820Checksum }),
  });
  return {
    pages: [info, ...meta, ...data],
    entries,
    imagePages: data.length,
    nrMeta: meta.length,
    zeroPages: entries.length - data.length,
  };
}

export interface WriteOptions {
  readonly compression: Compression;
  /** page index of the swap header (default 0) */
  readonly resumeOffset?: number;
  /** device size; default: just enough, plus 4 spare pages */
  readonly devicePages?: number;
  readonly platformMode?: boolean;
  /** sets SF_HW_SIG and hw_sig */
  readonly hwSig?: number;
  /** default: on when compressed (hibernate() sets SF_CRC32_MODE with compression) */
  readonly crc32Mode?: boolean;
  /** pages per compressed chunk, 1..UNC_PAGES (default UNC_PAGES) */
  readonly chunkPages?: number;
  /** when set, swap slots are a seeded permutation of the free pages instead of ascending */
  readonly slotSeed?: number;
  /** seeds the garbage left in chunk padding (default 1) */
  readonly paddingSeed?: number;
  /** the swap magic found before marking (default "SWAPSPACE2") */
  readonly origSig?: string;
}

export interface WrittenChunk {
  readonly firstStreamPage: number;
  readonly streamPages: number;
  readonly devicePages: readonly number[];
  readonly cmpLen: number | undefined;
}

export interface WrittenImage {
  readonly device: Uint8Array;
  readonly devicePages: number;
  readonly resumePage: number;
  readonly mapPages: readonly number[];
  /** used map entries (device pages of the stored pages) in stream order */
  readonly entries: readonly number[];
  readonly chunks: readonly WrittenChunk[];
  readonly flags: number;
  readonly crc32: number;
}

/** The bytes stored for a stream: one raw page per stream page, or [u64 cmp_len][block][garbage] per chunk. */
function storedUnits(
  stream: readonly Uint8Array[],
  opts: WriteOptions,
): {
  units: Uint8Array[];
  chunks: { firstStreamPage: number; streamPages: number; pages: number; cmpLen: number | undefined }[];
  crc: number;
} {
  const units: Uint8Array[] = [];
  const chunks: { firstStreamPage: number; streamPages: number; pages: number; cmpLen: number | undefined }[] = [];
  let crc = 0;
  const [info, ...rest] = stream;
  if (info === undefined) throw new Error('writeSwapImage: empty stream (swsusp_info is required)');
  units.push(info);
  chunks.push({ firstStreamPage: 0, streamPages: 1, pages: 1, cmpLen: undefined });
  if (opts.compression === 'none') {
    rest.forEach((p, i) => {
      crc = crc32Le(crc, p);
      units.push(p);
      chunks.push({ firstStreamPage: i + 1, streamPages: 1, pages: 1, cmpLen: undefined });
    });
    return { units, chunks, crc };
  }
  const chunkPages = Math.min(UNC_PAGES, Math.max(1, opts.chunkPages ?? UNC_PAGES));
  const encode = opts.compression === 'lz4' ? lz4CompressLiterals : lzo1xCompressLiterals;
  const garbage = xorshift32(opts.paddingSeed ?? 1);
  for (let s = 0; s < rest.length; s += chunkPages) {
    const group = rest.slice(s, s + chunkPages);
    const unc = new Uint8Array(group.length * PAGE_SIZE);
    group.forEach((p, i) => {
      unc.set(p, i * PAGE_SIZE);
    });
    crc = crc32Le(crc, unc);
    const cmp = encode(unc);
    const n = ceilDiv(CMP_HEADER + cmp.length, PAGE_SIZE);
    const buf = new Uint8Array(n * PAGE_SIZE);
    setU64(viewOf(buf), 0, cmp.length);
    buf.set(cmp, CMP_HEADER);
    // The padding is not zeroed by the kernel ("any garbage at the end will be discarded").
    for (let i = CMP_HEADER + cmp.length; i < buf.length; i++) buf[i] = garbage() & 0xff;
    for (let j = 0; j < n; j++) units.push(buf.subarray(j * PAGE_SIZE, (j + 1) * PAGE_SIZE));
    chunks.push({ firstStreamPage: s + 1, streamPages: group.length, pages: n, cmpLen: cmp.length });
  }
  return { units, chunks, crc };
}

/**
 * Write a stream to a fresh swap device the way swsusp_write does: allocate the first map page, then one slot per
 * stored page (a new map page slot each time 511 entries fill one), and finally mark the header page:
 * orig_sig ← the old magic, sig ← "S1SUSPEND\0", image ← first map page, flags, crc32, hw_sig.
 * @remarks Mirrors kernel/power/swap.c: get_swap_writer(), swap_write_page(), flush_swap_writer(),
 *   save_image() / save_compressed_image(), mark_swapfiles().
 */
export function writeSwapImage(stream: readonly Uint8Array[], opts: WriteOptions): WrittenImage {
  const resumePage = opts.resumeOffset ?? 0;
  const { units, chunks, crc } = storedUnits(stream, opts);
  const mapCount = Math.floor(units.length / MAP_PAGE_ENTRIES) + 1;
  const slotsNeeded = units.length + mapCount;
  const devicePages = opts.devicePages ?? resumePage + 1 + slotsNeeded + 4;
  if (devicePages < resumePage + 1 + slotsNeeded) {
    throw new Error(`writeSwapImage: ${devicePages} pages cannot hold ${slotsNeeded} slots after page ${resumePage}`);
  }
  const free: number[] = [];
  for (let p = resumePage + 1; p < devicePages; p++) free.push(p);
  if (opts.slotSeed !== undefined) {
    const next = xorshift32(opts.slotSeed);
    for (let i = free.length - 1; i > 0; i--) {
      const j = next() % (i + 1);
      const a = free[i] ?? 0;
      free[i] = free[j] ?? 0;
      free[j] = a;
    }
  }
  let slot = 0;
  const alloc = (): number => free[slot++] ?? 0;

  const device = new Uint8Array(devicePages * PAGE_SIZE);
  const writePage = (pageIndex: number, bytes: Uint8Array): void =>
    device.set(bytes.subarray(0, PAGE_SIZE), pageIndex * PAGE_SIZE);
  const mapPages: number[] = [alloc()];
  const entries: number[] = [];
  let cur = new Uint8Array(PAGE_SIZE);
  let k = 0;
  for (const unit of units) {
    const at = alloc();
    writePage(at, unit);
    entries.push(at);
    setU64(viewOf(cur), k * 8, at);
    k++;
    if (k >= MAP_PAGE_ENTRIES) {
      const nextMap = alloc();
      setU64(viewOf(cur), MAP_NEXT_SWAP, nextMap);
      writePage(mapPages[mapPages.length - 1] ?? 0, cur);
      mapPages.push(nextMap);
      cur = new Uint8Array(PAGE_SIZE);
      k = 0;
    }
  }
  writePage(mapPages[mapPages.length - 1] ?? 0, cur);

  let flags = 0;
  if (opts.platformMode) flags |= SF_PLATFORM_MODE;
  if (opts.compression === 'none') flags |= SF_NOCOMPRESS_MODE;
  if (opts.compression === 'lz4') flags |= SF_COMPRESSION_ALG_LZ4;
  if (opts.crc32Mode ?? opts.compression !== 'none') flags |= SF_CRC32_MODE;
  if (opts.hwSig !== undefined) flags |= SF_HW_SIG;
  const header = new Uint8Array(PAGE_SIZE);
  const hv = viewOf(header);
  header.set(asciiBytes((opts.origSig ?? 'SWAPSPACE2').padEnd(10, '\0').slice(0, 10)), SWSUSP_HEADER_ORIG_SIG);
  header.set(asciiBytes(HIBERNATE_SIG), SWSUSP_HEADER_SIG);
  setU64(hv, SWSUSP_HEADER_IMAGE, mapPages[0] ?? 0);
  hv.setUint32(SWSUSP_HEADER_FLAGS, flags, true);
  hv.setUint32(SWSUSP_HEADER_CRC32, flags & SF_CRC32_MODE ? crc : 0, true);
  hv.setUint32(SWSUSP_HEADER_HW_SIG, opts.hwSig ?? 0, true);
  writePage(resumePage, header);

  let u = 0;
  const written: WrittenChunk[] = chunks.map((c) => {
    const devs = entries.slice(u, u + c.pages);
    u += c.pages;
    return { firstStreamPage: c.firstStreamPage, streamPages: c.streamPages, devicePages: devs, cmpLen: c.cmpLen };
  });
  return { device, devicePages, resumePage, mapPages, entries, chunks: written, flags, crc32: crc };
}

export type BuildOptions = StreamOptions & WriteOptions;

/** buildStream then writeSwapImage. */
export function buildSwsuspImage(opts: BuildOptions): WrittenImage & { readonly stream: Stream } {
  const stream = buildStream(opts);
  return { ...writeSwapImage(stream.pages, opts), stream };
}

export interface RandomPagesOptions {
  readonly count: number;
  readonly seed: number;
  /** fraction of all-zero pages (default 0.25) */
  readonly zeroFraction?: number;
  /** first PFN (default 0x100) */
  readonly firstPfn?: number;
  /** PFN gaps are 1..maxGap (default 3) */
  readonly maxGap?: number;
}

/** Seeded saved pages in ascending PFN order: a mix of zero pages and pages of pseudo-random bytes. */
export function randomPages(opts: RandomPagesOptions): SavedPage[] {
  const next = xorshift32(opts.seed);
  const zeroFraction = opts.zeroFraction ?? 0.25;
  const maxGap = opts.maxGap ?? 3;
  const pages: SavedPage[] = [];
  let pfn = opts.firstPfn ?? 0x100;
  for (let i = 0; i < opts.count; i++) {
    const zero = next() / 0x1_0000_0000 < zeroFraction;
    pages.push({ pfn, data: zero ? new Uint8Array(PAGE_SIZE) : seededBytes(PAGE_SIZE, next()) });
    pfn += 1 + (next() % maxGap);
  }
  return pages;
}
