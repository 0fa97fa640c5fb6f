import { describe, expect, it } from 'vitest';
import type { InvariantName } from '../../spec/invariants/names.ts';
import { type AgentTag, checkAgentTags, checkSwsuspImage, findTaggedPages, type TaggedPage } from './check.ts';
import { PAGE_SIZE, SF_CRC32_MODE, SWSUSP_HEADER_CRC32, SWSUSP_HEADER_FLAGS, setU64 } from './format.ts';
import { parseSwsuspImage, type SwsuspImage } from './parse.ts';
import {
  buildSwsuspImage,
  encodeSwsuspInfo,
  type PfnEntry,
  packPfns,
  randomPages,
  seededBytes,
  writeSwapImage,
} from './write.ts';

const dataPages = (n: number, seed: number): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => seededBytes(PAGE_SIZE, seed + i));

/** Parse a nocompress image made from a hand-built stream: info, the given meta pages, n data pages. */
function imageOf(
  meta: Uint8Array[],
  imagePages: number,
  opts: { compression?: 'none' | 'lzo'; extraPages?: number } = {},
): SwsuspImage {
  const info = encodeSwsuspInfo({ numPhyspages: 1 << 20, imagePages, pages: 1 + meta.length + imagePages });
  const stream = [info, ...meta, ...dataPages(imagePages + (opts.extraPages ?? 0), 7)];
  const img = writeSwapImage(stream, { compression: opts.compression ?? 'none' });
  const r = parseSwsuspImage(img.device, { devicePages: img.devicePages });
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.image;
}

const entries = (pfns: number[], zero: (i: number) => boolean = () => false): PfnEntry[] =>
  pfns.map((pfn, i) => ({ pfn, zero: zero(i) }));
const names = (vs: readonly { invariant: InvariantName }[]): InvariantName[] => vs.map((v) => v.invariant);

describe('checkSwsuspImage', () => {
  it('finds nothing wrong with well-formed images of every kind', () => {
    for (const compression of ['none', 'lzo', 'lz4'] as const) {
      for (const style of ['6.1', '6.12'] as const) {
        // Arrange
        const pages = randomPages({ count: 600, seed: 3 });
        const img = buildSwsuspImage({ pages, style, compression });
        const r = parseSwsuspImage(img.device, { devicePages: img.devicePages });
        if (!r.ok) throw new Error(r.error.message);
        // Act
        const v = checkSwsuspImage(r.image, {
          expectedPfns: pages.map((p) => p.pfn),
          ramRanges: [{ start: 0, end: 1 << 20 }],
        });
        // Assert
        expect(v, `${compression} ${style}`).toEqual([]);
      }
    }
  });

  it('flags PFNs that are not strictly ascending, duplicates included', () => {
    // Arrange
    const image = imageOf(packPfns(entries([10, 12, 11, 13, 13])), 5);
    // Act
    const v = checkSwsuspImage(image, { step: 4 });
    // Assert
    expect(v.map((x) => x.message)).toEqual([
      'PFN list not strictly ascending at entry 2',
      'PFN list not strictly ascending at entry 4 (duplicate)',
    ]);
    expect(v.every((x) => x.invariant === 'EveryPageSavedOnce' && x.step === 4)).toBe(true);
  });

  it('caps repeated problems and says how many were left out', () => {
    // Arrange: 20 descending PFNs → 19 order violations
    const image = imageOf(packPfns(entries(Array.from({ length: 20 }, (_, i) => 100 - i))), 20);
    // Act
    const v = checkSwsuspImage(image, { maxPerCheck: 3 });
    // Assert
    expect(v.length).toBe(4);
    expect(v[3]?.message).toBe('16 more out-of-order PFN entries not listed (19 in total)');
  });

  it('flags an end-of-map marker before the last metadata page, and a wrong nr_meta', () => {
    // Arrange: page 0 holds 3 PFNs and ~0, page 1 holds 2 more (the kernel would read both)
    const [m0] = packPfns(entries([1, 2, 3]));
    const [m1] = packPfns(entries([4, 5]));
    if (m0 === undefined || m1 === undefined) throw new Error('packPfns');
    const image = imageOf([m0, m1], 5);
    // Act
    const v = checkSwsuspImage(image);
    // Assert
    expect(v.map((x) => x.message)).toEqual([
      'end-of-map marker in metadata page 0 of 2 (not the last)',
      'nr_meta_pages does not fit 5 PFN entries',
    ]);
    expect(v[1]).toMatchObject({ expected: '1', actual: '2' });
  });

  it('flags non-zero words after the end-of-map marker', () => {
    // Arrange
    const [m0] = packPfns(entries([1, 2, 3]));
    if (m0 === undefined) throw new Error('packPfns');
    setU64(new DataView(m0.buffer), 100 * 8, 77);
    const image = imageOf([m0], 3);
    // Act / Assert
    expect(names(checkSwsuspImage(image))).toEqual(['EveryPageSavedOnce']);
    expect(checkSwsuspImage(image)[0]?.message).toContain('non-zero words after the end-of-map marker');
  });

  it('flags unflagged entries that differ from image_pages', () => {
    // Arrange: 3 entries, one flagged zero, but 3 data pages stored
    const image = imageOf(packPfns(entries([1, 2, 3], (i) => i === 1)), 3);
    // Act
    const v = checkSwsuspImage(image);
    // Assert
    expect(v).toEqual([
      {
        invariant: 'EveryPageSavedOnce',
        message: 'PFN entries without the zero flag differ from image_pages',
        expected: '3',
        actual: '2',
      },
    ]);
  });

  it('flags data pages produced beyond image_pages (a compressed chunk decoding to more pages)', () => {
    // Arrange: info says 2 data pages, the single LZO chunk holds 3
    const image = imageOf(packPfns(entries([1, 2])), 2, { compression: 'lzo', extraPages: 1 });
    // Act / Assert: the CRC covers every decompressed byte, so it still matches
    expect(image.crc.match).toBe(true);
    expect(checkSwsuspImage(image)).toEqual([
      {
        invariant: 'EveryPageSavedOnce',
        message: 'data pages produced differ from image_pages',
        expected: '2',
        actual: '3',
      },
    ]);
  });

  it('flags a CRC mismatch and a compressed image without SF_CRC32_MODE', () => {
    // Arrange
    const img = buildSwsuspImage({ pages: randomPages({ count: 50, seed: 9 }), style: '6.12', compression: 'lzo' });
    const hv = new DataView(img.device.buffer, 0, PAGE_SIZE);
    hv.setUint32(SWSUSP_HEADER_CRC32, img.crc32 ^ 1, true);
    const bad = parseSwsuspImage(img.device, { devicePages: img.devicePages });
    hv.setUint32(SWSUSP_HEADER_FLAGS, hv.getUint32(SWSUSP_HEADER_FLAGS, true) & ~SF_CRC32_MODE, true);
    const unchecked = parseSwsuspImage(img.device, { devicePages: img.devicePages });
    if (!bad.ok || !unchecked.ok) throw new Error('parse');
    // Act / Assert
    expect(checkSwsuspImage(bad.image)).toEqual([
      {
        invariant: 'CorruptImageNeverResumed',
        message: 'image CRC32 does not match the stream',
        expected: `0x${(img.crc32 ^ 1).toString(16).padStart(8, '0')}`,
        actual: `0x${img.crc32.toString(16).padStart(8, '0')}`,
      },
    ]);
    expect(names(checkSwsuspImage(unchecked.image))).toEqual(['CorruptImageNeverResumed']);
    expect(unchecked.image.crc.checked).toBe(false);
  });

  it('flags a wrong x86-64 magic and an inconsistent size field', () => {
    // Arrange
    const info = encodeSwsuspInfo({ numPhyspages: 100, imagePages: 1, pages: 3, size: 5, archMagic: 0x12345679n });
    const img = writeSwapImage([info, ...packPfns(entries([5])), ...dataPages(1, 1)], { compression: 'none' });
    const r = parseSwsuspImage(img.device, { devicePages: img.devicePages });
    if (!r.ok) throw new Error('parse');
    // Act / Assert
    expect(checkSwsuspImage(r.image).map((v) => v.message)).toEqual([
      'x86-64 restore_data_record magic is wrong',
      'swsusp_info.size is not pages << PAGE_SHIFT',
    ]);
  });

  it('flags zero-flagged entries for a 6.1 resume kernel, and a bad orig_sig', () => {
    // Arrange
    const img = buildSwsuspImage({
      pages: randomPages({ count: 30, seed: 5, zeroFraction: 0.5 }),
      style: '6.12',
      compression: 'none',
      origSig: 'JUNKJUNK!!',
    });
    const r = parseSwsuspImage(img.device, { devicePages: img.devicePages });
    if (!r.ok) throw new Error('parse');
    const flagged = r.image.zeroFlags.filter((z) => z).length;
    // Act
    const v = checkSwsuspImage(r.image, { zeroFlagAllowed: false });
    // Assert
    expect(flagged).toBeGreaterThan(0);
    expect(v.map((x) => [x.invariant, x.actual])).toEqual([
      ['CorruptImageNeverResumed', '"JUNKJUNK!!"'],
      ['MismatchedImageRefused', String(flagged)],
    ]);
  });

  it('flags PFNs outside target RAM as NosaveNeverSaved', () => {
    // Arrange
    const image = imageOf(packPfns(entries([0, 5, 0x9f, 0x100])), 4);
    // Act
    const v = checkSwsuspImage(image, {
      ramRanges: [
        { start: 0x100, end: 0x200 },
        { start: 1, end: 0x9f },
      ],
    });
    // Assert
    expect(v.map((x) => [x.invariant, x.message])).toEqual([
      ['NosaveNeverSaved', 'PFN 0 (entry 0) is not in target RAM'],
      ['NosaveNeverSaved', 'PFN 159 (entry 2) is not in target RAM'],
    ]);
  });

  it('compares the PFN set with the expected one: missing, unexpected', () => {
    // Arrange
    const image = imageOf(packPfns(entries([1, 2, 4])), 3);
    // Act
    const v = checkSwsuspImage(image, { expectedPfns: [1, 2, 3] });
    // Assert
    expect(v.map((x) => x.message)).toEqual([
      'expected PFN 3 is not in the image',
      'PFN 4 is in the image but was not expected',
    ]);
  });

  it('flags a device page that stores two things', () => {
    // Arrange: map entry of data page 2 redirected to the first map page (nocompress: no CRC to notice)
    const img = buildSwsuspImage({
      pages: randomPages({ count: 10, seed: 1, zeroFraction: 0 }),
      style: '6.12',
      compression: 'none',
    });
    setU64(new DataView(img.device.buffer, (img.mapPages[0] ?? 0) * PAGE_SIZE, PAGE_SIZE), 4 * 8, img.mapPages[0] ?? 0);
    const r = parseSwsuspImage(img.device, { devicePages: img.devicePages });
    if (!r.ok) throw new Error('parse');
    // Act / Assert
    expect(checkSwsuspImage(r.image).map((v) => v.message)).toEqual([
      `device page ${img.mapPages[0]} stores both swap-map page 0 and stream page 4`,
    ]);
  });
});

describe('findTaggedPages / checkAgentTags', () => {
  /** A toy tag: bytes 0..3 "TAG!", then id, index, generation as u32. */
  const tagged = (t: AgentTag): Uint8Array => {
    const p = seededBytes(PAGE_SIZE, t.index + 1);
    const v = new DataView(p.buffer);
    v.setUint32(0, 0x21474154, true);
    v.setUint32(4, t.id, true);
    v.setUint32(8, t.index, true);
    v.setUint32(12, t.generation, true);
    return p;
  };
  const match = (p: Uint8Array): AgentTag | undefined => {
    const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
    return v.getUint32(0, true) === 0x21474154
      ? { id: v.getUint32(4, true), index: v.getUint32(8, true), generation: v.getUint32(12, true) }
      : undefined;
  };

  it('pairs data page k with the k-th unflagged PFN, skipping zero pages', () => {
    // Arrange: PFNs 10 (zero), 11 (tag 0), 12 (other), 13 (zero), 14 (tag 1)
    const zero = new Uint8Array(PAGE_SIZE);
    const pages = [
      zero,
      tagged({ id: 7, index: 0, generation: 2 }),
      seededBytes(PAGE_SIZE, 99),
      zero,
      tagged({ id: 7, index: 1, generation: 2 }),
    ];
    const img = buildSwsuspImage({
      pages: pages.map((data, i) => ({ pfn: 10 + i, data })),
      style: '6.12',
      compression: 'lzo',
    });
    const r = parseSwsuspImage(img.device, { devicePages: img.devicePages });
    if (!r.ok) throw new Error('parse');
    // Act
    const found = findTaggedPages(r.image, match);
    // Assert
    expect(found).toEqual([
      { pfn: 11, dataIndex: 0, tag: { id: 7, index: 0, generation: 2 } },
      { pfn: 14, dataIndex: 2, tag: { id: 7, index: 1, generation: 2 } },
    ]);
    expect(checkAgentTags(found, { id: 7, count: 2, generation: 2 })).toEqual([]);
  });

  it('reports missing, duplicated, stale, damaged and out-of-range agent pages', () => {
    // Arrange
    const f = (pfn: number, index: number, generation = 1, intact?: boolean): TaggedPage => ({
      pfn,
      dataIndex: pfn,
      tag: { id: 3, index, generation, ...(intact === undefined ? {} : { intact }) },
    });
    const found = [
      f(1, 0),
      f(2, 1),
      f(3, 1),
      f(4, 2, 0),
      f(5, 3, 1, false),
      f(6, 9),
      { ...f(7, 4), tag: { id: 99, index: 4, generation: 1 } },
    ];
    // Act
    const v = checkAgentTags(found, { id: 3, count: 5, generation: 1 }, { step: 2 });
    // Assert
    expect(v.map((x) => [x.invariant, x.message])).toEqual([
      ['EveryPageSavedOnce', 'agent page 3/1 is in the image 2 times (PFNs 2, 3)'],
      ['EveryPageSavedOnce', 'agent page 3/2 has a stale generation'],
      ['ResumeRestoresIdenticalMemory', 'agent page 3/3 at PFN 5: the saved copy differs from what the agent wrote'],
      ['EveryPageSavedOnce', 'agent page 3/4 is not in the image'],
      ['EveryPageSavedOnce', 'agent page 3/9 is out of range 0..4'],
    ]);
    expect(v.every((x) => x.step === 2)).toBe(true);
  });
});
