import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32Le } from './crc32.ts';
import { referenceCrc32Le } from './testdata/crc32-table.ts';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('crc32Le', () => {
  it('is 0 on empty input seeded 0', () => {
    // Arrange / Act / Assert
    expect(crc32Le(0, new Uint8Array(0))).toBe(0);
  });

  it('matches the standard check value after the usual inversions', () => {
    // Arrange: CRC-32/ISO-HDLC("123456789") = 0xCBF43926 = ~crc32_le(~0, data)
    const data = bytes('123456789');
    // Act
    const crc = (crc32Le(0xffffffff, data) ^ 0xffffffff) >>> 0;
    // Assert
    expect(crc).toBe(0xcbf43926);
  });

  it('seeded 0 equals zlib.crc32(data, ~0) ^ ~0 (§1.7)', () => {
    // Arrange
    const page = new Uint8Array(4096).map((_, i) => (i * 7 + 3) & 0xff);
    // Act
    const ours = crc32Le(0, page);
    const viaZlib = (zlibCrc32(page, 0xffffffff) ^ 0xffffffff) >>> 0;
    // Assert
    expect(ours).toBe(viaZlib);
    expect(ours).not.toBe(0);
  });

  it('chains over split input like one call', () => {
    // Arrange
    const data = bytes('hibernation image stream pages after the header');
    // Act
    const whole = crc32Le(0, data);
    const split = crc32Le(crc32Le(0, data.subarray(0, 13)), data.subarray(13));
    // Assert
    expect(split).toBe(whole);
  });

  it('changes when one bit flips', () => {
    // Arrange
    const a = new Uint8Array(4096);
    const b = new Uint8Array(4096);
    b[1234] = 0x10;
    // Act / Assert
    expect(crc32Le(0, a)).not.toBe(crc32Le(0, b));
  });

  it('equals the table-driven crc32_le on random inputs, seeds and offsets', () => {
    // Arrange: xorshift32 bytes; lengths 0..5000 and subarrays at odd offsets
    let x = 0x9e3779b9;
    const next = (): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    for (let t = 0; t < 300; t++) {
      const buf = Uint8Array.from({ length: next() % 5001 }, () => next() & 0xff);
      const start = buf.length === 0 ? 0 : next() % buf.length;
      const data = t % 2 === 0 ? buf : buf.subarray(start);
      const seed = t % 3 === 0 ? 0 : t % 3 === 1 ? 0xffffffff : next();
      // Act / Assert
      expect(crc32Le(seed, data)).toBe(referenceCrc32Le(seed, data));
    }
  });

  it('returns an unsigned 32-bit value for a negative (signed) seed', () => {
    // Arrange
    const data = bytes('abc');
    // Act / Assert
    expect(crc32Le(-1, data)).toBe(referenceCrc32Le(0xffffffff, data));
    expect(crc32Le(-1, data)).toBeGreaterThanOrEqual(0);
  });
});
