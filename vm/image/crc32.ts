// CRC32 as the swsusp CRC thread computes it (lib/crc32.c crc32_le, reflected 0xEDB88320, no pre/post inversion).
// Computed by node:zlib's crc32; this is not a plain re-export because crc32_le has no pre/post-inversion.
import { crc32 as zlibCrc32 } from 'node:zlib';

/**
 * Linux crc32_le(crc, data, len): chainable, so crc32Le(crc32Le(0, a), b) === crc32Le(0, a ++ b).
 * The hibernation CRC is crc32Le seeded 0 over every uncompressed stream page after swsusp_info (§1.7).
 * zlib's crc32 is the same CRC with pre- and post-inversion, so crc32_le(c, d) = ~zlib.crc32(d, ~c)
 * (node:zlib crc32, Node >= 20.15; package.json asks for 20.19).
 */
export function crc32Le(crc: number, data: Uint8Array): number {
  return ~zlibCrc32(data, ~crc >>> 0) >>> 0;
}
