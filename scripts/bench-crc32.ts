// CRC32 of the image check: node:zlib's crc32 (vm/image/crc32.ts) against the table loop it replaced, on 64 MiB of
// random data, median of 5 runs each; fails if the two ever disagree.
//   npx tsx scripts/bench-crc32.ts [MiB=64] [runs=5]
import { randomFillSync } from 'node:crypto';
import { crc32Le } from '../vm/image/crc32.ts';
import { referenceCrc32Le } from '../vm/image/testdata/crc32-table.ts';

const mib = Number(process.argv[2] ?? 64);
const runs = Number(process.argv[3] ?? 5);
const data = randomFillSync(new Uint8Array(mib << 20));
const ms = (f: () => number): [number, number] => {
  const t = process.hrtime.bigint();
  const v = f();
  return [Number(process.hrtime.bigint() - t) / 1e6, v];
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const table: number[] = [];
const zlib: number[] = [];
for (let i = 0; i < runs; i++) {
  const [a, va] = ms(() => referenceCrc32Le(0, data));
  const [b, vb] = ms(() => crc32Le(0, data));
  if (va !== vb) throw new Error(`run ${i}: table ${va} != zlib ${vb}`);
  table.push(a);
  zlib.push(b);
}
const [t, z] = [median(table), median(zlib)];
console.log(`${mib} MiB, median of ${runs}: table ${t.toFixed(1)} ms, zlib ${z.toFixed(1)} ms, ${(t / z).toFixed(1)}x`);
