// Raw LZ4 block decompressor with the end-of-block rules of lib/lz4/lz4_decompress.c (LZ4_decompress_safe), plus a literal-only encoder.
// Kept instead of a library (Node's zlib has no LZ4; npm's bindings report only "failed"): the image checker needs the
// kernel's end-of-block rules, which error class a damaged block gives and the offsets reached (the corruption
// locator), decoding into a caller's buffer. codecs-debian.test.ts cross-checks it against Debian's liblz4 both ways.

import { copyMatch, SHORT_COPY } from './lzo.ts';

// keep-sorted start
export const LZ4_ERRORS = ['badEnd', 'badOffset', 'emptyInput', 'inputOverrun', 'outputOverrun'] as const;
// keep-sorted end
export type Lz4Error = (typeof LZ4_ERRORS)[number];

export type Lz4Result =
  | { readonly ok: true; readonly out: Uint8Array }
  | { readonly ok: false; readonly error: Lz4Error; readonly produced: number; readonly inputOffset: number };

// lz4defs.h
const MINMATCH = 4;
const LASTLITERALS = 5;
const MFLIMIT = 12;
const RUN_MASK = 15;
const ML_MASK = 15;

/**
 * Decompress one raw LZ4 block (no frame) into at most `maxOut` bytes.
 *
 * Sequence: token (literal length << 4 | match length − 4), literal-length extension bytes (while 255), literals,
 * u16le offset, match-length extension bytes. The block ends with a literal-only sequence.
 * End rules, relative to the output capacity `oend` as in the kernel: a literal run that would end within
 * MFLIMIT (12) bytes of `oend`, or that leaves fewer than 8 input bytes, must be the last sequence and end the
 * input exactly; a match must end at least LASTLITERALS (5) bytes before `oend`.
 * NOTE: stricter than the kernel on one point: offset 0 (undefined in the LZ4 format) is rejected.
 * @remarks Mirrors lib/lz4/lz4_decompress.c: LZ4_decompress_generic() with endOnInput, full decoding, no dictionary.
 */
export function lz4DecompressSafe(input: Uint8Array, maxOut: number): Lz4Result {
  const out = new Uint8Array(maxOut);
  const r = lz4DecompressInto(input, out, 0, maxOut);
  if (typeof r !== 'number') return r;
  return { ok: true, out: r === maxOut ? out : out.slice(0, r) };
}

/** A failed lz4DecompressInto: the error, bytes produced, input offset reached. */
export type Lz4Failure = Extract<Lz4Result, { ok: false }>;

const lz4Fail = (error: Lz4Error, produced: number, inputOffset: number): Lz4Failure => ({
  ok: false,
  error,
  produced,
  inputOffset,
});

/**
 * lz4DecompressSafe into `out` at `outStart`, producing at most `maxOut` bytes (out.length >= outStart + maxOut);
 * offsets never reach before `outStart`.
 * @returns the number of bytes produced, or the failure lz4DecompressSafe would report.
 */
export function lz4DecompressInto(
  input: Uint8Array,
  out: Uint8Array,
  outStart: number,
  maxOut: number,
): number | Lz4Failure {
  const iend = input.length;
  const oend = outStart + maxOut;
  if (!Number.isSafeInteger(outStart) || !Number.isSafeInteger(maxOut) || outStart < 0 || maxOut < 0)
    throw new RangeError('lz4DecompressInto: outStart and maxOut must be non-negative integers');
  if (oend > out.length) throw new RangeError('lz4DecompressInto: out is shorter than outStart + maxOut');
  let ip = 0;
  let op = outStart;

  if (iend === 0) return lz4Fail('emptyInput', 0, 0);
  for (;;) {
    if (ip >= iend) return lz4Fail('inputOverrun', op - outStart, ip);
    const token = input[ip++] ?? 0;
    let length = token >> 4;
    if (length === RUN_MASK) {
      let s = 0;
      do {
        if (ip >= iend) return lz4Fail('inputOverrun', op - outStart, ip);
        s = input[ip++] ?? 0;
        length += s;
      } while (s === 255 && ip < iend - RUN_MASK);
    }
    const cpy = op + length;
    if (cpy > oend - MFLIMIT || ip + length > iend - (2 + 1 + LASTLITERALS)) {
      // Last sequence: literals only, consuming the input exactly.
      if (ip + length !== iend) return lz4Fail(ip + length > iend ? 'inputOverrun' : 'badEnd', op - outStart, ip);
      if (cpy > oend) return lz4Fail('outputOverrun', op - outStart, ip);
      out.set(input.subarray(ip, iend), op);
      return cpy - outStart;
    }
    if (length < SHORT_COPY) {
      for (let i = 0; i < length; i++) out[op + i] = input[ip + i] ?? 0;
    } else {
      out.set(input.subarray(ip, ip + length), op);
    }
    ip += length;
    op = cpy;

    const offset = (input[ip] ?? 0) | ((input[ip + 1] ?? 0) << 8);
    ip += 2;
    if (offset === 0 || offset > op - outStart) return lz4Fail('badOffset', op - outStart, ip);
    let matchLength = token & ML_MASK;
    if (matchLength === ML_MASK) {
      let s = 0;
      do {
        s = input[ip++] ?? 0;
        if (ip > iend - LASTLITERALS) return lz4Fail('inputOverrun', op - outStart, ip);
        matchLength += s;
      } while (s === 255);
    }
    matchLength += MINMATCH;
    if (op + matchLength > oend - LASTLITERALS) return lz4Fail('outputOverrun', op - outStart, ip);
    // Overlapping matches (offset < length) replicate.
    op = copyMatch(out, op, op - offset, matchLength);
  }
}

/**
 * Encode `data` as one literal-only LZ4 sequence: [token n≥15 ? 0xF0 : n<<4][255 × k][r][data], n − 15 = 255·k + r.
 * Valid for every LZ4 block decompressor; the empty input encodes as the single byte 0x00.
 */
export function lz4CompressLiterals(data: Uint8Array): Uint8Array {
  const n = data.length;
  const head: number[] = [];
  if (n < RUN_MASK) {
    head.push(n << 4);
  } else {
    head.push(RUN_MASK << 4);
    let rest = n - RUN_MASK;
    while (rest >= 255) {
      head.push(255);
      rest -= 255;
    }
    head.push(rest);
  }
  const out = new Uint8Array(head.length + n);
  out.set(head, 0);
  out.set(data, head.length);
  return out;
}
