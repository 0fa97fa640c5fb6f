// CRC32 as the swsusp CRC thread computes it (lib/crc32.c crc32_le, reflected 0xEDB88320, no pre/post inversion).

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * Linux crc32_le(crc, data, len): chainable, so crc32Le(crc32Le(0, a), b) === crc32Le(0, a ++ b).
 * The hibernation CRC is crc32Le seeded 0 over every uncompressed stream page after swsusp_info (§1.7);
 * it equals zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF.
 */
export function crc32Le(crc: number, data: Uint8Array): number {
  let c = crc >>> 0;
  for (let i = 0; i < data.length; i++) {
    c = (TABLE[(c ^ (data[i] ?? 0)) & 0xff] ?? 0) ^ (c >>> 8);
  }
  return c >>> 0;
}
