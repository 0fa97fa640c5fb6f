// On-disk layout of a swsusp swap image (kernel/power/swap.c, power.h, snapshot.c; x86-64, 4 KiB pages): constants and field codecs.
import { PAGE_SIZE } from '../../spec/brand.ts';
import { MAP_NEXT_BIT, MAP_PAGE_ENTRIES } from '../../spec/model/image.ts';

export { PAGE_SIZE };

/** A page-granular view of a block device: the page at a page index, or undefined past the end / unreadable. */
export type PageReader = (pageIndex: number) => Uint8Array | undefined;

// struct swsusp_header (swap.c), packed into the resume page; offsets from the start of the page.
export const HIBERNATE_SIG = 'S1SUSPEND\0';
export const SWSUSP_HEADER_SIG = 4086;
export const SWSUSP_HEADER_ORIG_SIG = 4076;
export const SWSUSP_HEADER_FLAGS = 4072;
export const SWSUSP_HEADER_IMAGE = 4064;
export const SWSUSP_HEADER_CRC32 = 4060;
export const SWSUSP_HEADER_HW_SIG = 4056;
export const SIG_LENGTH = 10;

// struct swap_map_page: MAP_PAGE_ENTRIES u64 page indices, then next_swap at byte MAP_NEXT_BIT / 8 (one definition
// with the model's, whose corrupt steps address next_swap by that bit).
export { MAP_PAGE_ENTRIES };
export const MAP_NEXT_SWAP = MAP_NEXT_BIT / 8;

// struct swsusp_info (power.h) and x86-64 struct restore_data_record (arch/x86/power/hibernate.c) at its start.
export const INFO_VERSION_CODE = 392;
export const INFO_NUM_PHYSPAGES = 400;
export const INFO_IMAGE_PAGES = 416;
export const INFO_PAGES = 424;
export const INFO_SIZE = 432;
export const X86_RESTORE_MAGIC_OFFSET = 24;
export const X86_E820_CHECKSUM_OFFSET = 32;
/** RESTORE_MAGIC on x86-64. */
export const X86_RESTORE_MAGIC = 0x23456789abcdef02n;

// pack_pfns / unpack_orig_pfns (snapshot.c): PFN entries per metadata page.
export const PFNS_PER_META_PAGE = PAGE_SIZE / 8;

// Compressed framing (swap.c): UNC_PAGES pages per chunk, [size_t cmp_len][data][garbage up to a page boundary].
export const UNC_PAGES = 32;
export const UNC_SIZE = UNC_PAGES * PAGE_SIZE;
export const CMP_HEADER = 8;
/** bytes_worst_compress(x) = x + x/16 + 64 + 3 + 2 (6.12 swap.c; 6.1's lzo1x_worst_compress is the same formula). */
export const bytesWorstCompress = (x: number): number => x + Math.floor(x / 16) + 64 + 3 + 2;
/** Largest cmp_len the reader accepts: bytes_worst_compress(UNC_SIZE) = 139,333. */
export const CMP_SIZE_MAX = bytesWorstCompress(UNC_SIZE);

// keep-sorted start
export const SF_COMPRESSION_ALG_LZ4 = 16;
export const SF_CRC32_MODE = 4;
export const SF_HW_SIG = 8;
export const SF_NOCOMPRESS_MODE = 2;
export const SF_PLATFORM_MODE = 1;
// keep-sorted end
export const SF_KNOWN_MASK = SF_PLATFORM_MODE | SF_NOCOMPRESS_MODE | SF_CRC32_MODE | SF_HW_SIG | SF_COMPRESSION_ALG_LZ4;

export const COMPRESSIONS = ['lz4', 'lzo', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** How a 6.12 resume picks the decompressor from the flags (software_resume); 6.1 ignores bit 16 and assumes LZO. */
export function compressionOfFlags(flags: number): Compression {
  if (flags & SF_NOCOMPRESS_MODE) return 'none';
  return flags & SF_COMPRESSION_ALG_LZ4 ? 'lz4' : 'lzo';
}

export interface DecodedFlags {
  readonly raw: number;
  readonly platformMode: boolean;
  readonly noCompress: boolean;
  readonly crc32Mode: boolean;
  readonly hwSig: boolean;
  readonly lz4: boolean;
  /** bits outside SF_KNOWN_MASK */
  readonly unknownBits: number;
  readonly compression: Compression;
}

export function decodeFlags(raw: number): DecodedFlags {
  return {
    raw,
    platformMode: (raw & SF_PLATFORM_MODE) !== 0,
    noCompress: (raw & SF_NOCOMPRESS_MODE) !== 0,
    crc32Mode: (raw & SF_CRC32_MODE) !== 0,
    hwSig: (raw & SF_HW_SIG) !== 0,
    lz4: (raw & SF_COMPRESSION_ALG_LZ4) !== 0,
    unknownBits: (raw & ~SF_KNOWN_MASK) >>> 0,
    compression: compressionOfFlags(raw),
  };
}

// PFN entry encoding (snapshot.c): BM_END_OF_MAP = ~0UL ends the list; 6.6+ sets bit 63 (ENCODED_PFN_ZERO_FLAG) on all-zero pages.
export const ZERO_FLAG_HI = 0x80000000;
/** Largest high word (bits 32..62) whose PFN is still a safe JS integer (< 2^53). */
export const SAFE_HI_LIMIT = 0x200000;

const TWO_32 = 0x1_0000_0000;

export function viewOf(page: Uint8Array): DataView {
  return new DataView(page.buffer, page.byteOffset, page.byteLength);
}

/** A native-endian (little-endian) u64 as a number; values at or above 2^53 lose precision but stay >= 2^53. */
export function getU64(view: DataView, offset: number): number {
  return view.getUint32(offset + 4, true) * TWO_32 + view.getUint32(offset, true);
}

/** Stores n (0 <= n < 2^53) as a little-endian u64. */
export function setU64(view: DataView, offset: number, n: number): void {
  view.setUint32(offset, (n % TWO_32) >>> 0, true);
  view.setUint32(offset + 4, Math.floor(n / TWO_32) >>> 0, true);
}

export function ascii(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

export function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

export const ceilDiv = (a: number, b: number): number => Math.floor((a + b - 1) / b);

/** A page reader over an in-memory device image; pages past the end (or a short last page) read as undefined. */
export function readerOf(device: Uint8Array): PageReader {
  return (pageIndex) => {
    if (!Number.isSafeInteger(pageIndex) || pageIndex < 0) return undefined;
    const start = pageIndex * PAGE_SIZE;
    if (start + PAGE_SIZE > device.byteLength) return undefined;
    return device.subarray(start, start + PAGE_SIZE);
  };
}
