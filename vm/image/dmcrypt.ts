// The dm-crypt storage target (scenario storage.kind dmCrypt): the key of a scenario, the guest's table, and the host's
// own decryption of the disk, so the image check reads what the kernel wrote through the mapping.
//
// The guest maps its swap disk as plain dm-crypt (no LUKS header: the host knows the key, and the volume's whole
// size is the swap area, as the model's device): `aes-xts-plain64 KEY 0 DEV 0 1 sector_size:4096`
// (guest/agent.c dmcrypt_main, through the DM ioctls). Each 4096-byte sector is one XTS data unit whose tweak is
// plain64 of the sector's number in 512-byte units (dm-crypt without iv_large_sectors): page p has IV p * 8,
// little-endian, zero-padded to 16 bytes. The reader below is node:crypto's AES-256-XTS, independent of the guest.
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { PAGE_SIZE, type PageReader } from './format.ts';

/** dm-crypt cipher spec and the node:crypto name of the same cipher (a 64-byte key: two AES-256 keys). */
export const DMCRYPT_CIPHER = 'aes-xts-plain64';
const NODE_CIPHER = 'aes-256-xts';
export const DMCRYPT_KEY_BYTES = 64;
/** 512-byte sectors per dm-crypt sector (sector_size:4096): the IV step from one page to the next */
const IV_SECTORS_PER_PAGE = PAGE_SIZE / 512;

/**
 * The volume key of a scenario: sha512 of its id and seed. `wrong` is another key of the same scenario (a resume
 * with keyAtResume wrong maps the disk through it).
 */
export function dmCryptKey(id: string, seed: number, which: 'right' | 'wrong' = 'right'): Buffer {
  const key = createHash('sha512').update(`hibfuzz dm-crypt key\0${id}\0${seed}\0${which}`).digest();
  if (key.length !== DMCRYPT_KEY_BYTES) throw new Error('dmCryptKey: sha512 is not 64 bytes');
  return key;
}

/** The plain64 IV of device page `page`. */
export function plain64Iv(page: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64LE(BigInt(page) * BigInt(IV_SECTORS_PER_PAGE));
  return iv;
}

const crypt = (encrypt: boolean, key: Buffer, page: number, data: Uint8Array): Uint8Array => {
  if (data.length !== PAGE_SIZE) throw new Error(`dm-crypt: a sector is ${PAGE_SIZE} bytes, not ${data.length}`);
  const c = encrypt
    ? createCipheriv(NODE_CIPHER, key, plain64Iv(page))
    : createDecipheriv(NODE_CIPHER, key, plain64Iv(page));
  const out = Buffer.concat([c.update(data), c.final()]);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
};

/** Plaintext of device page `page` as the kernel's mapping reads it. */
export const decryptPage = (key: Buffer, page: number, data: Uint8Array): Uint8Array => crypt(false, key, page, data);
/** Ciphertext of device page `page` as the kernel's mapping writes it. */
export const encryptPage = (key: Buffer, page: number, data: Uint8Array): Uint8Array => crypt(true, key, page, data);

/** A reader of the mapping's plaintext over a reader of the raw disk. */
export const decryptingReader =
  (raw: PageReader, key: Buffer): PageReader =>
  (page) => {
    const c = raw(page);
    return c === undefined ? undefined : decryptPage(key, page, c);
  };
