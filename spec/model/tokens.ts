// Page content tokens and the model checksum: a page's 4 KiB are stood in for by a 32-bit token.

/** Token of page `pfn` at write generation `gen` of a run seeded `seed`: never 0 (0 is the zero page). */
export function pageToken(seed: number, pfn: number, gen: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(pfn + 1, 0xc2b2ae35) ^ Math.imul(gen + 1, 0x27d4eb2f);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0 || 1;
}

/** Model CRC: chained over tokens in stream order, standing in for crc32_le over the page bytes. */
export function crcUpdate(crc: number, token: number): number {
  let h = Math.imul(crc ^ token, 0x01000193) ^ (crc >>> 7);
  h ^= h >>> 13;
  return h >>> 0;
}

export function crcOfArray(crc: number, a: Uint32Array, from = 0, to = a.length): number {
  let h = crc;
  for (let i = from; i < to; i++) h = crcUpdate(h, a[i] as number);
  return h;
}

/** Digest of a structured page (PFN meta page, info fields) so it can take part in the CRC. */
export function digestWords(words: ArrayLike<number>): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = crcUpdate(h, (words[i] as number) >>> 0);
  return h || 1;
}

/** Stable 32-bit id of a string (kernel profile names, scenario ids). */
export function stringId(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0 || 1;
}
