// kjump disk image reader and checks: mirrors vm/kjump/guest/hibkj.c (container header, swsusp-layout stream, A's record).
//
// Disk layout, in 4 KiB pages:
//   0                 container header (struct kj_hdr), written last: a valid magic means a committed image
//   1 ..              stream: swsusp_info header page, metaPages of 512 u64 PFNs (ascending, ended by ~0 when the
//                     last page has room; bit 63 = all-zero page with no data page), dataPages in the same PFN order
//   diskPages - 1024  A's record: magic, count, seed, gen, then count u64 PFNs of A's tagged pages
import { PAGE_SIZE } from '../../spec/brand.ts';
import type { ImageCheck, ImageStats } from '../../spec/outcome.ts';
import type { PfnRange } from '../console/e820.ts';

export const IMG_MAGIC = 0x474d494a4b464248n; // "HBFKJIMG" little-endian
/** A written by A after a jump back: the image is stale (A ran on) and must never be resumed; fields stay readable. */
export const STALE_MAGIC = 0x444c4f4a4b464248n; // "HBFKJOLD"
export const AREC_MAGIC = 0x4352414a4b464248n; // "HBFKJARC"
export const TAG_MAGIC = 0x4741544a4b464248n; // "HBFKJTAG"
export const AREC_PAGES = 1024;
export const END_OF_MAP = 0xffffffffffffffffn;
export const PFN_ZERO = 1n << 63n;
const MASK64 = (1n << 64n) - 1n;

export interface ContainerHeader {
  readonly committed: boolean;
  /** A came back after the image was written and marked it stale */
  readonly stale: boolean;
  readonly flags: number;
  readonly streamOff: number;
  readonly streamPages: number;
  readonly dataPages: number;
  /** entries flagged as all-zero pages (no data page) */
  readonly zeroPages: number;
  readonly metaPages: number;
  readonly jumpBackEntry: bigint;
  readonly listPa: bigint;
  readonly sum64: bigint;
  readonly lostPages: number;
  readonly regionPages: number;
  /** B's RAM, [start, end) bytes */
  readonly ranges: readonly (readonly [bigint, bigint])[];
  /** B's kernel command line */
  readonly cmdline: string;
}

/**
 * struct kj_hdr: magic u64 @0, version u32 @8, flags u32 @12, u64s from 16, nr_ranges @88, ranges[32][2] @96,
 * cmdline @608, zero_pages @2656.
 */
export function parseContainerHeader(page: Buffer): ContainerHeader {
  const u = (off: number) => page.readBigUInt64LE(off);
  const n = (off: number) => Number(u(off));
  const nr = Math.min(n(88), 32);
  const ranges: (readonly [bigint, bigint])[] = [];
  for (let i = 0; i < nr; i++) ranges.push([u(96 + 16 * i), u(104 + 16 * i)]);
  const cmdBytes = page.subarray(608, 608 + 2048);
  const nul = cmdBytes.indexOf(0);
  return {
    committed: u(0) === IMG_MAGIC,
    stale: u(0) === STALE_MAGIC,
    flags: page.readUInt32LE(12),
    streamOff: n(16),
    streamPages: n(24),
    dataPages: n(32),
    zeroPages: n(2656),
    metaPages: n(40),
    jumpBackEntry: u(48),
    listPa: u(56),
    sum64: u(64),
    lostPages: n(72),
    regionPages: n(80),
    ranges,
    cmdline: cmdBytes.subarray(0, nul < 0 ? cmdBytes.length : nul).toString('latin1'),
  };
}

/** Raw entries of the meta pages, stopping at ~0 or after `count` entries (pack_pfns' layout). */
export function decodeMetaPages(meta: Buffer, count: number): bigint[] {
  const out: bigint[] = [];
  for (let off = 0; off + 8 <= meta.length && out.length < count; off += 8) {
    const v = meta.readBigUInt64LE(off);
    if (v === END_OF_MAP) break;
    out.push(v);
  }
  return out;
}

/** Entries -> PFNs and zero flags (bit 63, ENCODED_PFN_ZERO_FLAG). */
export function splitEntries(entries: readonly bigint[]): { pfns: bigint[]; zero: boolean[] } {
  return { pfns: entries.map((e) => e & ~PFN_ZERO), zero: entries.map((e) => (e & PFN_ZERO) !== 0n) };
}

export interface ARecord {
  readonly seed: bigint;
  readonly gen: bigint;
  readonly pfns: readonly bigint[];
}

export function parseARecord(buf: Buffer): ARecord | undefined {
  if (buf.length < 32 || buf.readBigUInt64LE(0) !== AREC_MAGIC) return undefined;
  const count = Number(buf.readBigUInt64LE(8));
  const pfns: bigint[] = [];
  for (let i = 0; i < count && 32 + 8 * i + 8 <= buf.length; i++) pfns.push(buf.readBigUInt64LE(32 + 8 * i));
  return { seed: buf.readBigUInt64LE(16), gen: buf.readBigUInt64LE(24), pfns };
}

function splitmix(state: { s: bigint }): bigint {
  state.s = (state.s + 0x9e3779b97f4a7c15n) & MASK64;
  let z = state.s;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** The tagged page hibkj writes for (seed, index, gen): w0 magic, w1 seed, w2 index, w3 gen, w4.. splitmix stream. */
export function tagPage(seed: bigint, index: bigint, gen: bigint): Buffer {
  const b = Buffer.alloc(PAGE_SIZE);
  const st = { s: (seed ^ (index << 20n) ^ (gen << 48n)) & MASK64 };
  b.writeBigUInt64LE(TAG_MAGIC, 0);
  b.writeBigUInt64LE(seed, 8);
  b.writeBigUInt64LE(index, 16);
  b.writeBigUInt64LE(gen, 24);
  for (let i = 4; i < 512; i++) b.writeBigUInt64LE(splitmix(st), 8 * i);
  return b;
}

/** Sum of every u64 of the pages mod 2^64 (the header's sum64). */
export function sum64(buf: Buffer, start = 0n): bigint {
  let s = start;
  for (let off = 0; off + 8 <= buf.length; off += 8) s += buf.readBigUInt64LE(off);
  return s & MASK64;
}

export interface SavedOnceReport {
  /** A's tagged PFNs missing from the stream */
  readonly missing: number;
  /** A's tagged PFNs listed more than once */
  readonly duplicated: number;
  /** stream PFNs not strictly ascending (position of the first) */
  readonly firstUnordered: number | undefined;
  /** tagged PFNs whose data page does not carry the tag A wrote */
  readonly wrongData: number;
  readonly checked: number;
}

/**
 * EveryPageSavedOnce on the real image: every PFN A recorded appears exactly once in the stream's PFN list, which is
 * strictly ascending, and its data page is the page A tagged (a tagged page is never zero, so a zero flag is wrong
 * data). `entries` are raw meta entries; `dataPage(i)` returns the i-th data page.
 */
export function checkSavedOnce(
  entries: readonly bigint[],
  arec: ARecord,
  dataPage: (dataIndex: number) => Buffer,
): SavedOnceReport {
  const { pfns: streamPfns, zero } = splitEntries(entries);
  const dataIndex: number[] = [];
  let d = 0;
  for (const z of zero) dataIndex.push(z ? -1 : d++);
  const positions = new Map<bigint, number[]>();
  let firstUnordered: number | undefined;
  for (const [i, p] of streamPfns.entries()) {
    const prev = streamPfns[i - 1];
    if (prev !== undefined && p <= prev && firstUnordered === undefined) firstUnordered = i;
    const l = positions.get(p);
    if (l === undefined) positions.set(p, [i]);
    else l.push(i);
  }
  let missing = 0;
  let duplicated = 0;
  let wrongData = 0;
  for (const [idx, pfn] of arec.pfns.entries()) {
    const at = positions.get(pfn);
    if (at === undefined) {
      missing++;
      continue;
    }
    if (at.length > 1) duplicated++;
    const di = dataIndex[at[0] ?? -1] ?? -1;
    if (di < 0 || !dataPage(di).equals(tagPage(arec.seed, BigInt(idx), arec.gen))) wrongData++;
  }
  return { missing, duplicated, firstUnordered, wrongData, checked: arec.pfns.length };
}

/** Reads `count` pages from page `page` of the disk. */
export type PageReader = (page: number, count: number) => Buffer;

export interface DiskImage {
  readonly header: ContainerHeader;
  /** present when an image was written: committed, or committed by B and then marked stale by A */
  readonly check: ImageCheck | undefined;
}

/** swsusp_info offsets (x86-64) that hibkj fills in the stream's header page: image_pages, pages. */
const INFO_IMAGE_PAGES = 416;
const INFO_PAGES = 424;
const SUM_CHUNK_PAGES = 1024;

const inRam = (ram: readonly PfnRange[], pfn: bigint) => ram.some((r) => pfn >= BigInt(r.start) && pfn < BigInt(r.end));

/**
 * The image on the disk as a reader that shares no code with hibkj.c sees it: header, stream sum, PFN list order and
 * counts, listed PFNs outside A's RAM (`ram`, from A's firmware map), A's tagged pages against A's record.
 */
export function readDiskImage(read: PageReader, diskPages: number, ram: readonly PfnRange[] | undefined): DiskImage {
  const header = parseContainerHeader(read(0, 1));
  if (!header.committed && !header.stale) return { header, check: undefined };
  const stats: ImageStats = {
    dataPages: header.dataPages,
    zeroPages: header.zeroPages,
    metaPages: header.metaPages,
    streamPages: header.streamPages,
    writes: header.streamPages + 1,
  };
  const base = { compressor: 'none' as const, stats, pfnsAscending: false, countsConsistent: false };
  if (header.streamOff < 1 || header.streamOff + header.streamPages > diskPages - AREC_PAGES) {
    return { header, check: { ...base, complete: false, problem: 'the stream does not fit on the disk' } };
  }
  const info = read(header.streamOff, 1);
  const meta = read(header.streamOff + 1, header.metaPages);
  const entries = decodeMetaPages(meta, header.dataPages + header.zeroPages);
  const dataBase = header.streamOff + 1 + header.metaPages;
  let sum = sum64(Buffer.concat([info, meta]));
  for (let i = 0; i < header.dataPages; i += SUM_CHUNK_PAGES) {
    sum = sum64(read(dataBase + i, Math.min(SUM_CHUNK_PAGES, header.dataPages - i)), sum);
  }
  const { pfns, zero } = splitEntries(entries);
  const pfnsAscending = pfns.every((p, i) => i === 0 || p > (pfns[i - 1] as bigint));
  const countsConsistent =
    entries.length === header.dataPages + header.zeroPages &&
    zero.filter((z) => !z).length === header.dataPages &&
    header.metaPages === Math.ceil((entries.length * 8) / PAGE_SIZE) &&
    Number(info.readBigUInt64LE(INFO_IMAGE_PAGES)) === header.dataPages &&
    Number(info.readBigUInt64LE(INFO_PAGES)) === header.streamPages;
  const arec = parseARecord(read(diskPages - AREC_PAGES, AREC_PAGES));
  const saved = arec === undefined ? undefined : checkSavedOnce(entries, arec, (i) => read(dataBase + i, 1));
  const problem =
    sum !== header.sum64
      ? 'the stream does not match the header sum64'
      : header.lostPages > 0
        ? `${header.lostPages} listed pages of A that B could not find`
        : undefined;
  return {
    header,
    check: {
      ...base,
      complete: problem === undefined,
      ...(problem !== undefined ? { problem } : {}),
      pfnsAscending,
      countsConsistent,
      // A's memory map unknown (its console tore a line): not observed
      ...(ram === undefined ? {} : { nosavePfns: pfns.filter((p) => !inRam(ram, p)).length }),
      ...(saved !== undefined
        ? {
            tagged: {
              expected: saved.checked,
              missing: saved.missing,
              duplicated: saved.duplicated,
              wrongData: saved.wrongData,
            },
          }
        : {}),
    },
  };
}
