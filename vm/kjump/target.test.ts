import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  cryptKey,
  cryptTableFormat,
  encryptedPage,
  firstUncovered,
  type Pages,
  parseDebugfsBlocks,
  physicalRun,
  throughCrypt,
  throughExtents,
} from './target.ts';

const PG = 4096;
const stat = readFileSync(new URL('./testdata/debugfs-stat.txt', import.meta.url), 'utf8');

describe('parseDebugfsBlocks (debugfs stat of a 300 MiB file on busybox mke2fs ext2, block-mapped)', () => {
  const ex = parseDebugfsBlocks(stat);

  it('keeps data runs, skips (IND)/(DIND) blocks, and covers the whole file', () => {
    expect(ex).toBeDefined();
    if (ex === undefined) return;
    expect(ex[0]).toEqual({ logical: 0, physical: 48, pages: 12 });
    expect(ex[1]).toEqual({ logical: 12, physical: 61, pages: 1024 });
    expect(ex.reduce((n, e) => n + e.pages, 0)).toBe(314572800 / PG);
    expect(firstUncovered(ex, 314572800 / PG)).toBeUndefined();
    expect(firstUncovered(ex, 314572800 / PG + 1)).toBe(314572800 / PG);
    // no data run sits on an indirect block: the one after logical 11 is at 60
    expect(physicalRun(ex, 11)).toEqual({ at: 59, run: 1 });
    expect(physicalRun(ex, 12)).toEqual({ at: 61, run: 1024 });
  });

  it('merges adjacent runs and reads single blocks', () => {
    expect(parseDebugfsBlocks('BLOCKS:\n(0-1):10-11, (2):12, (IND):13, (3):20\nTOTAL: 5\n')).toEqual([
      { logical: 0, physical: 10, pages: 3 },
      { logical: 3, physical: 20, pages: 1 },
    ]);
  });

  it('refuses what it cannot read', () => {
    expect(parseDebugfsBlocks('stat: File not found by ext2_lookup')).toBeUndefined();
    expect(parseDebugfsBlocks('BLOCKS:\n(0-3):10-11\nTOTAL: 2\n')).toBeUndefined();
    expect(parseDebugfsBlocks('BLOCKS:\n(0-1):10-11, garbage\nTOTAL: 2\n')).toBeUndefined();
  });

  it('finds a hole', () => {
    expect(
      firstUncovered(
        [
          { logical: 0, physical: 5, pages: 2 },
          { logical: 3, physical: 9, pages: 4 },
        ],
        7,
      ),
    ).toBe(2);
  });
});

describe('throughExtents', () => {
  const disk: Pages = (page, count) => {
    const b = Buffer.alloc(count * PG);
    for (let i = 0; i < count; i++) b.writeUInt32LE(page + i, i * PG);
    return b;
  };
  const ex = [
    { logical: 0, physical: 100, pages: 2 },
    { logical: 2, physical: 50, pages: 3 },
  ];

  it('splits a read at extent boundaries', () => {
    const b = throughExtents(disk, ex)(1, 3);
    expect([0, 1, 2].map((i) => b.readUInt32LE(i * PG))).toEqual([101, 50, 51]);
  });

  it('throws on a page outside the file', () => {
    expect(() => throughExtents(disk, ex)(4, 2)).toThrow(/file page 5 is in no extent/);
  });
});

describe("plain aes-xts-plain64 (the swsusp runner's format, vm/image/dmcrypt.ts)", () => {
  const sc = { id: 'kjump-dmcrypt-abort', seed: 7 };
  const key = cryptKey(sc);

  it('keys: 128 hex digits per scenario, the wrong key differs', () => {
    expect(key).toMatch(/^[0-9a-f]{128}$/);
    expect(cryptKey(sc)).toBe(key);
    expect(cryptKey({ ...sc, seed: 8 })).not.toBe(key);
    expect(cryptKey(sc, true)).not.toBe(key);
  });

  it('the guest loads the table the host decrypts (guest/target.c)', () => {
    const c = readFileSync(new URL('./guest/target.c', import.meta.url), 'utf8');
    expect(c).toContain(`"${cryptTableFormat.replace('KEY', '%s').replace('DISK', '%s')}"`);
  });

  it('reads the volume decrypted, page by page, and a wrong key reads noise', () => {
    const plain = Buffer.alloc(2 * PG);
    plain.write('HBFKJIMG', 0);
    plain.write('page one', PG);
    const disk = Buffer.concat([
      encryptedPage(key, 0, plain.subarray(0, PG)),
      encryptedPage(key, 1, plain.subarray(PG)),
    ]);
    expect(disk.subarray(0, 8).toString()).not.toBe('HBFKJIMG');
    const read = throughCrypt((p, c) => disk.subarray(p * PG, (p + c) * PG), key);
    expect(read(0, 2).equals(plain)).toBe(true);
    expect(read(1, 1).subarray(0, 8).toString()).toBe('page one');
    // the page index is the tweak: page 1's ciphertext read as page 0 is noise
    expect(read(0, 1).equals(throughCrypt(() => disk.subarray(PG), key)(0, 1))).toBe(false);
    expect(
      throughCrypt((p, c) => disk.subarray(p * PG, (p + c) * PG), cryptKey(sc, true))(0, 1)
        .subarray(0, 8)
        .toString(),
    ).not.toBe('HBFKJIMG');
  });
});
