// Crafted broken images: each parser guard, hit by an image from write.ts broken in one place.
import { describe, expect, it } from 'vitest';
import {
  CMP_SIZE_MAX,
  getU64,
  INFO_PAGES,
  MAP_NEXT_SWAP,
  MAP_PAGE_ENTRIES,
  PAGE_SIZE,
  readerOf,
  SWSUSP_HEADER_IMAGE,
  SWSUSP_HEADER_SIG,
  setU64,
} from './format.ts';
import { lzo1xCompressLiterals } from './lzo.ts';
import { type ParseErrorCode, parseSwsuspImage } from './parse.ts';
import { type BuildOptions, buildSwsuspImage, randomPages, type WrittenImage } from './write.ts';

const page = (dev: Uint8Array, i: number): DataView =>
  new DataView(dev.buffer, dev.byteOffset + i * PAGE_SIZE, PAGE_SIZE);

function build(opts: Partial<BuildOptions> & { count?: number } = {}): WrittenImage {
  return buildSwsuspImage({
    pages: randomPages({ count: opts.count ?? 60, seed: 42 }),
    style: '6.12',
    compression: 'none',
    ...opts,
  });
}

function errorOf(img: WrittenImage, devicePages = img.devicePages): ParseErrorCode | 'ok' {
  const r = parseSwsuspImage(img.device, { devicePages, resumeOffset: img.resumePage });
  return r.ok ? 'ok' : r.error.code;
}

/** Overwrite map entry `i` (counted over the whole chain). */
function setEntry(img: WrittenImage, i: number, value: number): void {
  const mapPage = img.mapPages[Math.floor(i / MAP_PAGE_ENTRIES)] ?? 0;
  setU64(page(img.device, mapPage), (i % MAP_PAGE_ENTRIES) * 8, value);
}

describe('parser guards on crafted broken images', () => {
  it('the unbroken images parse (control)', () => {
    for (const compression of ['none', 'lzo', 'lz4'] as const) expect(errorOf(build({ compression }))).toBe('ok');
  });

  it('badSignature: no S1SUSPEND at 4086', () => {
    // Arrange
    const img = build();
    img.device[SWSUSP_HEADER_SIG] = 0x53 ^ 0x01;
    // Act / Assert
    expect(errorOf(img)).toBe('badSignature');
  });

  it('badHeader: swsusp_header.image is 0', () => {
    const img = build();
    setU64(page(img.device, 0), SWSUSP_HEADER_IMAGE, 0);
    expect(errorOf(img)).toBe('badHeader');
  });

  it('badResumeOffset: resume offset beyond the device', () => {
    const img = build();
    const r = parseSwsuspImage(img.device, { devicePages: img.devicePages, resumeOffset: img.devicePages });
    expect(r.ok ? 'ok' : r.error.code).toBe('badResumeOffset');
  });

  it('mapChainCycle: the last map page points back to the first', () => {
    // Arrange: > 511 stored pages → 2 map pages
    const img = build({ count: 700, style: '6.1' });
    expect(img.mapPages.length).toBe(2);
    setU64(page(img.device, img.mapPages[1] ?? 0), MAP_NEXT_SWAP, img.mapPages[0] ?? 0);
    // Act / Assert
    expect(errorOf(img)).toBe('mapChainCycle');
  });

  it('mapChainCycle: a map page pointing at itself, or at the header page', () => {
    const self = build();
    setU64(page(self.device, self.mapPages[0] ?? 0), MAP_NEXT_SWAP, self.mapPages[0] ?? 0);
    expect(errorOf(self)).toBe('mapChainCycle');
    const toHeader = build({ resumeOffset: 5 });
    setU64(page(toHeader.device, toHeader.mapPages[0] ?? 0), MAP_NEXT_SWAP, 5);
    expect(errorOf(toHeader)).toBe('mapChainCycle');
  });

  it('mapPageOutOfRange: next_swap beyond the device', () => {
    const img = build();
    setU64(page(img.device, img.mapPages[0] ?? 0), MAP_NEXT_SWAP, img.devicePages + 3);
    expect(errorOf(img)).toBe('mapPageOutOfRange');
  });

  it('zeroEntry: a 0 entry where the stream needs a page', () => {
    const img = build();
    setEntry(img, 10, 0);
    expect(errorOf(img)).toBe('zeroEntry');
  });

  it('entryOutOfRange: an entry beyond the device (also a 2^60 one)', () => {
    const img = build();
    setEntry(img, 10, img.devicePages);
    expect(errorOf(img)).toBe('entryOutOfRange');
    const huge = build();
    page(huge.device, huge.mapPages[0] ?? 0).setUint32(10 * 8 + 4, 0x10000000, true);
    expect(errorOf(huge)).toBe('entryOutOfRange');
  });

  it('pageUnreadable: the reader cannot deliver a page the device claims to have', () => {
    // Arrange: a reader over a device cut short by one page, with devicePages still claiming the full size
    const img = build();
    const last = img.entries[img.entries.length - 1] ?? 0;
    const short = img.device.subarray(0, last * PAGE_SIZE);
    // Act
    const r = parseSwsuspImage(readerOf(short), { devicePages: img.devicePages });
    // Assert
    expect(r.ok ? 'ok' : r.error.code).toBe('pageUnreadable');
  });

  it('badInfo: pages < image_pages + 1', () => {
    const img = build();
    setU64(page(img.device, img.entries[0] ?? 0), INFO_PAGES, 3);
    expect(errorOf(img)).toBe('badInfo');
  });

  it('zeroEntry / truncatedStream: swsusp_info claims more pages than were stored', () => {
    // Arrange: one page more than stored; the next entry is 0 in a partial map page
    const img = build();
    const info = page(img.device, img.entries[0] ?? 0);
    setU64(info, INFO_PAGES, getU64(info, INFO_PAGES) + 1);
    expect(errorOf(img)).toBe('zeroEntry');
    // Arrange: exactly 511 stored pages and the trailing empty map page unlinked → the entry list runs out
    const full = build({ count: 509, style: '6.1' });
    expect(full.entries.length).toBe(MAP_PAGE_ENTRIES);
    setU64(page(full.device, full.mapPages[0] ?? 0), MAP_NEXT_SWAP, 0);
    const fullInfo = page(full.device, full.entries[0] ?? 0);
    setU64(fullInfo, INFO_PAGES, getU64(fullInfo, INFO_PAGES) + 1);
    expect(errorOf(full)).toBe('truncatedStream');
  });

  it('extraMapEntries: an entry after the last stream page, or a surplus map page', () => {
    const entry = build();
    setEntry(entry, entry.entries.length + 2, entry.entries[1] ?? 0);
    expect(errorOf(entry)).toBe('extraMapEntries');
    const surplus = build();
    setU64(page(surplus.device, surplus.mapPages[0] ?? 0), MAP_NEXT_SWAP, surplus.devicePages - 1);
    expect(errorOf(surplus)).toBe('extraMapEntries');
  });

  for (const compression of ['lzo', 'lz4'] as const) {
    it(`badCompressedLength (${compression}): cmp_len 0 and cmp_len over bytes_worst_compress(128 KiB)`, () => {
      const zero = build({ compression });
      setU64(page(zero.device, zero.chunks[1]?.devicePages[0] ?? 0), 0, 0);
      expect(errorOf(zero)).toBe('badCompressedLength');
      const over = build({ compression });
      setU64(page(over.device, over.chunks[1]?.devicePages[0] ?? 0), 0, CMP_SIZE_MAX + 1);
      expect(errorOf(over)).toBe('badCompressedLength');
    });

    it(`decompressFailed (${compression}): cmp_len one byte short of the real stream`, () => {
      const img = build({ compression });
      const first = page(img.device, img.chunks[1]?.devicePages[0] ?? 0);
      setU64(first, 0, getU64(first, 0) - 1);
      expect(errorOf(img)).toBe('decompressFailed');
    });
  }

  it('badDecompressedLength: a chunk that decompresses to 4095 bytes, or to 0', () => {
    for (const n of [4095, 0]) {
      // Arrange: replace chunk 1 by [cmp_len][LZO literals of n bytes] (it fits in its first page)
      const img = build({ compression: 'lzo' });
      const dev0 = img.chunks[1]?.devicePages[0] ?? 0;
      const cmp = lzo1xCompressLiterals(new Uint8Array(n).fill(1));
      const at = dev0 * PAGE_SIZE;
      const room = (img.chunks[1]?.devicePages.length ?? 1) * PAGE_SIZE;
      expect(8 + cmp.length).toBeLessThanOrEqual(room);
      // the chunk's pages are consecutive slots in a sequential image
      setU64(page(img.device, dev0), 0, cmp.length);
      img.device.set(cmp, at + 8);
      // Act / Assert
      expect(errorOf(img), `n=${n}`).toBe('badDecompressedLength');
    }
  });

  it('pfnOutOfRange: a PFN entry at or above 2^53', () => {
    const img = build();
    const meta = page(img.device, img.entries[1] ?? 0);
    meta.setUint32(5 * 8 + 4, 0x00400000, true);
    expect(errorOf(img)).toBe('pfnOutOfRange');
  });
});
