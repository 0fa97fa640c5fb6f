// The table-driven lib/crc32.c crc32_le, as vm/image/crc32.ts computed it before it used node:zlib: the reference
// crc32.test.ts checks against and scripts/bench-crc32.ts times.
const TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function referenceCrc32Le(crc: number, data: Uint8Array): number {
  let c = crc >>> 0;
  for (const b of data) c = (TABLE[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
  return c >>> 0;
}
