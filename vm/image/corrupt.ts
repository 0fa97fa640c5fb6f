// Fault injection on a stored swsusp image: flip one bit in a page of a region (the scenario `corrupt` step on a real disk).
import type { FaultRegion } from '../../spec/scenario/schema.ts';
import { CMP_HEADER, getU64, MAP_NEXT_SWAP, PAGE_SIZE, SWSUSP_HEADER_IMAGE, viewOf } from './format.ts';
import { chunkOfStreamPage, type ParseError, parseSwsuspImage, type SwsuspImage } from './parse.ts';

export interface CorruptTarget {
  readonly region: FaultRegion;
  /** page of the region, taken modulo the region's length */
  readonly index: number;
  /** bit index within the page, taken modulo PAGE_SIZE × 8 (byte bit >> 3, mask 1 << (bit & 7)) */
  readonly bit: number;
}

export interface CorruptHit {
  readonly region: FaultRegion;
  /** the region page actually hit (index modulo regionLength) */
  readonly index: number;
  readonly regionLength: number;
  /** uncompressed stream page the region page is (0 = swsusp_info), for header index 1, meta and data */
  readonly streamPage: number | undefined;
  /** whether the flipped bit is inside compressed chunk data rather than in the page itself */
  readonly compressed: boolean;
  /** the device page modified */
  readonly devicePage: number;
  readonly byteOffset: number;
  readonly mask: number;
}

export type CorruptResult =
  | { readonly ok: true; readonly bytes: Uint8Array; readonly hit: CorruptHit }
  | {
      readonly ok: false;
      readonly error: {
        readonly code: 'emptyRegion' | 'unparsable';
        readonly message: string;
        readonly cause?: ParseError;
      };
    };

export interface CorruptOptions {
  readonly resumeOffset?: number;
  /** default: dev.length / PAGE_SIZE */
  readonly devicePages?: number;
}

/**
 * Flip one bit of a stored image and say what was hit. Regions:
 * - `header`: index 0 is the swsusp_header page (resume page), index 1 the swsusp_info page (always stored raw);
 * - `map`: the swap-map pages in chain order;
 * - `meta`: the nr_meta PFN pages (stream pages 1..nr_meta);
 * - `data`: the data pages (stream pages after the metadata).
 * A raw page (nocompress images, the header pages, map pages) gets the bit flipped in place. For a compressed
 * image, a meta or data page exists only inside a chunk, so the flip lands in that chunk's compressed bytes
 * (never in its 8-byte cmp_len): uncompressed offset u of the chunk maps to compressed offset
 * ⌊u · cmp_len / chunk bytes⌋. It therefore corrupts compressed data: the result may fail to decompress, decode
 * to different pages anywhere in the chunk, or only change the CRC.
 * NOTE: meta and data pages are located through parseSwsuspImage, so on an image that no longer parses (e.g.
 * after an earlier corruption) only `header` index 0 and `map` (the chain walked as far as it stays on the device
 * without a cycle) can still be hit; other targets are reported as `unparsable`, not guessed.
 * @returns a modified copy of `dev`; `dev` itself is not changed.
 */
export function corruptImagePage(dev: Uint8Array, target: CorruptTarget, opts: CorruptOptions = {}): CorruptResult {
  const devicePages = opts.devicePages ?? Math.floor(dev.length / PAGE_SIZE);
  const parsed = parseSwsuspImage(dev, {
    devicePages,
    ...(opts.resumeOffset === undefined ? {} : { resumeOffset: opts.resumeOffset }),
  });
  const located = parsed.ok
    ? locate(parsed.image, target)
    : locateUnparsed(dev, devicePages, opts.resumeOffset ?? 0, target);
  if (!parsed.ok && located === undefined) {
    return {
      ok: false,
      error: {
        code: 'unparsable',
        message: `cannot locate ${target.region}: ${parsed.error.message}`,
        cause: parsed.error,
      },
    };
  }
  if (located === undefined)
    return { ok: false, error: { code: 'emptyRegion', message: `the image has no ${target.region} pages` } };
  const bytes = dev.slice();
  const at = located.devicePage * PAGE_SIZE + located.byteOffset;
  bytes[at] = (bytes[at] ?? 0) ^ located.mask;
  return { ok: true, bytes, hit: located };
}

const mod = (a: number, n: number): number => ((Math.trunc(a) % n) + n) % n;

/** Where a corrupt target lands in a parsed image (pure; no bytes change). */
export function locate(image: SwsuspImage, target: CorruptTarget): CorruptHit | undefined {
  const bitInPage = mod(target.bit, PAGE_SIZE * 8);
  const byteInPage = bitInPage >> 3;
  const mask = 1 << (bitInPage & 7);
  const raw = (
    region: FaultRegion,
    index: number,
    regionLength: number,
    devicePage: number,
    streamPage?: number,
  ): CorruptHit => ({
    region,
    index,
    regionLength,
    streamPage,
    compressed: false,
    devicePage,
    byteOffset: byteInPage,
    mask,
  });
  switch (target.region) {
    case 'header': {
      const index = mod(target.index, 2);
      if (index === 0) return raw('header', 0, 2, image.header.resumePage);
      const infoDev = image.chunks[0]?.devicePages[0];
      return infoDev === undefined ? undefined : raw('header', 1, 2, infoDev, 0);
    }
    case 'map': {
      const n = image.mapPages.length;
      if (n === 0) return undefined;
      const index = mod(target.index, n);
      return raw('map', index, n, image.mapPages[index] ?? 0);
    }
    case 'meta':
    case 'data': {
      const n = target.region === 'meta' ? image.nrMeta : image.dataPages.length;
      if (n === 0) return undefined;
      const index = mod(target.index, n);
      const streamPage = target.region === 'meta' ? 1 + index : 1 + image.nrMeta + index;
      const chunk = chunkOfStreamPage(image, streamPage);
      if (chunk === undefined) return undefined;
      if (chunk.cmpLen === undefined) return raw(target.region, index, n, chunk.devicePages[0] ?? 0, streamPage);
      const u = (streamPage - chunk.firstStreamPage) * PAGE_SIZE + byteInPage;
      const p = CMP_HEADER + Math.floor((u * chunk.cmpLen) / (chunk.streamPages * PAGE_SIZE));
      return {
        region: target.region,
        index,
        regionLength: n,
        streamPage,
        compressed: true,
        devicePage: chunk.devicePages[Math.floor(p / PAGE_SIZE)] ?? 0,
        byteOffset: p % PAGE_SIZE,
        mask,
      };
    }
  }
}

/** The header page and map chain of an image that does not parse, for `header` index 0 and `map` targets. */
function locateUnparsed(
  dev: Uint8Array,
  devicePages: number,
  resumePage: number,
  target: CorruptTarget,
): CorruptHit | undefined {
  const pageAt = (i: number): Uint8Array | undefined =>
    i >= 0 && i < devicePages && (i + 1) * PAGE_SIZE <= dev.length
      ? dev.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE)
      : undefined;
  const header = pageAt(resumePage);
  if (header === undefined) return undefined;
  const bitInPage = mod(target.bit, PAGE_SIZE * 8);
  const hit = (index: number, regionLength: number, devicePage: number): CorruptHit => ({
    region: target.region,
    index,
    regionLength,
    streamPage: undefined,
    compressed: false,
    devicePage,
    byteOffset: bitInPage >> 3,
    mask: 1 << (bitInPage & 7),
  });
  if (target.region === 'header') return mod(target.index, 2) === 0 ? hit(0, 2, resumePage) : undefined;
  if (target.region !== 'map') return undefined;
  const chain: number[] = [];
  const seen = new Set<number>([resumePage]);
  for (let cur = getU64(viewOf(header), SWSUSP_HEADER_IMAGE); cur !== 0 && !seen.has(cur); ) {
    const page = pageAt(cur);
    if (page === undefined) break;
    seen.add(cur);
    chain.push(cur);
    cur = getU64(viewOf(page), MAP_NEXT_SWAP);
  }
  if (chain.length === 0) return undefined;
  const index = mod(target.index, chain.length);
  return hit(index, chain.length, chain[index] ?? 0);
}
