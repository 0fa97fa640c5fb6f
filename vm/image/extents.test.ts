// A swap file's extents and the image pages that lie outside them.
import { describe, expect, it } from 'vitest';
import { imagePagesOutside, inExtents, parseExtents } from './extents.ts';
import type { SwsuspImage } from './parse.ts';

describe('parseExtents', () => {
  it('reads l:p:n triples', () => {
    expect(parseExtents('0:10:2048,2048:4096:5')).toEqual([
      { logical: 0, physical: 10, pages: 2048 },
      { logical: 2048, physical: 4096, pages: 5 },
    ]);
    expect(parseExtents('')).toEqual([]);
  });

  it('refuses anything else', () => {
    for (const bad of ['0:10', '0:10:x', '0:10:1,', '-1:2:3', '0:1:2;3:4:5']) expect(parseExtents(bad)).toBeUndefined();
  });
});

describe('imagePagesOutside', () => {
  const extents = [
    { logical: 0, physical: 10, pages: 4 },
    { logical: 4, physical: 100, pages: 4 },
  ];
  const image = (mapPages: number[], stored: number[][]) =>
    ({ mapPages, chunks: stored.map((devicePages) => ({ devicePages })) }) as unknown as SwsuspImage;

  it('is empty when every map and stream page is a page of the file after its header', () => {
    expect(inExtents(extents, 13)).toBe(true);
    expect(inExtents(extents, 14)).toBe(false);
    expect(imagePagesOutside(image([11], [[12], [13, 100, 103]]), extents, 10)).toEqual([]);
  });

  it('names the header page and pages between the extents (the filesystem)', () => {
    expect(imagePagesOutside(image([10], [[14], [99, 104]]), extents, 10)).toEqual([10, 14, 99, 104]);
  });
});
