import { describe, expect, it } from 'vitest';
import { crc32Le } from './crc32.ts';
import { getU64, MAP_NEXT_SWAP, MAP_PAGE_ENTRIES, PAGE_SIZE } from './format.ts';
import { buildStream, buildSwsuspImage, packPfns, randomPages, seededBytes, writeSwapImage } from './write.ts';

const view = (p: Uint8Array | undefined): DataView => {
  if (p === undefined) throw new Error('missing page');
  return new DataView(p.buffer, p.byteOffset, p.byteLength);
};

describe('packPfns', () => {
  it('puts ~0 after the last entry and bit 63 on zero entries', () => {
    // Act
    const [m] = packPfns([
      { pfn: 5, zero: false },
      { pfn: 6, zero: true },
    ]);
    // Assert
    const v = view(m);
    expect(v.getBigUint64(0, true)).toBe(5n);
    expect(v.getBigUint64(8, true)).toBe((1n << 63n) | 6n);
    expect(v.getBigUint64(16, true)).toBe((1n << 64n) - 1n);
    expect(v.getBigUint64(24, true)).toBe(0n);
  });

  it('makes ceil(entries × 8 / 4096) pages, the last one full without a terminator at 512 entries', () => {
    // Arrange
    const e = (n: number) => Array.from({ length: n }, (_, i) => ({ pfn: i + 1, zero: false }));
    // Act / Assert
    expect(packPfns(e(0)).length).toBe(0);
    expect(packPfns(e(511)).length).toBe(1);
    const full = packPfns(e(512));
    expect(full.length).toBe(1);
    expect(view(full[0]).getBigUint64(511 * 8, true)).toBe(512n);
    expect(packPfns(e(513)).length).toBe(2);
  });
});

describe('buildStream', () => {
  it('elides zero pages in 6.12 style and stores them in 6.1 style', () => {
    // Arrange
    const pages = [
      { pfn: 1, data: new Uint8Array(PAGE_SIZE) },
      { pfn: 2, data: seededBytes(PAGE_SIZE, 1) },
    ];
    // Act
    const s612 = buildStream({ pages, style: '6.12' });
    const s61 = buildStream({ pages, style: '6.1' });
    // Assert
    expect([s612.imagePages, s612.zeroPages, s612.nrMeta, s612.pages.length]).toEqual([1, 1, 1, 3]);
    expect([s61.imagePages, s61.zeroPages, s61.nrMeta, s61.pages.length]).toEqual([2, 0, 1, 4]);
  });
});

describe('writeSwapImage', () => {
  it('allocates the first map page first, then one slot per stored page, like swap_write_page', () => {
    // Arrange: 6.1, 600 non-zero pages → 1 + 2 + 600 = 603 stored pages, 2 map pages
    const stream = buildStream({ pages: randomPages({ count: 600, seed: 1, zeroFraction: 0 }), style: '6.1' });
    // Act
    const img = writeSwapImage(stream.pages, { compression: 'none' });
    // Assert: map0 = 1, entries 2..512, map1 = 513, entries 514..
    expect(img.mapPages).toEqual([1, 2 + MAP_PAGE_ENTRIES]);
    expect(img.entries.slice(0, 2)).toEqual([2, 3]);
    expect(img.entries[MAP_PAGE_ENTRIES]).toBe(3 + MAP_PAGE_ENTRIES);
    const map0 = view(img.device.subarray(PAGE_SIZE, 2 * PAGE_SIZE));
    expect(getU64(map0, MAP_NEXT_SWAP)).toBe(2 + MAP_PAGE_ENTRIES);
  });

  it('sets the flags and the CRC of each mode', () => {
    // Arrange
    const stream = buildStream({ pages: randomPages({ count: 40, seed: 2 }), style: '6.12' });
    const crc = stream.pages.slice(1).reduce((c, p) => crc32Le(c, p), 0);
    // Act
    const none = writeSwapImage(stream.pages, { compression: 'none' });
    const lzo = writeSwapImage(stream.pages, { compression: 'lzo', platformMode: true });
    const lz4 = writeSwapImage(stream.pages, { compression: 'lz4', hwSig: 5 });
    // Assert
    expect([none.flags, lzo.flags, lz4.flags]).toEqual([2, 1 | 4, 4 | 8 | 16]);
    expect([none.crc32, lzo.crc32, lz4.crc32]).toEqual([crc, crc, crc]);
    const header = view(lz4.device.subarray(0, PAGE_SIZE));
    expect(header.getUint32(4060, true)).toBe(crc);
    expect(header.getUint32(4056, true)).toBe(5);
  });

  it('fills chunk padding with garbage, not zeros', () => {
    // Arrange / Act
    const img = buildSwsuspImage({
      pages: randomPages({ count: 3, seed: 3, zeroFraction: 0 }),
      style: '6.12',
      compression: 'lzo',
    });
    const chunk = img.chunks[1];
    const last = chunk?.devicePages[chunk.devicePages.length - 1] ?? 0;
    // Assert: the last page of the chunk ends with padding
    const tail = img.device.subarray((last + 1) * PAGE_SIZE - 64, (last + 1) * PAGE_SIZE);
    expect(tail.some((b) => b !== 0)).toBe(true);
  });

  it('refuses a device too small for the image', () => {
    const stream = buildStream({ pages: randomPages({ count: 10, seed: 4 }), style: '6.12' });
    expect(() => writeSwapImage(stream.pages, { compression: 'none', devicePages: 5 })).toThrow(/cannot hold/);
  });
});
