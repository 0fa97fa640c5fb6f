import { describe, expect, it } from 'vitest';
import { copyMatch, lzo1xCompressLiterals, lzo1xDecompressInto, lzo1xDecompressSafe, SHORT_COPY } from './lzo.ts';

const enc = (s: string): number[] => [...new TextEncoder().encode(s)];
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
const EOF = [0x11, 0x00, 0x00];

/** Deterministic xorshift32 bytes (incompressible enough for hand-built match distances). */
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
  const r = lzo1xDecompressSafe(Uint8Array.from(stream), maxOut);
  if (!r.ok) throw new Error(`unexpected ${r.error} at ${r.inputOffset}`);
  return r.out;
}

describe('lzo1xDecompressSafe: hand-built streams', () => {
  it('decodes a first literal run and an overlapping M3 match', () => {
    // Arrange: [17+4]['abcd'] M3 len 8 (32|6) dist 4 (le16 (4-1)<<2) | EOF
    const stream = [21, ...enc('abcd'), 38, 12, 0, ...EOF];
    // Act / Assert
    expect(dec(decodeOk(stream))).toBe('abcdabcdabcd');
  });

  it('decodes an M2 match with 2 trailing literals, then a 2-byte M1 match', () => {
    // Arrange: 'abcdefgh'; M2 len 3 dist 8: ((3-1)<<5)|((7&7)<<2)|2 = 94, (7>>3) = 0; 'XY';
    // M1 after state 2: dist 2 → t = (1<<2)|0, b = 0
    const stream = [25, ...enc('abcdefgh'), 94, 0, ...enc('XY'), 4, 0, ...EOF];
    // Act / Assert
    expect(dec(decodeOk(stream))).toBe('abcdefghabcXYXY');
  });

  it('decodes a 3-byte M1 match after a literal run (distance 2049 + ...)', () => {
    // Arrange: 2100 literals (long-run form), then t<16 in state 4: dist = 2049 + (t>>2) + (b<<2) = 2100
    const lit = pseudoBytes(2100, 7);
    const head = [0, ...new Array<number>(Math.floor((2100 - 18 - 1) / 255)).fill(0)];
    const rest = 2100 - 18 - 255 * (head.length - 1);
    const stream = [...head, rest, ...lit, (51 & 3) << 2, 51 >> 2, ...EOF];
    // Act
    const out = decodeOk(stream);
    // Assert
    expect(out.length).toBe(2103);
    expect([...out.subarray(2100)]).toEqual([...lit.subarray(0, 3)]);
  });

  it('decodes an M4 match beyond 16 KiB', () => {
    // Arrange: 20000 literals, then M4 len 5 (16|3) dist 16384 + 100 (le16 100<<2)
    const lit = pseudoBytes(20000, 9);
    const stream = Uint8Array.from([...lzo1xCompressLiterals(lit).subarray(0, -3), 19, 400 & 0xff, 400 >> 8, ...EOF]);
    // Act
    const out = decodeOk(stream);
    // Assert
    expect(out.length).toBe(20005);
    expect([...out.subarray(20000)]).toEqual([...lit.subarray(20000 - 16484, 20000 - 16484 + 5)]);
  });

  it('decodes an extended M3 length (zero bytes count 255 each)', () => {
    // Arrange: 'aaaa', M3 t=32 → len 33 + 255*1 + 12 = 300, dist 1
    const stream = [21, ...enc('aaaa'), 32, 0, 12, 0, 0, ...EOF];
    // Act / Assert
    expect(dec(decodeOk(stream))).toBe('a'.repeat(304));
  });

  it('decodes an lzo-rle zero run when the bitstream version byte is present', () => {
    // Arrange: [17][version 1] 'abcde' zero run of 10: t = 0x18|(6&7), le16 = 0xfffc, (6>>3) = 0
    const stream = [17, 1, 22, ...enc('abcde'), 0x1e, 0xfc, 0xff, 0x00, ...EOF];
    // Act
    const out = decodeOk(stream);
    // Assert
    expect(dec(out.subarray(0, 5))).toBe('abcde');
    expect([...out.subarray(5)]).toEqual(new Array<number>(10).fill(0));
  });

  it('decodes the empty stream (end marker only)', () => {
    expect(decodeOk(EOF).length).toBe(0);
  });
});

describe('lzo1xDecompressSafe: bad input is an error value', () => {
  const cases: [string, number[], number, string][] = [
    ['too short', [0x11], 100, 'inputOverrun'],
    ['missing end marker', [21, ...enc('abcd')], 100, 'inputOverrun'],
    ['match before the output start', [21, ...enc('abcd'), 33, 36, 0, ...EOF], 100, 'lookbehindOverrun'],
    ['output larger than the buffer', [21, ...enc('abcd'), ...EOF], 3, 'outputOverrun'],
    ['bytes after the end marker', [21, ...enc('abcd'), ...EOF, 0], 100, 'inputNotConsumed'],
    ['end marker with length != 3', [21, ...enc('abcd'), 0x12, 0, 0], 100, 'error'],
  ];
  for (const [name, stream, maxOut, error] of cases) {
    it(`reports ${error} for ${name}`, () => {
      // Act
      const r = lzo1xDecompressSafe(Uint8Array.from(stream), maxOut);
      // Assert
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toBe(error);
    });
  }

  it('never throws or overruns on random and truncated input (seeded)', () => {
    // Arrange
    const valid = lzo1xCompressLiterals(pseudoBytes(600, 3));
    let seed = 12345;
    for (let i = 0; i < 2000; i++) {
      const input = i % 2 === 0 ? pseudoBytes(1 + (i % 97), seed++) : valid.subarray(0, i % valid.length);
      // Act
      const r = lzo1xDecompressSafe(input, 4096);
      // Assert
      if (r.ok) expect(r.out.length).toBeLessThanOrEqual(4096);
      else expect(r.produced).toBeLessThanOrEqual(4096);
    }
  });
});

describe('lzo1xCompressLiterals', () => {
  it('round-trips every length class (0, short, 238/239 boundary, extension bytes, a full chunk)', () => {
    for (const n of [0, 1, 3, 4, 18, 19, 238, 239, 256, 273, 274, 528, 529, 4096, 131072]) {
      // Arrange
      const data = pseudoBytes(n, n + 1);
      // Act
      const stream = lzo1xCompressLiterals(data);
      const r = lzo1xDecompressSafe(stream, 131072);
      // Assert
      expect(r.ok, `n=${n}`).toBe(true);
      if (r.ok) expect(Buffer.from(r.out).equals(Buffer.from(data)), `n=${n}`).toBe(true);
    }
  });
});

/** An M3 match of `len` (>= 3) bytes at `distance` (1..16384), no trailing literals; long lengths extended. */
function m3(len: number, distance: number): number[] {
  const d = [((distance - 1) << 2) & 0xff, (distance - 1) >> 6];
  if (len - 2 <= 31) return [32 | (len - 2), ...d];
  const ext = len - 33;
  const zeros = Math.floor((ext - 1) / 255);
  return [32, ...new Array<number>(zeros).fill(0), ext - 255 * zeros, ...d];
}

/** The kernel's byte loop: what every match must produce. */
function byteLoopMatch(out: number[], len: number, distance: number): void {
  for (let i = 0; i < len; i++) out.push(out[out.length - distance] ?? -1);
}

describe('lzo1xDecompressSafe: match copy fast paths', () => {
  const lit = [...pseudoBytes(238, 5)];
  const cases: [string, number, number][] = [
    ['short, overlapping', 10, 3],
    ['just below the copy threshold', SHORT_COPY - 1, 200],
    ['at the threshold, not overlapping (distance = length)', SHORT_COPY, SHORT_COPY],
    ['long, not overlapping', 150, 200],
    ['long, distance 1 (fill)', 1000, 1],
    ['long, distance 2', 999, 2],
    ['long, overlapping by one byte', 64, 63],
    ['long, overlapping, distance 5 (repeated doubling)', 5000, 5],
    ['long, overlapping, distance 31', 4097, 31],
  ];
  for (const [name, len, distance] of cases) {
    it(`copies a ${name} match (length ${len}, distance ${distance}) as the byte loop does`, () => {
      // Arrange: 238 literals, the match, a second match reading what the first wrote, end marker
      const stream = [17 + lit.length, ...lit, ...m3(len, distance), ...m3(40, 97), ...EOF];
      const want = [...lit];
      byteLoopMatch(want, len, distance);
      byteLoopMatch(want, 40, 97);
      // Act
      const out = decodeOk(stream);
      // Assert
      expect([...out]).toEqual(want);
    });
  }
});

describe('copyMatch', () => {
  it('equals the byte loop for distances 1..70 and lengths 0..140', () => {
    const prefix = pseudoBytes(80, 11);
    for (let distance = 1; distance <= 70; distance++) {
      for (let len = 0; len <= 140; len++) {
        // Arrange
        const out = new Uint8Array(80 + len + 3).fill(0xee);
        out.set(prefix);
        const want = [...prefix];
        byteLoopMatch(want, len, distance);
        // Act
        const end = copyMatch(out, 80, 80 - distance, len);
        // Assert
        expect(end).toBe(80 + len);
        expect([...out.subarray(0, end)]).toEqual(want);
        expect([...out.subarray(end)]).toEqual([0xee, 0xee, 0xee]);
      }
    }
  });
});

describe('lzo1xDecompressInto', () => {
  it('writes at outStart what lzo1xDecompressSafe returns, leaving the bytes around it alone', () => {
    // Arrange
    const stream = Uint8Array.from([21, ...enc('abcd'), ...m3(300, 4), ...EOF]);
    const out = new Uint8Array(2000).fill(0xee);
    // Act
    const n = lzo1xDecompressInto(stream, out, 1000, 500);
    const safe = decodeOk(stream, 500);
    // Assert
    expect(n).toBe(304);
    expect(Buffer.from(out.subarray(1000, 1304)).equals(Buffer.from(safe))).toBe(true);
    expect(out.subarray(0, 1000).every((b) => b === 0xee)).toBe(true);
    expect(out.subarray(1304).every((b) => b === 0xee)).toBe(true);
  });

  it('reports a match reaching before outStart as lookbehindOverrun, and how far it got', () => {
    // Arrange: 4 literals, then a match at distance 10
    const stream = Uint8Array.from([21, ...enc('abcd'), ...m3(5, 10), ...EOF]);
    // Act
    const r = lzo1xDecompressInto(stream, new Uint8Array(4096), 100, 1000);
    // Assert
    expect(r).toEqual({ ok: false, error: 'lookbehindOverrun', produced: 4, inputOffset: 8 });
  });

  it('rejects an output window outside the buffer or not made of integers', () => {
    const stream = Uint8Array.from([21, ...enc('abcd'), ...EOF]);
    expect(() => lzo1xDecompressInto(stream, new Uint8Array(100), 50, 51)).toThrow(RangeError);
    expect(() => lzo1xDecompressInto(stream, new Uint8Array(100), Number.NaN, 10)).toThrow(RangeError);
    expect(() => lzo1xDecompressInto(stream, new Uint8Array(100), -1, 10)).toThrow(RangeError);
  });
});
