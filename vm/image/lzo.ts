// LZO1X decompressor with the semantics of lib/lzo/lzo1x_decompress_safe.c, plus a literal-only LZO1X encoder for tests.
// Kept instead of a library (Node's zlib has no LZO; binding liblzo2 would need a native addon): the image checker
// needs the kernel's verdict on a damaged chunk (its LZO_E_* class, including the lzo-rle variant and trailing input)
// and the output and input offsets where decoding stopped, which the corruption locator maps back to pages; it also
// decodes into a caller's buffer. codecs-debian.test.ts cross-checks it against Debian's liblzo2 both ways.

// keep-sorted start
export const LZO_ERRORS = [
  'eofNotFound',
  'error',
  'inputNotConsumed',
  'inputOverrun',
  'lookbehindOverrun',
  'outputOverrun',
] as const;
// keep-sorted end
export type LzoError = (typeof LZO_ERRORS)[number];

export type LzoResult =
  | { readonly ok: true; readonly out: Uint8Array }
  | { readonly ok: false; readonly error: LzoError; readonly produced: number; readonly inputOffset: number };

/** lzodefs.h: M2_MAX_OFFSET; 3-byte M1 matches after a literal run reach back 1 + M2_MAX_OFFSET more. */
const M2_MAX_OFFSET = 0x0800;
/** lzo-rle (bitstream version >= 1) zero runs: MIN_ZERO_RUN_LENGTH. */
const MIN_ZERO_RUN_LENGTH = 4;

/**
 * Decompress an LZO1X stream into at most `maxOut` bytes, never reading or writing out of bounds.
 *
 * Instruction set (first byte t of each instruction; `state` = literals copied after the previous instruction):
 * - t < 16, state 0: literal run of t+3 bytes (t = 0: 15 + 255·zeros + next byte, + 3);
 * - t < 16, state 1..3: 2-byte match, distance 1 + (t>>2) + (b<<2);
 * - t < 16, state 4: 3-byte match, distance 2049 + (t>>2) + (b<<2);
 * - 64..255 (M2): length (t>>5)+1, distance 1 + ((t>>2)&7) + (b<<3);
 * - 32..63 (M3): length (t&31)+2 (0: extended), distance 1 + (le16>>2);
 * - 16..31 (M4): length (t&7)+2 (0: extended), distance 16384 + ((t&8)<<11) + (le16>>2); distance 16384 with
 *   length 3 is end of stream (the 3-byte marker 0x11 0x00 0x00). The low 2 bits of the last distance byte are
 *   the number of literals (0..3) that follow the match.
 * A first byte > 17 starts with a literal run of t-17 bytes; a first byte 17 with >= 5 input bytes announces an
 * lzo-rle bitstream version (M4 codes with le16 & 0xfffc == 0xfffc are then zero runs).
 * @returns the output, or the kernel's error class (LZO_E_*) with how far it got. Trailing input after the end
 *   marker is `inputNotConsumed`, which the hibernation reader treats as a failure like every non-OK result.
 * @remarks Mirrors lib/lzo/lzo1x_decompress_safe.c: lzo1x_decompress_safe(); the bounds checks are the kernel's
 *   NEED_IP / NEED_OP / TEST_LB, made total (no read past the input even where the kernel relies on slack).
 */
export function lzo1xDecompressSafe(input: Uint8Array, maxOut: number): LzoResult {
  const out = new Uint8Array(maxOut);
  const r = lzo1xDecompressInto(input, out, 0, maxOut);
  if (typeof r !== 'number') return r;
  return { ok: true, out: r === maxOut ? out : out.slice(0, r) };
}

/** A failed lzo1xDecompressInto: the kernel's error class, bytes produced, input offset reached. */
export type LzoFailure = Extract<LzoResult, { ok: false }>;

const lzoFail = (error: LzoError, produced: number, inputOffset: number): LzoFailure => ({
  ok: false,
  error,
  produced,
  inputOffset,
});

/** Below this length a byte loop beats copyWithin / set / fill (measured with vm/image/bench.ts). */
export const SHORT_COPY = 32;

/**
 * lzo1xDecompressSafe into `out` at `outStart`, producing at most `maxOut` bytes (out.length >= outStart + maxOut):
 * lookbehind never reaches before `outStart`, so the bytes before it are never read.
 * @returns the number of bytes produced, or the failure lzo1xDecompressSafe would report.
 */
export function lzo1xDecompressInto(
  input: Uint8Array,
  out: Uint8Array,
  outStart: number,
  maxOut: number,
): number | LzoFailure {
  const inLen = input.length;
  const opEnd = outStart + maxOut;
  if (!Number.isSafeInteger(outStart) || !Number.isSafeInteger(maxOut) || outStart < 0 || maxOut < 0)
    throw new RangeError('lzo1xDecompressInto: outStart and maxOut must be non-negative integers');
  if (opEnd > out.length) throw new RangeError('lzo1xDecompressInto: out is shorter than outStart + maxOut');
  let ip = 0;
  let op = outStart;
  let state = 0;
  let t = 0;
  let next = 0;
  let mPos = 0;

  if (inLen < 3) return lzoFail('inputOverrun', 0, 0);
  let bitstreamVersion = 0;
  if (inLen >= 5 && input[0] === 17) {
    bitstreamVersion = input[1] ?? 0;
    ip = 2;
  }

  // mode: what comes before the next instruction: 0 nothing, 1 a literal run of t bytes, 2 `next` trailing
  // literals (0..3)
  let mode = 0;
  const first = input[ip] ?? 0;
  if (first > 17) {
    ip++;
    t = first - 17;
    if (t < 4) {
      next = t;
      mode = 2;
    } else {
      mode = 1;
    }
  }

  for (;;) {
    if (mode === 1) {
      if (opEnd - op < t) return lzoFail('outputOverrun', op - outStart, ip);
      if (inLen - ip < t + 3) return lzoFail('inputOverrun', op - outStart, ip);
      if (t < SHORT_COPY) {
        for (let i = 0; i < t; i++) out[op + i] = input[ip + i] ?? 0;
      } else {
        out.set(input.subarray(ip, ip + t), op);
      }
      op += t;
      ip += t;
      state = 4;
    } else if (mode === 2) {
      state = next;
      t = next;
      if (inLen - ip < t + 3) return lzoFail('inputOverrun', op - outStart, ip);
      if (opEnd - op < t) return lzoFail('outputOverrun', op - outStart, ip);
      for (let i = 0; i < t; i++) out[op + i] = input[ip + i] ?? 0;
      op += t;
      ip += t;
    }
    // every instruction below sets the mode of the next iteration (or returns)

    if (inLen - ip < 1) return lzoFail('inputOverrun', op - outStart, ip);
    t = input[ip++] ?? 0;
    if (t < 16) {
      if (state === 0) {
        if (t === 0) {
          const z = skipZeros(input, ip);
          if (z < 0) return lzoFail('inputOverrun', op - outStart, inLen);
          t = 15 + (z - ip) * 255 + (input[z] ?? 0);
          ip = z + 1;
        }
        t += 3;
        mode = 1;
        continue;
      }
      if (inLen - ip < 1) return lzoFail('inputOverrun', op - outStart, ip);
      if (state !== 4) {
        next = t & 3;
        mPos = op - 1 - (t >> 2) - ((input[ip++] ?? 0) << 2);
        if (mPos < outStart) return lzoFail('lookbehindOverrun', op - outStart, ip);
        if (opEnd - op < 2) return lzoFail('outputOverrun', op - outStart, ip);
        out[op] = out[mPos] ?? 0;
        out[op + 1] = out[mPos + 1] ?? 0;
        op += 2;
        mode = 2;
        continue;
      }
      next = t & 3;
      mPos = op - (1 + M2_MAX_OFFSET) - (t >> 2) - ((input[ip++] ?? 0) << 2);
      t = 3;
    } else if (t >= 64) {
      if (inLen - ip < 1) return lzoFail('inputOverrun', op - outStart, ip);
      next = t & 3;
      mPos = op - 1 - ((t >> 2) & 7) - ((input[ip++] ?? 0) << 3);
      t = (t >> 5) + 1;
    } else if (t >= 32) {
      t = (t & 31) + 2;
      if (t === 2) {
        const z = skipZeros(input, ip);
        if (z < 0) return lzoFail('inputOverrun', op - outStart, inLen);
        t += 31 + (z - ip) * 255 + (input[z] ?? 0);
        ip = z + 1;
      }
      if (inLen - ip < 2) return lzoFail('inputOverrun', op - outStart, ip);
      next = (input[ip] ?? 0) | ((input[ip + 1] ?? 0) << 8);
      ip += 2;
      mPos = op - 1 - (next >> 2);
      next &= 3;
    } else {
      if (inLen - ip < 2) return lzoFail('inputOverrun', op - outStart, ip);
      next = (input[ip] ?? 0) | ((input[ip + 1] ?? 0) << 8);
      if ((next & 0xfffc) === 0xfffc && (t & 0xf8) === 0x18 && bitstreamVersion !== 0) {
        if (inLen - ip < 3) return lzoFail('inputOverrun', op - outStart, ip);
        t = ((t & 7) | ((input[ip + 2] ?? 0) << 3)) + MIN_ZERO_RUN_LENGTH;
        if (opEnd - op < t) return lzoFail('outputOverrun', op - outStart, ip);
        out.fill(0, op, op + t);
        op += t;
        next &= 3;
        ip += 3;
        mode = 2;
        continue;
      }
      mPos = op - ((t & 8) << 11);
      t = (t & 7) + 2;
      if (t === 2) {
        const z = skipZeros(input, ip);
        if (z < 0) return lzoFail('inputOverrun', op - outStart, inLen);
        t += 7 + (z - ip) * 255 + (input[z] ?? 0);
        ip = z + 1;
        if (inLen - ip < 2) return lzoFail('inputOverrun', op - outStart, ip);
        next = (input[ip] ?? 0) | ((input[ip + 1] ?? 0) << 8);
      }
      ip += 2;
      mPos -= next >> 2;
      next &= 3;
      if (mPos === op) {
        // End-of-stream marker: valid only as a length-3 code that ends the input exactly.
        if (t !== 3) return lzoFail('error', op - outStart, ip);
        if (ip === inLen) return op - outStart;
        return lzoFail(ip < inLen ? 'inputNotConsumed' : 'inputOverrun', op - outStart, ip);
      }
      mPos -= 0x4000;
    }
    if (mPos < outStart) return lzoFail('lookbehindOverrun', op - outStart, ip);
    if (opEnd - op < t) return lzoFail('outputOverrun', op - outStart, ip);
    if (t < SHORT_COPY) {
      const end = op + t;
      while (op < end) out[op++] = out[mPos++] ?? 0;
    } else {
      op = copyMatch(out, op, mPos, t);
    }
    mode = 2;
  }
}

/** Extended lengths: the index of the first non-zero byte at or after `ip` (each zero before it counts 255), or -1. */
function skipZeros(input: Uint8Array, ip: number): number {
  const n = input.length;
  let i = ip;
  while (i < n && input[i] === 0) i++;
  return i < n ? i : -1;
}

/**
 * Copy a match of `len` bytes from `from` to `op` (from < op) as the kernel's byte loop does: an overlapping
 * match (distance < len) replicates its first `distance` bytes. A short match goes byte by byte, distance 1 is a
 * fill, a non-overlapping match one copyWithin, and an overlapping one copyWithin calls of distance, 2·distance,
 * 4·distance… bytes (each source lies in what is already written, and the output has period `distance`).
 * @returns the new output position
 */
export function copyMatch(out: Uint8Array, op: number, from: number, len: number): number {
  const end = op + len;
  if (len < SHORT_COPY) {
    let m = from;
    while (op < end) out[op++] = out[m++] ?? 0;
    return end;
  }
  const distance = op - from;
  if (distance === 1) {
    out.fill(out[from] ?? 0, op, end);
    return end;
  }
  let pos = op;
  while (pos < end) {
    const n = Math.min(pos - from, end - pos);
    out.copyWithin(pos, from, from + n);
    pos += n;
  }
  return end;
}

/** The LZO1X end-of-stream marker: an M4 code of length 3 and distance 16384. */
export const LZO_EOF_MARKER: readonly number[] = [0x11, 0x00, 0x00];

/**
 * Encode `data` as a valid LZO1X-1 stream made of one literal run and the end marker (no matches).
 * Any LZO1X decompressor accepts it; its size is data.length + O(data.length / 255) + 4 at most, well inside
 * bytes_worst_compress for a 128 KiB chunk.
 * Layout: n = 0 → marker only; n <= 238 → [17 + n][data]; else [0][0 × k][r][data] with n − 18 = 255·k + r, r ≥ 1.
 */
export function lzo1xCompressLiterals(data: Uint8Array): Uint8Array {
  const n = data.length;
  const head: number[] = [];
  if (n > 0 && n <= 238) {
    head.push(17 + n);
  } else if (n > 238) {
    head.push(0);
    let rest = n - 18;
    while (rest > 255) {
      head.push(0);
      rest -= 255;
    }
    head.push(rest);
  }
  const out = new Uint8Array(head.length + n + LZO_EOF_MARKER.length);
  out.set(head, 0);
  out.set(data, head.length);
  out.set(LZO_EOF_MARKER, head.length + n);
  return out;
}
