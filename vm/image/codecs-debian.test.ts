// Our LZO1X and LZ4 decompressors against Debian's builds of the reference libraries (installed by vm/setup.sh):
// liblzo2 through python3-lzo (LZO1X-1 as the kernel compresses, and LZO1X-999), liblz4 through python3-lz4 (raw
// blocks, default and high compression) and the lz4 CLI (frames of independent blocks). Random and structured pages
// compressed by the Debian tool decompress with ours to the same bytes; what our literal encoders write decompresses
// with the Debian tool.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lz4CompressLiterals, lz4DecompressSafe } from './lz4.ts';
import { lzo1xCompressLiterals, lzo1xDecompressSafe } from './lzo.ts';

const PAGE = 4096;
const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-codecs-'));

/** xorshift32 bytes: deterministic, incompressible. */
function random(n: number, seed: number): Uint8Array {
  let x = seed >>> 0 || 1;
  return Uint8Array.from({ length: n }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x & 0xff;
  });
}

/** Pages shaped like memory: zeros, a repeated word, text, half zero half random, short runs, and pure noise. */
function inputs(): { name: string; data: Uint8Array }[] {
  const text = new TextEncoder().encode('struct page *pfn_to_page(unsigned long pfn); /* hibernation */\n'.repeat(80));
  const runs = Uint8Array.from({ length: 8 * PAGE }, (_, i) => (i >> 3) % 7);
  const half = new Uint8Array(PAGE);
  half.set(random(PAGE / 2, 3), PAGE / 2);
  const words = new Uint8Array(new Uint32Array(PAGE / 4).fill(0xdeadbeef).buffer);
  const chunk = new Uint8Array(32 * PAGE); // the kernel compresses 32 pages at a time
  for (let p = 0; p < 32; p++) chunk.set(p % 3 === 0 ? random(PAGE, p + 10) : p % 3 === 1 ? words : half, p * PAGE);
  return [
    { name: 'zero page', data: new Uint8Array(PAGE) },
    { name: 'repeated word', data: words },
    { name: 'text', data: text.slice(0, PAGE) },
    { name: 'half zero', data: half },
    { name: 'short runs', data: runs },
    { name: 'random page', data: random(PAGE, 1) },
    { name: 'random 5 bytes', data: random(5, 2) },
    { name: '32-page mixed chunk', data: chunk },
  ];
}

/** Run a python3 snippet over files in `dir`: argv[1] is the input file, argv[2] the output file. */
function python(script: string, input: Uint8Array, ...args: string[]): Uint8Array {
  const inFile = join(dir, 'in.bin');
  const outFile = join(dir, 'out.bin');
  writeFileSync(inFile, input);
  const r = spawnSync('/usr/bin/python3', ['-c', script, inFile, outFile, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3: ${r.stderr.trim()} (vm/setup.sh installs python3-lzo, python3-lz4)`);
  return new Uint8Array(readFileSync(outFile));
}
const io = 'import sys\nd = open(sys.argv[1], "rb").read()\n';
const write = '\nopen(sys.argv[2], "wb").write(out)';

const lzoCompress = (d: Uint8Array, level: number) =>
  python(`${io}import lzo\nout = lzo.compress(d, ${level}, False)${write}`, d);
const lzoDecompress = (d: Uint8Array, n: number) =>
  python(`${io}import lzo\nout = lzo.decompress(d, False, ${n})${write}`, d);
const lz4Compress = (d: Uint8Array, mode: string) =>
  python(`${io}import lz4.block\nout = lz4.block.compress(d, mode="${mode}", store_size=False)${write}`, d);
const lz4Decompress = (d: Uint8Array, n: number) =>
  python(`${io}import lz4.block\nout = lz4.block.decompress(d, uncompressed_size=${n})${write}`, d);

/** The blocks of an LZ4 frame written by the lz4 CLI (magic, FLG, BD, [content size], HC, blocks, end mark). */
function frameBlocks(frame: Uint8Array): { data: Uint8Array; stored: boolean }[] {
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  expect(v.getUint32(0, true)).toBe(0x184d2204);
  const flg = frame[4] as number;
  expect(flg & 0x20).toBe(0x20); // independent blocks: each decompresses alone, like a kernel chunk
  let o = 4 + 2 + (flg & 0x08 ? 8 : 0) + 1;
  const blocks: { data: Uint8Array; stored: boolean }[] = [];
  for (;;) {
    const size = v.getUint32(o, true);
    o += 4;
    if (size === 0) break;
    const len = size & 0x7fffffff;
    blocks.push({ data: frame.subarray(o, o + len), stored: (size & 0x80000000) !== 0 });
    o += len + (flg & 0x10 ? 4 : 0);
  }
  return blocks;
}

describe('LZO1X against liblzo2 (python3-lzo)', () => {
  for (const { name, data } of inputs()) {
    it.each([1, 9])(`${name}: liblzo2 level %i compresses, ours decompresses the same bytes`, (level) => {
      const cmp = lzoCompress(data, level);
      const r = lzo1xDecompressSafe(cmp, data.length);
      expect(r.ok && Buffer.from(r.out).equals(Buffer.from(data))).toBe(true);
    });
    it(`${name}: our literal encoding decompresses with liblzo2`, () => {
      expect(Buffer.from(lzoDecompress(lzo1xCompressLiterals(data), data.length)).equals(Buffer.from(data))).toBe(true);
    });
  }
  it('a liblzo2 stream cut short fails with us (the cross-check can fail)', () => {
    const data = inputs()[2]?.data as Uint8Array;
    const cmp = lzoCompress(data, 1);
    const r = lzo1xDecompressSafe(cmp.subarray(0, cmp.length - 4), data.length);
    expect(r.ok).toBe(false);
  });
});

describe('LZ4 against liblz4 (python3-lz4 blocks, lz4 CLI frames)', () => {
  for (const { name, data } of inputs()) {
    it.each(['default', 'high_compression'])(`${name}: liblz4 %s block, ours decompresses the same bytes`, (mode) => {
      const cmp = lz4Compress(data, mode);
      const r = lz4DecompressSafe(cmp, data.length);
      expect(r.ok && Buffer.from(r.out).equals(Buffer.from(data))).toBe(true);
    });
    it(`${name}: our literal encoding decompresses with liblz4`, () => {
      expect(Buffer.from(lz4Decompress(lz4CompressLiterals(data), data.length)).equals(Buffer.from(data))).toBe(true);
    });
  }
  it('the lz4 CLI (64 KiB independent blocks): every compressed block of its frame decompresses with ours', () => {
    const data = inputs().at(-1)?.data as Uint8Array;
    const r = spawnSync('lz4', ['-B4', '-BI', '-c', '-q'], { input: data });
    if (r.error !== undefined) throw new Error(`lz4: ${r.error.message} (vm/setup.sh installs lz4)`);
    expect(r.status).toBe(0);
    const blocks = frameBlocks(new Uint8Array(r.stdout));
    expect(blocks.filter((b) => !b.stored).length).toBeGreaterThan(0);
    const out = Buffer.concat(
      blocks.map((b) => {
        if (b.stored) return Buffer.from(b.data);
        const d = lz4DecompressSafe(b.data, 64 * 1024);
        if (!d.ok) throw new Error(`block: ${d.error}`);
        return Buffer.from(d.out);
      }),
    );
    expect(out.equals(Buffer.from(data))).toBe(true);
  });
  it('a liblz4 block with a corrupted match offset fails with us or differs (the cross-check can fail)', () => {
    const data = inputs()[4]?.data as Uint8Array;
    const cmp = lz4Compress(data, 'default');
    const r = lz4DecompressSafe(cmp.subarray(0, cmp.length - 3), data.length);
    expect(r.ok && Buffer.from(r.out).equals(Buffer.from(data))).toBe(false);
  });
});
