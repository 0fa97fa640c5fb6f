import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decryptingReader, decryptPage, dmCryptKey, encryptPage, plain64Iv } from './dmcrypt.ts';
import { PAGE_SIZE, readerOf } from './format.ts';

const page = (fill: number): Uint8Array => new Uint8Array(PAGE_SIZE).fill(fill);

describe('dm-crypt plain aes-xts-plain64, 4 KiB sectors', () => {
  it('keys: 64 bytes, one per scenario (id and seed), the wrong key another', () => {
    const k = dmCryptKey('vm-x', 1);
    expect(k.length).toBe(64);
    expect(dmCryptKey('vm-x', 1).equals(k)).toBe(true);
    expect(dmCryptKey('vm-x', 2).equals(k)).toBe(false);
    expect(dmCryptKey('vm-y', 1).equals(k)).toBe(false);
    expect(dmCryptKey('vm-x', 1, 'wrong').equals(k)).toBe(false);
  });

  it('IV of page p is plain64 of its 512-byte sector number p * 8, little-endian', () => {
    expect(plain64Iv(0).equals(Buffer.alloc(16))).toBe(true);
    expect([...plain64Iv(1)]).toEqual([8, ...new Array(15).fill(0)]);
    expect([...plain64Iv(0x20000).subarray(0, 4)]).toEqual([0, 0, 0x10, 0]);
  });

  it('is one XTS data unit per page: the same plaintext at two pages encrypts differently, and decrypts back', () => {
    // Arrange
    const key = dmCryptKey('vm-x', 1);
    const p = page(0x5a);
    // Act
    const c0 = encryptPage(key, 0, p);
    const c1 = encryptPage(key, 1, p);
    // Assert
    expect(Buffer.from(c0).equals(Buffer.from(c1))).toBe(false);
    expect(Buffer.from(decryptPage(key, 1, c1)).equals(Buffer.from(p))).toBe(true);
    // a reader that used another page's IV, or the wrong key, does not get the plaintext
    expect(Buffer.from(decryptPage(key, 0, c1)).equals(Buffer.from(p))).toBe(false);
    expect(Buffer.from(decryptPage(dmCryptKey('vm-x', 1, 'wrong'), 1, c1)).equals(Buffer.from(p))).toBe(false);
  });

  it('matches AES-256-XTS with the sector tweak computed independently (not one unit over the whole disk)', () => {
    const key = dmCryptKey('vm-x', 7);
    const p = page(3);
    const iv = Buffer.alloc(16);
    iv[0] = 5 * 8;
    const c = createCipheriv('aes-256-xts', key, iv);
    const expected = Buffer.concat([c.update(p), c.final()]);
    expect(Buffer.from(encryptPage(key, 5, p)).equals(expected)).toBe(true);
  });

  it('the decrypting reader reads a whole disk page by page, undefined past its end', () => {
    const key = dmCryptKey('vm-x', 1);
    const plain = [page(1), page(2), page(3)];
    const disk = new Uint8Array(3 * PAGE_SIZE);
    plain.forEach((p, i) => {
      disk.set(encryptPage(key, i, p), i * PAGE_SIZE);
    });
    const r = decryptingReader(readerOf(disk), key);
    for (let i = 0; i < 3; i++) expect(Buffer.from(r(i) ?? []).equals(Buffer.from(plain[i] ?? []))).toBe(true);
    expect(r(3)).toBeUndefined();
  });

  it('refuses a buffer that is not one sector', () => {
    expect(() => decryptPage(dmCryptKey('vm-x', 1), 0, new Uint8Array(512))).toThrow(/4096 bytes/);
  });
});
