import { describe, expect, it } from 'vitest';
import {
  AREC_MAGIC,
  AREC_PAGES,
  checkSavedOnce,
  decodeMetaPages,
  END_OF_MAP,
  IMG_MAGIC,
  PFN_ZERO,
  parseARecord,
  parseContainerHeader,
  readDiskImage,
  STALE_MAGIC,
  splitEntries,
  sum64,
  TAG_MAGIC,
  tagPage,
} from './image.ts';

const u64s = (vals: readonly bigint[], size = 4096): Buffer => {
  const b = Buffer.alloc(size);
  vals.forEach((v, i) => {
    b.writeBigUInt64LE(v, 8 * i);
  });
  return b;
};

describe('parseContainerHeader', () => {
  it('reads the fields at the kj_hdr offsets', () => {
    // Arrange
    const p = Buffer.alloc(4096);
    p.writeBigUInt64LE(IMG_MAGIC, 0);
    p.writeUInt32LE(1, 8);
    p.writeUInt32LE(1, 12);
    p.writeBigUInt64LE(1n, 16);
    p.writeBigUInt64LE(4105n, 24);
    p.writeBigUInt64LE(4096n, 32);
    p.writeBigUInt64LE(8n, 40);
    p.writeBigUInt64LE(0x50010f2n, 48);
    p.writeBigUInt64LE(2n, 88);
    p.writeBigUInt64LE(0x1000n, 96);
    p.writeBigUInt64LE(0xa0000n, 104);
    p.writeBigUInt64LE(0xf0000n, 112);
    p.writeBigUInt64LE(0x5000000n, 120);
    p.write('console=ttyS0 memmap=exactmap', 608, 'latin1');
    p.writeBigUInt64LE(12n, 2656);
    // Act
    const h = parseContainerHeader(p);
    // Assert
    expect(h).toMatchObject({
      committed: true,
      flags: 1,
      streamOff: 1,
      streamPages: 4105,
      dataPages: 4096,
      metaPages: 8,
    });
    expect(h.jumpBackEntry).toBe(0x50010f2n);
    expect(h.ranges).toEqual([
      [0x1000n, 0xa0000n],
      [0xf0000n, 0x5000000n],
    ]);
    expect(h.cmdline).toBe('console=ttyS0 memmap=exactmap');
    expect(h.zeroPages).toBe(12);
  });

  it('a zeroed page is not committed', () => {
    expect(parseContainerHeader(Buffer.alloc(4096)).committed).toBe(false);
  });

  it('a header A marked stale is readable but not committed', () => {
    const p = Buffer.alloc(4096);
    p.writeBigUInt64LE(STALE_MAGIC, 0);
    p.writeBigUInt64LE(77n, 32);
    expect(parseContainerHeader(p)).toMatchObject({ committed: false, stale: true, dataPages: 77 });
  });
});

describe('decodeMetaPages', () => {
  it('stops at the ~0 terminator', () => {
    expect(decodeMetaPages(u64s([5n, 9n, END_OF_MAP, 11n]), 10)).toEqual([5n, 9n]);
  });

  it('stops after count entries when the last page is full (no room for the terminator)', () => {
    const full = u64s(
      Array.from({ length: 512 }, (_, i) => BigInt(i + 1)),
      4096,
    );
    expect(decodeMetaPages(full, 512)).toHaveLength(512);
  });
});

describe('splitEntries', () => {
  it('masks bit 63 and reports it as the zero flag', () => {
    expect(splitEntries([5n, 9n | PFN_ZERO])).toEqual({ pfns: [5n, 9n], zero: [false, true] });
  });
});

describe('tagPage', () => {
  it('carries magic, seed, index and generation in the first four words, and differs by index', () => {
    const a = tagPage(7n, 3n, 1n);
    expect(a.readBigUInt64LE(0)).toBe(TAG_MAGIC);
    expect([a.readBigUInt64LE(8), a.readBigUInt64LE(16), a.readBigUInt64LE(24)]).toEqual([7n, 3n, 1n]);
    expect(a.equals(tagPage(7n, 4n, 1n))).toBe(false);
  });

  it('matches hibkj.c tag_fill word for word (constants printed by the C splitmix)', () => {
    const p = tagPage(0x5eedn, 0n, 1n);
    expect([p.readBigUInt64LE(32), p.readBigUInt64LE(40)]).toEqual([0xaeeafabc117f48den, 0x084b5c0e8b232ea2n]);
    expect(tagPage(7n, 3n, 2n).readBigUInt64LE(4088)).toBe(0xf053c0f1dcd62040n);
  });
});

describe('sum64', () => {
  it('wraps modulo 2^64', () => {
    expect(sum64(u64s([0xffffffffffffffffn, 2n], 16))).toBe(1n);
  });
});

describe('parseARecord', () => {
  it('reads seed, gen and the PFNs', () => {
    const b = u64s([AREC_MAGIC, 2n, 9n, 1n, 100n, 200n]);
    expect(parseARecord(b)).toEqual({ seed: 9n, gen: 1n, pfns: [100n, 200n] });
  });

  it('rejects a page without the magic', () => {
    expect(parseARecord(Buffer.alloc(4096))).toBeUndefined();
  });
});

describe('checkSavedOnce', () => {
  const arec = { seed: 1n, gen: 1n, pfns: [30n, 10n] };
  const pages = new Map<number, Buffer>();

  it('passes when every tagged PFN is present once with its tagged data', () => {
    // Arrange: stream [10, 20, 30]; tag index 1 is at PFN 10, tag index 0 at PFN 30
    pages.set(0, tagPage(1n, 1n, 1n));
    pages.set(1, Buffer.alloc(4096));
    pages.set(2, tagPage(1n, 0n, 1n));
    // Act
    const r = checkSavedOnce([10n, 20n, 30n], arec, (i) => pages.get(i) ?? Buffer.alloc(4096));
    // Assert
    expect(r).toEqual({ missing: 0, duplicated: 0, firstUnordered: undefined, wrongData: 0, checked: 2 });
  });

  it('maps positions to data pages skipping zero-flagged entries', () => {
    // Arrange: stream [10, 20(zero), 30] -> data pages [PFN 10, PFN 30]
    const data = [tagPage(1n, 1n, 1n), tagPage(1n, 0n, 1n)];
    // Act
    const r = checkSavedOnce([10n, 20n | PFN_ZERO, 30n], arec, (i) => data[i] ?? Buffer.alloc(4096));
    // Assert
    expect(r.wrongData).toBe(0);
    expect(r.missing).toBe(0);
  });

  it('a tagged page flagged as zero is wrong data', () => {
    const r = checkSavedOnce([10n | PFN_ZERO, 30n], arec, () => tagPage(1n, 0n, 1n));
    expect(r.wrongData).toBe(1);
  });

  it('reports missing, duplicated, unordered and wrong data', () => {
    const r = checkSavedOnce([30n, 30n, 40n], arec, () => Buffer.alloc(4096));
    expect(r.missing).toBe(1);
    expect(r.duplicated).toBe(1);
    expect(r.firstUnordered).toBe(1);
    expect(r.wrongData).toBe(1);
  });
});

describe('readDiskImage', () => {
  // A disk of 5 stream pages + A's record: info, one meta page [10, 20 (zero), 30, 0x30000 (outside RAM)], data pages
  // for PFNs 10, 30 and 0x30000. A tagged PFNs 30 (index 0) and 10 (index 1).
  const diskPages = 6 + AREC_PAGES;
  const ram = [{ start: 0, end: 0x1000 }];
  const build = () => {
    const pages: Buffer[] = Array.from({ length: diskPages }, () => Buffer.alloc(4096));
    const info = Buffer.alloc(4096);
    info.writeBigUInt64LE(3n, 416);
    info.writeBigUInt64LE(5n, 424);
    const meta = u64s([10n, 20n | PFN_ZERO, 30n, 0x30000n, END_OF_MAP]);
    const stream = [info, meta, tagPage(1n, 1n, 1n), tagPage(1n, 0n, 1n), Buffer.alloc(4096)];
    stream.forEach((b, i) => {
      pages[1 + i] = b;
    });
    const h = u64s([IMG_MAGIC, 1n, 1n, 5n, 3n, 1n, 0n, 0n, sum64(Buffer.concat(stream)), 0n]);
    h.writeBigUInt64LE(1n, 2656);
    pages[0] = h;
    pages[diskPages - AREC_PAGES] = u64s([AREC_MAGIC, 2n, 1n, 1n, 30n, 10n]);
    return pages;
  };
  const reader = (pages: Buffer[]) => (page: number, count: number) => Buffer.concat(pages.slice(page, page + count));

  it('checks a committed image end to end: sum, order, counts, PFNs outside RAM, tagged pages', () => {
    const d = readDiskImage(reader(build()), diskPages, ram);
    expect(d.header.committed).toBe(true);
    expect(d.check).toEqual({
      complete: true,
      compressor: 'none',
      stats: { dataPages: 3, zeroPages: 1, metaPages: 1, streamPages: 5, writes: 6 },
      pfnsAscending: true,
      countsConsistent: true,
      nosavePfns: 1,
      tagged: { expected: 2, missing: 0, duplicated: 0, wrongData: 0 },
    });
  });

  it('a changed data page breaks the sum: not complete, the tagged page has wrong data', () => {
    const pages = build();
    const data0 = pages[3] as Buffer;
    data0.writeUInt8(data0.readUInt8(100) ^ 1, 100);
    const c = readDiskImage(reader(pages), diskPages, ram).check;
    expect(c).toMatchObject({ complete: false, problem: expect.stringMatching(/sum64/) });
    expect(c?.tagged?.wrongData).toBe(1);
  });

  it('no image: a zeroed header has nothing to check', () => {
    expect(readDiskImage(() => Buffer.alloc(4096), diskPages, ram).check).toBeUndefined();
  });
});
