import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32Le } from './crc32.ts';

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
});
