// User-space parser of a swsusp image on a swap device (§1.9 steps 1-6), mirroring kernel/power/swap.c load paths.
import type { ImageStats } from '../../spec/outcome.ts';
import { crc32Le } from './crc32.ts';
import {
  ascii,
  CMP_HEADER,
  CMP_SIZE_MAX,
  ceilDiv,
  type DecodedFlags,
  decodeFlags,
  getU64,
  HIBERNATE_SIG,
  INFO_IMAGE_PAGES,
  INFO_NUM_PHYSPAGES,
  INFO_PAGES,
  INFO_SIZE,
  INFO_VERSION_CODE,
  MAP_NEXT_SWAP,
  MAP_PAGE_ENTRIES,
  PAGE_SIZE,
  type PageReader,
  PFNS_PER_META_PAGE,
  readerOf,
  SAFE_HI_LIMIT,
  SIG_LENGTH,
  SWSUSP_HEADER_CRC32,
  SWSUSP_HEADER_FLAGS,
  SWSUSP_HEADER_HW_SIG,
  SWSUSP_HEADER_IMAGE,
  SWSUSP_HEADER_ORIG_SIG,
  SWSUSP_HEADER_SIG,
  UNC_SIZE,
  viewOf,
  X86_E820_CHECKSUM_OFFSET,
  X86_RESTORE_MAGIC,
  X86_RESTORE_MAGIC_OFFSET,
  ZERO_FLAG_HI,
} from './format.ts';
import { lz4DecompressInto } from './lz4.ts';
import { lzo1xDecompressInto } from './lzo.ts';

// keep-sorted start
export const PARSE_ERROR_CODES = [
  'badCompressedLength',
  'badDecompressedLength',
  'badHeader',
  'badInfo',
  'badResumeOffset',
  'badSignature',
  'decompressFailed',
  'entryOutOfRange',
  'extraMapEntries',
  'mapChainCycle',
  'mapPageOutOfRange',
  'pageUnreadable',
  'pfnOutOfRange',
  'truncatedStream',
  'zeroEntry',
] as const;
// keep-sorted end
export type ParseErrorCode = (typeof PARSE_ERROR_CODES)[number];

export interface ParseError {
  readonly code: ParseErrorCode;
  readonly message: string;
  /** the device page being read when the error was found, when there is one */
  readonly devicePage?: number;
}

/** Decoded struct swsusp_header (the resume page). */
export interface SwsuspHeader {
  readonly resumePage: number;
  readonly sig: string;
  readonly origSig: string;
  readonly flags: DecodedFlags;
  readonly crc32: number;
  readonly hwSig: number;
  /** `image`: page index of the first swap-map page */
  readonly firstMapPage: number;
}

/** Decoded struct swsusp_info with the x86-64 restore_data_record at its start. */
export interface SwsuspInfo {
  readonly versionCode: number;
  readonly numPhyspages: number;
  readonly imagePages: number;
  readonly pages: number;
  readonly size: number;
  readonly jumpAddress: bigint;
  readonly jumpAddressPhys: bigint;
  readonly cr3: bigint;
  readonly archMagic: bigint;
  readonly archMagicOk: boolean;
  readonly e820Checksum: number;
}

/** How one metadata page ended (unpack_orig_pfns stops a page at BM_END_OF_MAP). */
export interface MetaPageSummary {
  /** PFN entries decoded from this page */
  readonly entries: number;
  /** word index of the ~0 terminator, if the page has one */
  readonly terminatorAt: number | undefined;
  /** non-zero words after the terminator (pack_pfns leaves them zero) */
  readonly nonZeroAfterTerminator: number;
}

/**
 * Where a run of uncompressed stream pages is stored: a raw page (nocompress, and the swsusp_info page in every
 * mode) or one compressed chunk spread over consecutive map entries.
 */
export interface StreamChunk {
  /** index of the first uncompressed stream page it yields (0 = swsusp_info) */
  readonly firstStreamPage: number;
  readonly streamPages: number;
  /** index in the map-entry list of its first stored page */
  readonly firstEntry: number;
  /** device page indices of its stored pages, in order */
  readonly devicePages: readonly number[];
  /** compressed length (bytes after the 8-byte header), undefined for a raw page */
  readonly cmpLen: number | undefined;
}

export interface CrcStatus {
  /** header crc32, when SF_CRC32_MODE is set */
  readonly expected: number | undefined;
  /** crc32_le(0, …) over every uncompressed stream page after swsusp_info */
  readonly actual: number;
  /** whether the kernel would compare them (compressed mode with SF_CRC32_MODE) */
  readonly checked: boolean;
  readonly match: boolean;
}

export interface SwsuspImage {
  readonly header: SwsuspHeader;
  readonly info: SwsuspInfo;
  /** nr_meta_pages = pages − image_pages − 1 */
  readonly nrMeta: number;
  /** device page indices of the swap-map chain, in chain order */
  readonly mapPages: readonly number[];
  /** every map entry (511 per map page, trailing zeros included) */
  readonly mapEntries: readonly number[];
  /** map entries the stream used (the rest must be 0) */
  readonly usedEntries: number;
  /** PFNs in list order, zero flag removed */
  readonly pfns: readonly number[];
  /** bit 63 of each entry (6.6+ zero-page elision) */
  readonly zeroFlags: readonly boolean[];
  readonly meta: readonly MetaPageSummary[];
  readonly infoPage: Uint8Array;
  readonly metaPages: readonly Uint8Array[];
  /** every page produced after the metadata (exactly image_pages unless the last chunk over-produced) */
  readonly dataPages: readonly Uint8Array[];
  /** uncompressed stream pages produced after swsusp_info */
  readonly streamPagesProduced: number;
  readonly crc: CrcStatus;
  /** chunk 0 is swsusp_info; then one per raw page (nocompress) or per compressed chunk */
  readonly chunks: readonly StreamChunk[];
}

export type ParseResult =
  | { readonly ok: true; readonly image: SwsuspImage }
  | { readonly ok: false; readonly error: ParseError };

export interface ParseOptions {
  /** page index of the swap header (0 for a partition; the swap file's resume_offset) */
  readonly resumeOffset?: number;
  /** device size in pages; map entries at or beyond it are rejected */
  readonly devicePages: number;
  /**
   * stop after the PFN metadata: header, map chain, swsusp_info and the metadata pages only (no data chunks, no
   * CRC, no check of the entries after the stream). What imageStats() needs, in milliseconds, also for an image
   * torn after its metadata. usedEntries is then the count of leading non-zero map entries.
   */
  readonly metadataOnly?: boolean;
}

/** Decompressed stream pages are allocated this many at a time (4 MiB). */
const STREAM_SEGMENT_PAGES = 1024;

class ParseFailure {
  readonly error: ParseError;
  constructor(error: ParseError) {
    this.error = error;
  }
}

function bail(code: ParseErrorCode, message: string, devicePage?: number): never {
  throw new ParseFailure(devicePage === undefined ? { code, message } : { code, message, devicePage });
}

export function decodeSwsuspHeader(page: Uint8Array, resumePage: number): SwsuspHeader {
  const v = viewOf(page);
  return {
    resumePage,
    sig: ascii(page.subarray(SWSUSP_HEADER_SIG, SWSUSP_HEADER_SIG + SIG_LENGTH)),
    origSig: ascii(page.subarray(SWSUSP_HEADER_ORIG_SIG, SWSUSP_HEADER_ORIG_SIG + SIG_LENGTH)),
    flags: decodeFlags(v.getUint32(SWSUSP_HEADER_FLAGS, true)),
    crc32: v.getUint32(SWSUSP_HEADER_CRC32, true),
    hwSig: v.getUint32(SWSUSP_HEADER_HW_SIG, true),
    firstMapPage: getU64(v, SWSUSP_HEADER_IMAGE),
  };
}

export function decodeSwsuspInfo(page: Uint8Array): SwsuspInfo {
  const v = viewOf(page);
  const archMagic = v.getBigUint64(X86_RESTORE_MAGIC_OFFSET, true);
  return {
    versionCode: v.getUint32(INFO_VERSION_CODE, true),
    numPhyspages: getU64(v, INFO_NUM_PHYSPAGES),
    imagePages: getU64(v, INFO_IMAGE_PAGES),
    pages: getU64(v, INFO_PAGES),
    size: getU64(v, INFO_SIZE),
    jumpAddress: v.getBigUint64(0, true),
    jumpAddressPhys: v.getBigUint64(8, true),
    cr3: v.getBigUint64(16, true),
    archMagic,
    archMagicOk: archMagic === X86_RESTORE_MAGIC,
    e820Checksum: v.getUint32(X86_E820_CHECKSUM_OFFSET, true),
  };
}

/**
 * Parse the swsusp image whose header sits at page `resumeOffset` of a device.
 *
 * Steps (§1.9): header page → map chain (all of it first, as get_swap_reader does) → swsusp_info from the first
 * entry → the stream: `pages − 1` raw pages (SF_NOCOMPRESS_MODE), or compressed chunks
 * `[u64 cmp_len][LZO1X | LZ4 block][garbage]` until `pages − 1` pages are produced → metadata pages decoded into
 * PFNs → CRC over the uncompressed stream.
 * Guards, all returned as `{ok: false}`: map-chain cycles and pages off the device, entries that are 0 or off the
 * device where the stream needs one, cmp_len 0 or above bytes_worst_compress(UNC_SIZE), decompression failures,
 * decompressed lengths that are 0 or not a multiple of PAGE_SIZE, and map entries or map pages beyond what the
 * stream used (swap_write_page allocates a new map page only when the previous one is full).
 * Semantic checks on a well-formed stream (PFN order, counts, CRC match) are left to check.ts.
 * @remarks Mirrors kernel/power/swap.c: swsusp_check(), get_swap_reader(), swap_read_page(), load_image(),
 *   load_compressed_image(); and snapshot.c: load_header(), unpack_orig_pfns().
 */
export function parseSwsuspImage(source: Uint8Array | PageReader, opts: ParseOptions): ParseResult {
  try {
    return { ok: true, image: parseOrThrow(typeof source === 'function' ? source : readerOf(source), opts) };
  } catch (e) {
    if (e instanceof ParseFailure) return { ok: false, error: e.error };
    throw e;
  }
}

function parseOrThrow(reader: PageReader, opts: ParseOptions): SwsuspImage {
  const { devicePages } = opts;
  const resumePage = opts.resumeOffset ?? 0;
  const read = (pageIndex: number, what: string): Uint8Array => {
    const page = reader(pageIndex);
    if (page === undefined || page.length < PAGE_SIZE)
      bail('pageUnreadable', `cannot read ${what} at page ${pageIndex}`, pageIndex);
    return page;
  };
  if (!Number.isSafeInteger(resumePage) || resumePage < 0 || resumePage >= devicePages) {
    bail('badResumeOffset', `resume offset ${resumePage} is outside a device of ${devicePages} pages`);
  }

  // 1. Header page.
  const header = decodeSwsuspHeader(read(resumePage, 'swsusp_header'), resumePage);
  if (header.sig !== HIBERNATE_SIG) {
    bail('badSignature', `no image: signature ${JSON.stringify(header.sig)} is not "S1SUSPEND\\0"`, resumePage);
  }
  if (header.firstMapPage === 0) bail('badHeader', 'swsusp_header.image is 0', resumePage);

  // 2. Map chain; the kernel has no cycle check, so a cycle would loop for ever there.
  const mapPages: number[] = [];
  const mapEntries: number[] = [];
  const seen = new Set<number>([resumePage]);
  for (let cur = header.firstMapPage; cur !== 0; ) {
    if (cur >= devicePages)
      bail('mapPageOutOfRange', `swap-map page ${cur} is beyond the device (${devicePages} pages)`, cur);
    if (seen.has(cur))
      bail('mapChainCycle', `swap-map chain revisits page ${cur} after ${mapPages.length} map pages`, cur);
    seen.add(cur);
    const v = viewOf(read(cur, 'swap-map page'));
    mapPages.push(cur);
    for (let i = 0; i < MAP_PAGE_ENTRIES; i++) mapEntries.push(getU64(v, i * 8));
    cur = getU64(v, MAP_NEXT_SWAP);
  }

  let k = 0;
  const nextEntry = (): number => {
    if (k >= mapEntries.length) bail('truncatedStream', `the swap map ends after ${mapEntries.length} entries`);
    const e = mapEntries[k] ?? 0;
    if (e === 0) bail('zeroEntry', `map entry ${k} is 0 where the stream needs a page`);
    if (e >= devicePages)
      bail('entryOutOfRange', `map entry ${k} = ${e} is beyond the device (${devicePages} pages)`, e);
    k++;
    return e;
  };

  // 3. swsusp_info; load_header: nr_meta_pages = pages − image_pages − 1.
  const infoDev = nextEntry();
  const infoPage = read(infoDev, 'swsusp_info');
  const info = decodeSwsuspInfo(infoPage);
  if (!Number.isSafeInteger(info.pages) || !Number.isSafeInteger(info.imagePages) || info.pages < info.imagePages + 1) {
    bail('badInfo', `swsusp_info: pages ${info.pages} < image_pages ${info.imagePages} + 1`, infoDev);
  }
  const nrMeta = info.pages - info.imagePages - 1;
  const chunks: StreamChunk[] = [
    { firstStreamPage: 0, streamPages: 1, firstEntry: 0, devicePages: [infoDev], cmpLen: undefined },
  ];

  // 4. The stream after swsusp_info.
  const toRead = opts.metadataOnly === true ? Math.min(info.pages - 1, nrMeta) : info.pages - 1;
  const stream: Uint8Array[] = [];
  let crc = 0;
  const compression = header.flags.compression;
  if (compression === 'none') {
    while (stream.length < toRead) {
      const firstEntry = k;
      const dev = nextEntry();
      const page = read(dev, `stream page ${stream.length + 1}`);
      crc = crc32Le(crc, page);
      chunks.push({
        firstStreamPage: stream.length + 1,
        streamPages: 1,
        firstEntry,
        devicePages: [dev],
        cmpLen: undefined,
      });
      stream.push(page);
    }
  } else {
    const decompress = compression === 'lz4' ? lz4DecompressInto : lzo1xDecompressInto;
    // One scratch buffer for the stored pages of a chunk; the output goes into segments of STREAM_SEGMENT_PAGES
    // (never fewer than a chunk's UNC_SIZE free), so stream pages are views and nothing is allocated per chunk.
    const scratch = new Uint8Array(ceilDiv(CMP_HEADER + CMP_SIZE_MAX, PAGE_SIZE) * PAGE_SIZE);
    let segment = new Uint8Array(0);
    let segOff = 0;
    while (stream.length < toRead) {
      const firstEntry = k;
      const dev0 = nextEntry();
      const first = read(dev0, 'compressed chunk');
      const cmpLen = getU64(viewOf(first), 0);
      if (cmpLen === 0 || cmpLen > CMP_SIZE_MAX) {
        bail(
          'badCompressedLength',
          `chunk at stream page ${stream.length + 1}: cmp_len ${cmpLen} not in 1..${CMP_SIZE_MAX}`,
          dev0,
        );
      }
      const need = ceilDiv(CMP_HEADER + cmpLen, PAGE_SIZE);
      scratch.set(first.subarray(0, PAGE_SIZE), 0);
      const devs = [dev0];
      for (let j = 1; j < need; j++) {
        const dev = nextEntry();
        devs.push(dev);
        scratch.set(read(dev, 'compressed chunk').subarray(0, PAGE_SIZE), j * PAGE_SIZE);
      }
      if (segment.length - segOff < UNC_SIZE) {
        const pages = Math.min(STREAM_SEGMENT_PAGES, Math.max(UNC_SIZE / PAGE_SIZE, toRead - stream.length));
        segment = new Uint8Array(Math.max(pages * PAGE_SIZE, UNC_SIZE));
        segOff = 0;
      }
      const r = decompress(scratch.subarray(CMP_HEADER, CMP_HEADER + cmpLen), segment, segOff, UNC_SIZE);
      if (typeof r !== 'number') {
        bail(
          'decompressFailed',
          `${compression} chunk at stream page ${stream.length + 1} (cmp_len ${cmpLen}): ${r.error}`,
          dev0,
        );
      }
      const uncLen = r;
      if (uncLen === 0 || uncLen % PAGE_SIZE !== 0) {
        bail(
          'badDecompressedLength',
          `chunk at stream page ${stream.length + 1} decompressed to ${uncLen} bytes`,
          dev0,
        );
      }
      crc = crc32Le(crc, segment.subarray(segOff, segOff + uncLen));
      chunks.push({
        firstStreamPage: stream.length + 1,
        streamPages: uncLen / PAGE_SIZE,
        firstEntry,
        devicePages: devs,
        cmpLen,
      });
      for (let off = segOff; off < segOff + uncLen; off += PAGE_SIZE)
        stream.push(segment.subarray(off, off + PAGE_SIZE));
      segOff += uncLen;
    }
  }

  if (opts.metadataOnly === true) k = leadingNonZero(mapEntries);
  // Nothing may follow: the writer fills entries in order and opens a new map page only when one is full.
  for (let i = k; i < mapEntries.length && opts.metadataOnly !== true; i++) {
    if (mapEntries[i] !== 0)
      bail('extraMapEntries', `map entry ${i} = ${mapEntries[i]} follows the last stream page (entry ${k - 1})`);
  }
  const mapPagesNeeded = Math.floor(k / MAP_PAGE_ENTRIES) + 1;
  if (mapPages.length > mapPagesNeeded && opts.metadataOnly !== true) {
    bail('extraMapEntries', `${mapPages.length} swap-map pages for ${k} entries (the writer makes ${mapPagesNeeded})`);
  }

  // 6. Metadata pages: PFN entries up to BM_END_OF_MAP (~0), bit 63 = zero page.
  const metaPages = stream.slice(0, nrMeta);
  const pfns: number[] = [];
  const zeroFlags: boolean[] = [];
  const meta: MetaPageSummary[] = metaPages.map((page, m) => {
    const v = viewOf(page);
    let terminatorAt: number | undefined;
    let nonZeroAfterTerminator = 0;
    let entries = 0;
    for (let j = 0; j < PFNS_PER_META_PAGE; j++) {
      const lo = v.getUint32(j * 8, true);
      const hi = v.getUint32(j * 8 + 4, true);
      if (terminatorAt !== undefined) {
        if (lo !== 0 || hi !== 0) nonZeroAfterTerminator++;
        continue;
      }
      if (lo === 0xffffffff && hi === 0xffffffff) {
        terminatorAt = j;
        continue;
      }
      const pfnHi = (hi & ~ZERO_FLAG_HI) >>> 0;
      if (pfnHi >= SAFE_HI_LIMIT) {
        bail(
          'pfnOutOfRange',
          `meta page ${m} entry ${j}: PFN 0x${pfnHi.toString(16)}${lo.toString(16).padStart(8, '0')} >= 2^53`,
        );
      }
      pfns.push(pfnHi * 0x1_0000_0000 + lo);
      zeroFlags.push((hi & ZERO_FLAG_HI) !== 0);
      entries++;
    }
    return { entries, terminatorAt, nonZeroAfterTerminator };
  });

  // 5. CRC (load_compressed_image compares it only in compressed mode with SF_CRC32_MODE).
  const checked = compression !== 'none' && header.flags.crc32Mode && opts.metadataOnly !== true;
  const expected = header.flags.crc32Mode ? header.crc32 : undefined;
  return {
    header,
    info,
    nrMeta,
    mapPages,
    mapEntries,
    usedEntries: k,
    pfns,
    zeroFlags,
    meta,
    infoPage,
    metaPages,
    dataPages: stream.slice(nrMeta),
    streamPagesProduced: stream.length,
    crc: { expected, actual: crc, checked, match: !checked || expected === crc },
    chunks,
  };
}

const leadingNonZero = (entries: readonly number[]): number => {
  const i = entries.indexOf(0);
  return i < 0 ? entries.length : i;
};

/** The chunk holding uncompressed stream page `streamPage` (0 = swsusp_info), or undefined past the end. */
export function chunkOfStreamPage(image: SwsuspImage, streamPage: number): StreamChunk | undefined {
  let lo = 0;
  let hi = image.chunks.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = image.chunks[mid];
    if (c === undefined) return undefined;
    if (streamPage < c.firstStreamPage) hi = mid - 1;
    else if (streamPage >= c.firstStreamPage + c.streamPages) lo = mid + 1;
    else return c;
  }
  return undefined;
}

/** Data page k paired with the k-th PFN whose zero flag is clear (§1.9 step 8); undefined past the end. */
export function dataPage(image: SwsuspImage, k: number): Uint8Array | undefined {
  return image.dataPages[k];
}

/**
 * The spec's ImageStats for a parsed image: writes = stored stream pages + map pages + the swap header page,
 * i.e. every device page swsusp_write touched.
 */
export function imageStats(image: SwsuspImage): ImageStats {
  return {
    dataPages: image.info.imagePages,
    zeroPages: image.zeroFlags.reduce((n, z) => (z ? n + 1 : n), 0),
    metaPages: image.nrMeta,
    streamPages: image.info.pages,
    writes: image.usedEntries + image.mapPages.length + 1,
  };
}
