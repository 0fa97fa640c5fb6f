import { describe, expect, it } from 'vitest';
import { checkSwsuspImage } from './check.ts';
import { COMPRESSIONS, MAP_PAGE_ENTRIES, PAGE_SIZE, readerOf, X86_RESTORE_MAGIC } from './format.ts';
import { chunkOfStreamPage, dataPage, imageStats, parseSwsuspImage } from './parse.ts';
import { buildSwsuspImage, IMAGE_STYLES, randomPages, seededBytes, xorshift32 } from './write.ts';

const same = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  a !== undefined && b !== undefined && Buffer.from(a).equals(Buffer.from(b));

describe('parseSwsuspImage on images from write.ts', () => {
  it('decodes header, info, PFNs, zero flags and data of a small 6.12 LZO image', () => {
    // Arrange
    const pages = randomPages({ count: 40, seed: 1, zeroFraction: 0.3 });
    const built = buildSwsuspImage({ pages, style: '6.12', compression: 'lzo', platformMode: true, hwSig: 0xfeed });
    // Act
    const r = parseSwsuspImage(built.device, { devicePages: built.devicePages });
    // Assert
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const { image } = r;
    expect(image.header.sig).toBe('S1SUSPEND\0');
    expect(image.header.origSig).toBe('SWAPSPACE2');
    expect(image.header.flags).toMatchObject({
      platformMode: true,
      crc32Mode: true,
      hwSig: true,
      noCompress: false,
      compression: 'lzo',
    });
    expect(image.header.hwSig).toBe(0xfeed);
    expect(image.header.firstMapPage).toBe(built.mapPages[0]);
    expect(image.info.archMagic).toBe(X86_RESTORE_MAGIC);
    expect(image.info.pages).toBe(1 + 1 + built.stream.imagePages);
    expect(image.info.size).toBe(image.info.pages * PAGE_SIZE);
    expect(image.pfns).toEqual(pages.map((p) => p.pfn));
    expect(image.zeroFlags).toEqual(pages.map((p) => p.data.every((b) => b === 0)));
    expect(image.zeroFlags.some((z) => z)).toBe(true);
    const nonZero = pages.filter((p) => !p.data.every((b) => b === 0));
    expect(image.dataPages.length).toBe(nonZero.length);
    nonZero.forEach((p, k) => {
      expect(same(dataPage(image, k), p.data)).toBe(true);
    });
    expect(image.crc).toEqual({ expected: built.crc32, actual: built.crc32, checked: true, match: true });
  });

  it('stores zero pages as data in 6.1 style (no flags)', () => {
    // Arrange
    const pages = randomPages({ count: 30, seed: 2, zeroFraction: 0.5 });
    const built = buildSwsuspImage({ pages, style: '6.1', compression: 'none' });
    // Act
    const r = parseSwsuspImage(built.device, { devicePages: built.devicePages });
    // Assert
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.image.zeroFlags.every((z) => !z)).toBe(true);
    expect(r.image.dataPages.length).toBe(30);
    expect(r.image.crc.checked).toBe(false);
    expect(r.image.header.flags.noCompress).toBe(true);
  });

  it('accepts a page-reader function and a resume offset (swap file)', () => {
    // Arrange
    const built = buildSwsuspImage({
      pages: randomPages({ count: 20, seed: 3 }),
      style: '6.12',
      compression: 'lz4',
      resumeOffset: 7,
    });
    const reads: number[] = [];
    const base = readerOf(built.device);
    // Act
    const r = parseSwsuspImage(
      (i) => {
        reads.push(i);
        return base(i);
      },
      { devicePages: built.devicePages, resumeOffset: 7 },
    );
    // Assert
    expect(r.ok).toBe(true);
    expect(reads[0]).toBe(7);
    if (r.ok) expect(r.image.header.flags.compression).toBe('lz4');
  });

  it('handles the stored-page count hitting exactly one full map page (empty trailing map page)', () => {
    // Arrange: 6.1 nocompress, 509 pages → 1 info + 1 meta + 509 data = 511 stored pages
    const built = buildSwsuspImage({
      pages: randomPages({ count: 509, seed: 4, zeroFraction: 0 }),
      style: '6.1',
      compression: 'none',
    });
    // Act
    const r = parseSwsuspImage(built.device, { devicePages: built.devicePages });
    // Assert
    expect(built.entries.length).toBe(MAP_PAGE_ENTRIES);
    expect(built.mapPages.length).toBe(2);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.image.mapPages).toEqual(built.mapPages);
  });

  it('summarises the image as the spec ImageStats', () => {
    // Arrange: 6.12 nocompress, 5 pages of which 2 zero → 3 data, 1 meta, 5 stream pages, 5 + 1 map + 1 header writes
    const z = new Uint8Array(PAGE_SIZE);
    const pages = [z, seededBytes(PAGE_SIZE, 1), z, seededBytes(PAGE_SIZE, 2), seededBytes(PAGE_SIZE, 3)];
    const built = buildSwsuspImage({
      pages: pages.map((data, i) => ({ pfn: i + 1, data })),
      style: '6.12',
      compression: 'none',
    });
    const r = parseSwsuspImage(built.device, { devicePages: built.devicePages });
    if (!r.ok) throw new Error('parse');
    // Act / Assert
    expect(imageStats(r.image)).toEqual({ dataPages: 3, zeroPages: 2, metaPages: 1, streamPages: 5, writes: 7 });
  });

  it('reports where each stream page is stored', () => {
    // Arrange: 70 data pages in LZO chunks of 32 → chunks for stream pages 1.., 33.., 65..
    const built = buildSwsuspImage({
      pages: randomPages({ count: 70, seed: 5, zeroFraction: 0 }),
      style: '6.12',
      compression: 'lzo',
    });
    // Act
    const r = parseSwsuspImage(built.device, { devicePages: built.devicePages });
    // Assert
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.image.chunks.map((c) => [c.firstStreamPage, c.streamPages])).toEqual([
      [0, 1],
      [1, 32],
      [33, 32],
      [65, 7],
    ]);
    expect(r.image.chunks.map((c) => c.devicePages)).toEqual(built.chunks.map((c) => c.devicePages));
    expect(chunkOfStreamPage(r.image, 40)?.firstStreamPage).toBe(33);
    expect(chunkOfStreamPage(r.image, 72)).toBeUndefined();
  });
});

describe('round trip write → parse → check (seeded loop)', () => {
  it('reproduces PFNs, flags and data, and passes every check, over 40 random images', () => {
    const next = xorshift32(20261126);
    for (let iter = 0; iter < 40; iter++) {
      // Arrange
      const count = next() % 1300;
      const style = IMAGE_STYLES[next() % IMAGE_STYLES.length] ?? '6.12';
      const compression = COMPRESSIONS[next() % COMPRESSIONS.length] ?? 'none';
      const chunkPages = 1 + (next() % 32);
      const scattered = next() % 2 === 0;
      const resumeOffset = next() % 3 === 0 ? next() % 50 : 0;
      const pages = randomPages({ count, seed: next(), zeroFraction: (next() % 60) / 100, maxGap: 1 + (next() % 5) });
      const built = buildSwsuspImage({
        pages,
        style,
        compression,
        chunkPages,
        resumeOffset,
        ...(scattered ? { slotSeed: next() } : {}),
      });
      const label = `iter ${iter}: ${count} pages ${style} ${compression}/${chunkPages} scattered=${scattered} R=${resumeOffset}`;
      // Act
      const r = parseSwsuspImage(built.device, { devicePages: built.devicePages, resumeOffset });
      // Assert
      expect(r.ok, label).toBe(true);
      if (!r.ok) return;
      const { image } = r;
      expect(image.pfns, label).toEqual(pages.map((p) => p.pfn));
      const zero = pages.map((p) => style === '6.12' && p.data.every((b) => b === 0));
      expect(image.zeroFlags, label).toEqual(zero);
      const stored = pages.filter((_, i) => !zero[i]);
      expect(image.dataPages.length, label).toBe(stored.length);
      expect(
        stored.every((p, k) => same(image.dataPages[k], p.data)),
        label,
      ).toBe(true);
      expect(image.crc.actual, label).toBe(built.crc32);
      expect(checkSwsuspImage(image, { expectedPfns: pages.map((p) => p.pfn) }), label).toEqual([]);
    }
  });
});
