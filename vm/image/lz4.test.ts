import { describe, expect, it } from 'vitest';
import { lz4CompressLiterals, lz4DecompressInto, lz4DecompressSafe } from './lz4.ts';

const enc = (s: string): number[] => [...new TextEncoder().encode(s)];
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

function pseudoBytes(n: number, seed: number): Uint8Array {
  let x = seed >>> 0 || 1;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function decodeOk(stream: number[] | Uint8Array, maxOut = 1 << 17): Uint8Array {
  const r = lz4DecompressSafe(Uint8Array.from(stream), maxOut);
  if (!r.ok) throw new Error(`unexpected ${r.error} at ${r.inputOffset}`);
  return r.out;
}

describe('lz4DecompressSafe: known blocks', () => {
  it('decodes a hand-built block: 4 literals, overlapping match of 8 at offset 4, 5 last literals', () => {
    // Arrange: token 0x44 (4 literals, match 4+4), offset 4, token 0x50 (5 literals)
    const block = [0x44, ...enc('abcd'), 4, 0, 0x50, ...enc('efghi')];
    // Act / Assert
    expect(dec(decodeOk(block, 17))).toBe('abcdabcdabcdefghi');
  });

  it('decodes extended literal and match lengths', () => {
    // Arrange: 20 literals (15 + 5), match 4 + 15 + 255 + 6 = 280 at offset 1, then 5 literals
    const lit = enc('0123456789abcdefghij');
    const block = [0xff, 5, ...lit, 1, 0, 255, 6, 0x50, ...enc('VWXYZ')];
    // Act
    const out = decodeOk(block);
    // Assert
    expect(out.length).toBe(20 + 280 + 5);
    expect(dec(out)).toBe(`0123456789abcdefghij${'j'.repeat(280)}VWXYZ`);
  });

  it('decodes a block made by the reference lz4 tool (lz4 CLI 1.9, block extracted from the frame)', () => {
    // Arrange: generated once with `lz4 --no-frame-crc -BD`; input rebuilt here
    const block = hex(
      'f00468696265726e6174696f6e20696d616765207005000f1700ffa3ff32000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f000100ff19f01074686520717569636b2062726f776e20666f78206a756d7073206f766572201f00916c617a7920646f672e0e000f2d009850646f672e20',
    );
    const expected = Buffer.concat([
      Buffer.from('hibernation image page '.repeat(20)),
      Buffer.from(Array.from({ length: 64 }, (_, i) => i)),
      Buffer.alloc(300),
      Buffer.from('the quick brown fox jumps over the lazy dog. '.repeat(5)),
    ]);
    // Act
    const out = decodeOk(block);
    // Assert
    expect(out.length).toBe(1049);
    expect(Buffer.from(out).equals(expected)).toBe(true);
  });

  it('decodes the empty block (a single zero token)', () => {
    expect(decodeOk([0]).length).toBe(0);
  });
});

describe('lz4DecompressSafe: bad input is an error value', () => {
  const cases: [string, number[], number, string][] = [
    ['empty input', [], 100, 'emptyInput'],
    ['offset 0', [0x40, ...enc('abcd'), 0, 0, 0x50, ...enc('efghi')], 100, 'badOffset'],
    ['offset before the output start', [0x40, ...enc('abcd'), 9, 0, 0x50, ...enc('efghi')], 100, 'badOffset'],
    [
      'match ending in the last 5 bytes of the buffer',
      [0x44, ...enc('abcd'), 4, 0, 0x50, ...enc('efghi')],
      16,
      'outputOverrun',
    ],
    ['block ending after a match', [0x44, ...enc('abcd'), 4, 0, 0x10], 100, 'badEnd'],
    ['literals past the end of input', [0x50, ...enc('abc')], 100, 'inputOverrun'],
    ['literals larger than the buffer', [0x50, ...enc('abcde')], 4, 'outputOverrun'],
  ];
  for (const [name, block, maxOut, error] of cases) {
    it(`reports ${error} for ${name}`, () => {
      // Act
      const r = lz4DecompressSafe(Uint8Array.from(block), maxOut);
      // Assert
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toBe(error);
    });
  }

  it('never throws or overruns on random and truncated input (seeded)', () => {
    const valid = lz4CompressLiterals(pseudoBytes(600, 3));
    let seed = 999;
    for (let i = 0; i < 2000; i++) {
      // Arrange
      const input = i % 2 === 0 ? pseudoBytes(1 + (i % 97), seed++) : valid.subarray(0, i % valid.length);
      // Act
      const r = lz4DecompressSafe(input, 4096);
      // Assert
      if (r.ok) expect(r.out.length).toBeLessThanOrEqual(4096);
      else expect(r.produced).toBeLessThanOrEqual(4096);
    }
  });
});

describe('lz4CompressLiterals', () => {
  it('round-trips every length class, with the output buffer exactly full or larger', () => {
    for (const n of [0, 1, 14, 15, 16, 269, 270, 271, 4096, 131072]) {
      // Arrange
      const data = pseudoBytes(n, n + 5);
      // Act
      const block = lz4CompressLiterals(data);
      const exact = lz4DecompressSafe(block, n);
      const roomy = lz4DecompressSafe(block, 131072);
      // Assert
      for (const r of [exact, roomy]) {
        expect(r.ok, `n=${n}`).toBe(true);
        if (r.ok) expect(Buffer.from(r.out).equals(Buffer.from(data)), `n=${n}`).toBe(true);
      }
    }
  });
});

/** One sequence: `literals`, then a match of `len` (>= 4) bytes at `distance`, lengths extended as needed. */
function sequence(literals: readonly number[], len: number, distance: number): number[] {
  const ext = (n: number): number[] => [...new Array<number>(Math.floor(n / 255)).fill(255), n % 255];
  const l = literals.length;
  const m = len - 4;
  return [
    (Math.min(l, 15) << 4) | Math.min(m, 15),
    ...(l >= 15 ? ext(l - 15) : []),
    ...literals,
    distance & 0xff,
    distance >> 8,
    ...(m >= 15 ? ext(m - 15) : []),
  ];
}

describe('lz4DecompressSafe: match copy fast paths', () => {
  const lit = [...pseudoBytes(200, 8)];
  const last = [...pseudoBytes(12, 9)];
  for (const [len, distance] of [
    [8, 3],
    [31, 200],
    [32, 32],
    [150, 200],
    [1000, 1],
    [999, 2],
    [64, 63],
    [5000, 5],
  ] as const) {
    it(`copies a match of length ${len} at distance ${distance} as the byte loop does`, () => {
      // Arrange: 200 literals + the match, a second match of 40 at 97, 12 last literals; output exactly full
      const stream = [...sequence(lit, len, distance), ...sequence([], 40, 97), last.length << 4, ...last];
      const want = [...lit];
      for (const [n, d] of [
        [len, distance],
        [40, 97],
      ] as const) {
        for (let i = 0; i < n; i++) want.push(want[want.length - d] ?? -1);
      }
      want.push(...last);
      // Act
      const out = decodeOk(stream, want.length);
      // Assert
      expect([...out]).toEqual(want);
    });
  }
});

describe('lz4DecompressInto', () => {
  it('writes at outStart what lz4DecompressSafe returns, and measures offsets from outStart', () => {
    // Arrange: 4 literals, match of 8 at offset 4, 5 last literals
    const block = Uint8Array.from([0x44, ...enc('abcd'), 4, 0, 0x50, ...enc('efghi')]);
    const out = new Uint8Array(300).fill(0xee);
    const far = Uint8Array.from([0x44, ...enc('abcd'), 10, 0, 0x50, ...enc('efghi')]);
    // Act
    const n = lz4DecompressInto(block, out, 100, 100);
    const r = lz4DecompressInto(far, new Uint8Array(300), 100, 100);
    // Assert
    expect(n).toBe(17);
    expect(dec(out.subarray(100, 117))).toBe(dec(decodeOk(block, 100)));
    expect(out.subarray(0, 100).every((b) => b === 0xee)).toBe(true);
    expect(r).toEqual({ ok: false, error: 'badOffset', produced: 4, inputOffset: 7 });
  });
});
