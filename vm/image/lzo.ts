// LZO1X decompressor with the semantics of lib/lzo/lzo1x_decompress_safe.c, plus a literal-only LZO1X encoder for tests.

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
  const inLen = input.length;
  const out = new Uint8Array(maxOut);
  let ip = 0;
  let op = 0;
  let state = 0;
  let t = 0;
  let next = 0;
  let mPos = 0;
  const fail = (error: LzoError): LzoResult => ({ ok: false, error, produced: op, inputOffset: ip });
  const haveIp = (x: number): boolean => inLen - ip >= x;
  const haveOp = (x: number): boolean => maxOut - op >= x;
  const at = (i: number): number => input[i] ?? 0;
  // Counts a run of zero bytes (each worth 255) and the terminating byte; undefined on input overrun.
  const extendedLength = (): number | undefined => {
    const ipLast = ip;
    if (!haveIp(1)) return undefined;
    while (at(ip) === 0) {
      ip++;
      if (!haveIp(1)) return undefined;
    }
    const zeros = ip - ipLast;
    return zeros * 255 + at(ip++);
  };

  if (inLen < 3) return fail('inputOverrun');
  let bitstreamVersion = 0;
  if (inLen >= 5 && at(0) === 17) {
    bitstreamVersion = at(1);
    ip = 2;
  }

  type Mode = 'instruction' | 'literalRun' | 'trailingLiterals';
  let mode: Mode = 'instruction';
  if (at(ip) > 17) {
    t = at(ip++) - 17;
    if (t < 4) {
      next = t;
      mode = 'trailingLiterals';
    } else {
      mode = 'literalRun';
    }
  }

  for (;;) {
    if (mode === 'literalRun') {
      if (!haveOp(t)) return fail('outputOverrun');
      if (!haveIp(t + 3)) return fail('inputOverrun');
      out.set(input.subarray(ip, ip + t), op);
      op += t;
      ip += t;
      state = 4;
      mode = 'instruction';
      continue;
    }
    if (mode === 'trailingLiterals') {
      state = next;
      t = next;
      if (!haveIp(t + 3)) return fail('inputOverrun');
      if (!haveOp(t)) return fail('outputOverrun');
      out.set(input.subarray(ip, ip + t), op);
      op += t;
      ip += t;
      mode = 'instruction';
      continue;
    }

    if (!haveIp(1)) return fail('inputOverrun');
    t = at(ip++);
    if (t < 16) {
      if (state === 0) {
        if (t === 0) {
          const ext = extendedLength();
          if (ext === undefined) return fail('inputOverrun');
          t = 15 + ext;
        }
        t += 3;
        mode = 'literalRun';
        continue;
      }
      if (!haveIp(1)) return fail('inputOverrun');
      if (state !== 4) {
        next = t & 3;
        mPos = op - 1 - (t >> 2) - (at(ip++) << 2);
        if (mPos < 0) return fail('lookbehindOverrun');
        if (!haveOp(2)) return fail('outputOverrun');
        out[op] = out[mPos] ?? 0;
        out[op + 1] = out[mPos + 1] ?? 0;
        op += 2;
        mode = 'trailingLiterals';
        continue;
      }
      next = t & 3;
      mPos = op - (1 + M2_MAX_OFFSET) - (t >> 2) - (at(ip++) << 2);
      t = 3;
    } else if (t >= 64) {
      if (!haveIp(1)) return fail('inputOverrun');
      next = t & 3;
      mPos = op - 1 - ((t >> 2) & 7) - (at(ip++) << 3);
      t = (t >> 5) - 1 + 2;
    } else if (t >= 32) {
      t = (t & 31) + 2;
      if (t === 2) {
        const ext = extendedLength();
        if (ext === undefined) return fail('inputOverrun');
        t += 31 + ext;
      }
      if (!haveIp(2)) return fail('inputOverrun');
      next = at(ip) | (at(ip + 1) << 8);
      ip += 2;
      mPos = op - 1 - (next >> 2);
      next &= 3;
    } else {
      if (!haveIp(2)) return fail('inputOverrun');
      next = at(ip) | (at(ip + 1) << 8);
      if ((next & 0xfffc) === 0xfffc && (t & 0xf8) === 0x18 && bitstreamVersion !== 0) {
        if (!haveIp(3)) return fail('inputOverrun');
        t = ((t & 7) | (at(ip + 2) << 3)) + MIN_ZERO_RUN_LENGTH;
        if (!haveOp(t)) return fail('outputOverrun');
        out.fill(0, op, op + t);
        op += t;
        next &= 3;
        ip += 3;
        mode = 'trailingLiterals';
        continue;
      }
      mPos = op - ((t & 8) << 11);
      t = (t & 7) + 2;
      if (t === 2) {
        const ext = extendedLength();
        if (ext === undefined) return fail('inputOverrun');
        t += 7 + ext;
        if (!haveIp(2)) return fail('inputOverrun');
        next = at(ip) | (at(ip + 1) << 8);
      }
      ip += 2;
      mPos -= next >> 2;
      next &= 3;
      if (mPos === op) {
        // End-of-stream marker: valid only as a length-3 code that ends the input exactly.
        if (t !== 3) return fail('error');
        if (ip === inLen) return { ok: true, out: op === maxOut ? out : out.slice(0, op) };
        return fail(ip < inLen ? 'inputNotConsumed' : 'inputOverrun');
      }
      mPos -= 0x4000;
    }
    if (mPos < 0) return fail('lookbehindOverrun');
    if (!haveOp(t)) return fail('outputOverrun');
    // Byte-wise so overlapping matches (distance < length) replicate, as the kernel's byte loop does.
    for (let i = 0; i < t; i++) out[op++] = out[mPos++] ?? 0;
    mode = 'trailingLiterals';
  }
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
