// Benchmark of the full image check after a power-off (observe.ts readStorage), stage by stage, on a synthetic image
// shaped like a 512 MiB Debian guest's: 38 240 data pages (16 384 agent pages, the rest real kernel LZO chunks from
// testdata), 3 000 zero-flagged PFNs, LZO + CRC32.
//   npx tsx vm/image/bench.ts [runs=5] [disk.img devicePages [e820 console log]]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { AGENT_KIND_ANON, agentPage } from './agent-tag.ts';
import { checkSwsuspImage, type PfnRange } from './check.ts';
import { crc32Le } from './crc32.ts';
import {
  asciiBytes,
  CMP_HEADER,
  ceilDiv,
  HIBERNATE_SIG,
  MAP_NEXT_SWAP,
  MAP_PAGE_ENTRIES,
  PAGE_SIZE,
  readerOf,
  SF_CRC32_MODE,
  SWSUSP_HEADER_CRC32,
  SWSUSP_HEADER_FLAGS,
  SWSUSP_HEADER_IMAGE,
  SWSUSP_HEADER_ORIG_SIG,
  SWSUSP_HEADER_SIG,
  setU64,
  UNC_PAGES,
  viewOf,
} from './format.ts';
import { lzo1xCompressLiterals, lzo1xDecompressSafe } from './lzo.ts';
import { type AgentPages, parseE820Ram, readStorage, taggedCheck } from './observe.ts';
import { parseSwsuspImage } from './parse.ts';
import { encodeSwsuspInfo, type PfnEntry, packPfns } from './write.ts';

const AGENT_PAGES = 16384;
const KERNEL_CHUNKS = 683;
const ZERO_PFNS = 3000;
const AGENT_ID = 0x1234;
const AGENT_SEED = 7;
const RAM: PfnRange[] = [
  { start: 1, end: 0x9f },
  { start: 0x100, end: 0x1ffdf },
];

/** Real kernel LZO chunks of 32 pages from testdata: compressed bytes and what they decompress to. */
function realChunks(): { cmp: Uint8Array; unc: Uint8Array }[] {
  const out: { cmp: Uint8Array; unc: Uint8Array }[] = [];
  for (const file of ['debian-6.1-lzo.chunks.gz', 'debian-6.12-lzo.chunks.gz']) {
    const buf = new Uint8Array(gunzipSync(readFileSync(new URL(`testdata/${file}`, import.meta.url))));
    const v = viewOf(buf);
    for (let o = 0; o < buf.length; ) {
      const cmpLen = v.getUint32(o, true);
      const uncLen = v.getUint32(o + 4, true);
      const cmp = buf.slice(o + 12, o + 12 + cmpLen);
      o += 12 + cmpLen;
      const r = lzo1xDecompressSafe(cmp, UNC_PAGES * PAGE_SIZE);
      if (!r.ok || r.out.length !== uncLen) throw new Error(`${file}: chunk does not decompress`);
      if (uncLen === UNC_PAGES * PAGE_SIZE) out.push({ cmp, unc: r.out });
    }
  }
  return out;
}

/** A signed LZO swap device: header, map chain, swsusp_info raw, then the chunks ([u64 cmp_len][block][zeros]). */
export function syntheticDisk(): { device: Uint8Array; devicePages: number; agent: AgentPages; dataPages: number } {
  const real = realChunks();
  // Data chunks in stream order: one agent chunk after every ~1.33 kernel chunks.
  const data: { cmp: Uint8Array; unc: Uint8Array; pages: number }[] = [];
  let agentIndex = 0;
  let kernel = 0;
  while (kernel < KERNEL_CHUNKS || agentIndex < AGENT_PAGES) {
    const wantAgent =
      agentIndex < AGENT_PAGES && (kernel >= KERNEL_CHUNKS || agentIndex * KERNEL_CHUNKS <= kernel * AGENT_PAGES);
    if (wantAgent) {
      const unc = new Uint8Array(UNC_PAGES * PAGE_SIZE);
      for (let i = 0; i < UNC_PAGES; i++) {
        unc.set(
          agentPage({ id: AGENT_ID, seed: AGENT_SEED, kind: AGENT_KIND_ANON, index: agentIndex++, generation: 0 }),
          i * PAGE_SIZE,
        );
      }
      data.push({ cmp: lzo1xCompressLiterals(unc), unc, pages: UNC_PAGES });
    } else {
      const c = real[kernel++ % real.length];
      if (c === undefined) throw new Error('no real chunks');
      data.push({ ...c, pages: UNC_PAGES });
    }
  }
  const dataPages = data.reduce((n, c) => n + c.pages, 0);
  // PFNs: ascending inside RAM, ZERO_PFNS of them zero-flagged (6.12 style), spread evenly.
  const entries: PfnEntry[] = [];
  const total = dataPages + ZERO_PFNS;
  const every = Math.floor(total / ZERO_PFNS);
  let zeroCount = 0;
  for (let i = 0, pfn = 0x100; i < total; i++, pfn += 1 + (i % 3 === 0 ? 1 : 0)) {
    const zero = i % every === 0 && zeroCount < ZERO_PFNS;
    if (zero) zeroCount++;
    entries.push({ pfn, zero });
  }
  if (zeroCount !== ZERO_PFNS) throw new Error('bad PFN list');
  const meta = packPfns(entries);
  const info = encodeSwsuspInfo({ numPhyspages: 0x20000, imagePages: dataPages, pages: 1 + meta.length + dataPages });
  const chunks: Uint8Array[] = [];
  for (let m = 0; m < meta.length; m += UNC_PAGES) {
    const group = meta.slice(m, m + UNC_PAGES);
    const unc = new Uint8Array(group.length * PAGE_SIZE);
    group.forEach((p, i) => {
      unc.set(p, i * PAGE_SIZE);
    });
    chunks.push(unc);
  }
  let crc = 0;
  const stored: Uint8Array[] = [info];
  const store = (cmp: Uint8Array, unc: Uint8Array): void => {
    crc = crc32Le(crc, unc);
    const n = ceilDiv(CMP_HEADER + cmp.length, PAGE_SIZE);
    const buf = new Uint8Array(n * PAGE_SIZE);
    setU64(viewOf(buf), 0, cmp.length);
    buf.set(cmp, CMP_HEADER);
    for (let j = 0; j < n; j++) stored.push(buf.subarray(j * PAGE_SIZE, (j + 1) * PAGE_SIZE));
  };
  for (const unc of chunks) store(lzo1xCompressLiterals(unc), unc);
  for (const c of data) store(c.cmp, c.unc);

  const mapCount = Math.floor(stored.length / MAP_PAGE_ENTRIES) + 1;
  const devicePages = 1 + stored.length + mapCount + 64;
  const device = new Uint8Array(devicePages * PAGE_SIZE);
  let slot = 1;
  let mapAt = slot++;
  const firstMap = mapAt;
  let map = new Uint8Array(PAGE_SIZE);
  let k = 0;
  for (const unit of stored) {
    const at = slot++;
    device.set(unit, at * PAGE_SIZE);
    setU64(viewOf(map), k * 8, at);
    if (++k === MAP_PAGE_ENTRIES) {
      const next = slot++;
      setU64(viewOf(map), MAP_NEXT_SWAP, next);
      device.set(map, mapAt * PAGE_SIZE);
      mapAt = next;
      map = new Uint8Array(PAGE_SIZE);
      k = 0;
    }
  }
  device.set(map, mapAt * PAGE_SIZE);
  const header = new Uint8Array(PAGE_SIZE);
  const hv = viewOf(header);
  header.set(asciiBytes('SWAPSPACE2'), SWSUSP_HEADER_ORIG_SIG);
  header.set(asciiBytes(HIBERNATE_SIG), SWSUSP_HEADER_SIG);
  setU64(hv, SWSUSP_HEADER_IMAGE, firstMap);
  hv.setUint32(SWSUSP_HEADER_FLAGS, SF_CRC32_MODE, true);
  hv.setUint32(SWSUSP_HEADER_CRC32, crc, true);
  device.set(header, 0);
  const agent = { id: AGENT_ID, seed: AGENT_SEED, generations: new Array<number>(AGENT_PAGES).fill(0) };
  return { device, devicePages, agent, dataPages };
}

const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** CPU time (user + system) of f in ms: steadier than wall time on a loaded machine. */
function time<T>(f: () => T): [T, number] {
  const t0 = process.cpuUsage();
  const r = f();
  const d = process.cpuUsage(t0);
  return [r, (d.user + d.system) / 1000];
}

function bench(
  name: string,
  disk: string,
  device: Uint8Array,
  devicePages: number,
  ram: PfnRange[],
  agent: AgentPages | undefined,
  runs: number,
): void {
  const stages: Record<string, number[]> = {
    'readStorage (end to end, file)': [],
    'parse+decompress (+CRC)': [],
    'CRC alone': [],
    check: [],
    tags: [],
  };
  let summary = '';
  for (let r = 0; r < runs; r++) {
    const [read, tRead] = time(() =>
      readStorage(disk, { devicePages, check: { ram, ...(agent === undefined ? {} : { agent }) } }),
    );
    stages['readStorage (end to end, file)']?.push(tRead);
    const [parsed, tParse] = time(() => parseSwsuspImage(readerOf(device), { devicePages }));
    stages['parse+decompress (+CRC)']?.push(tParse);
    if (!parsed.ok) throw new Error(`${parsed.error.code}: ${parsed.error.message}`);
    const image = parsed.image;
    const [, tCrc] = time(() => {
      let c = 0;
      for (const p of image.metaPages) c = crc32Le(c, p);
      for (const p of image.dataPages) c = crc32Le(c, p);
      return c;
    });
    stages['CRC alone']?.push(tCrc);
    const [, tCheck] = time(() => checkSwsuspImage(image, { ramRanges: ram, maxPerCheck: Number.POSITIVE_INFINITY }));
    stages.check?.push(tCheck);
    if (agent !== undefined) {
      const [, tTags] = time(() => taggedCheck(image, agent));
      stages.tags?.push(tTags);
    }
    summary = JSON.stringify(read.facts);
  }
  console.log(`${name}: median of ${runs} runs (first run in brackets), CPU ms`);
  for (const [stage, xs] of Object.entries(stages)) {
    if (xs.length > 0)
      console.log(`  ${stage.padEnd(32)} ${median(xs).toFixed(1).padStart(8)}  [${(xs[0] ?? 0).toFixed(1)}]`);
  }
  console.log(`  facts: ${summary.length > 400 ? `${summary.slice(0, 400)}…` : summary}`);
}

function main(): void {
  const runs = Number(process.argv[2] ?? 5);
  const realDisk = process.argv[3];
  if (realDisk !== undefined) {
    const devicePages = Number(process.argv[4]);
    const log = process.argv[5];
    const ram = log === undefined ? RAM : (parseE820Ram(readFileSync(log, 'utf8')) ?? RAM);
    bench(realDisk, realDisk, new Uint8Array(readFileSync(realDisk)), devicePages, ram, undefined, runs);
  } else {
    const { device, devicePages, agent, dataPages } = syntheticDisk();
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-bench-'));
    try {
      const disk = join(dir, 'disk.img');
      writeFileSync(disk, device);
      bench(
        `synthetic LZO image, ${dataPages} data pages, ${devicePages} device pages`,
        disk,
        device,
        devicePages,
        RAM,
        agent,
        runs,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
