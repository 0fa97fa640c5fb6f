// CLI edge: turn a captured swap disk into a compact fixture (fixture.ts) or a file of real compressed chunks.
//   tsx vm/image/make-fixture.ts image <disk.img> <out.gz> [--resume-offset N] [--structure] [--agent-seed S]
//   tsx vm/image/make-fixture.ts chunks <disk.img> <out.gz> <chunk#>...
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { agentTagMatcher } from './agent-tag.ts';
import { crc32Le } from './crc32.ts';
import { type Fixture, type FixtureRecord, gzipFixture } from './fixture.ts';
import { CMP_HEADER, PAGE_SIZE, readerOf, viewOf } from './format.ts';
import { parseSwsuspImage, type SwsuspImage } from './parse.ts';

const isZero = (p: Uint8Array): boolean => p.every((b) => b === 0);

export interface FixtureOptions {
  /**
   * Keep only what no check can do without: header, map and swsusp_info pages and the metadata pages raw; data
   * pages as zero / agent records when they reproduce exactly, else elided. Only for nocompress images.
   */
  readonly structure: boolean;
  /** hibfuzz.seed of the agent run, to store intact agent pages as 20-byte keys */
  readonly agentSeed?: number;
}

/** The fixture records for every device page reachable from the header (header, map chain, stored stream pages). */
export function fixtureOf(
  image: SwsuspImage,
  read: (i: number) => Uint8Array,
  devicePages: number,
  opts: FixtureOptions,
): Fixture {
  if (opts.structure && image.header.flags.compression !== 'none') {
    throw new Error('--structure needs a nocompress image: compressed chunks cannot be elided');
  }
  const match = opts.agentSeed === undefined ? undefined : agentTagMatcher({ seed: opts.agentSeed });
  const records = new Map<number, FixtureRecord>();
  const rawOrZero = (pageIndex: number): FixtureRecord => {
    const bytes = read(pageIndex);
    return isZero(bytes) ? { pageIndex, kind: 'zero' } : { pageIndex, kind: 'raw', bytes };
  };
  records.set(image.header.resumePage, rawOrZero(image.header.resumePage));
  for (const p of image.mapPages) records.set(p, rawOrZero(p));
  for (const c of image.chunks) {
    const isData = c.cmpLen === undefined && c.firstStreamPage > image.nrMeta;
    for (const p of c.devicePages) {
      const bytes = read(p);
      let rec: FixtureRecord = rawOrZero(p);
      if (isData && !isZero(bytes)) {
        const tag = match?.(bytes);
        if (tag?.intact) {
          rec = {
            pageIndex: p,
            kind: 'agent',
            key: {
              id: tag.id,
              seed: opts.agentSeed ?? 0,
              kind: tag.kind,
              index: tag.index,
              generation: tag.generation,
            },
          };
        } else if (opts.structure) {
          rec = { pageIndex: p, kind: 'elided' };
        }
      }
      records.set(p, rec);
    }
  }
  return {
    devicePages,
    resumeOffset: image.header.resumePage,
    records: [...records.values()].sort((a, b) => a.pageIndex - b.pageIndex),
  };
}

/** [u32 cmpLen][u32 uncLen][u32 crc32_le(0, unc)][cmp bytes] per chunk, gzip'ed. */
export function chunkVectors(
  image: SwsuspImage,
  read: (i: number) => Uint8Array,
  which: readonly number[],
): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const n of which) {
    const c = image.chunks[n];
    if (c?.cmpLen === undefined) throw new Error(`chunk ${n} is not a compressed chunk`);
    const buf = new Uint8Array(c.devicePages.length * PAGE_SIZE);
    c.devicePages.forEach((p, j) => {
      buf.set(read(p), j * PAGE_SIZE);
    });
    const head = new Uint8Array(12);
    const v = viewOf(head);
    v.setUint32(0, c.cmpLen, true);
    v.setUint32(4, c.streamPages * PAGE_SIZE, true);
    let crc = 0;
    for (let s = c.firstStreamPage; s < c.firstStreamPage + c.streamPages; s++) {
      const page = s <= image.nrMeta ? image.metaPages[s - 1] : image.dataPages[s - 1 - image.nrMeta];
      if (page === undefined) throw new Error(`stream page ${s} missing`);
      crc = crc32Le(crc, page);
    }
    v.setUint32(8, crc, true);
    parts.push(head, buf.subarray(CMP_HEADER, CMP_HEADER + c.cmpLen));
  }
  return new Uint8Array(gzipSync(Buffer.concat(parts), { level: 9 }));
}

function main(argv: readonly string[]): number {
  const [cmd, disk, out, ...rest] = argv;
  if ((cmd !== 'image' && cmd !== 'chunks') || disk === undefined || out === undefined) {
    console.error(
      'usage: make-fixture.ts image <disk.img> <out.gz> [--resume-offset N] [--structure] [--agent-seed S]',
    );
    console.error('       make-fixture.ts chunks <disk.img> <out.gz> <chunk#>...');
    return 2;
  }
  const flag = (name: string): string | undefined => {
    const i = rest.indexOf(name);
    return i < 0 ? undefined : rest[i + 1];
  };
  const dev = new Uint8Array(readFileSync(disk));
  const devicePages = Math.floor(dev.length / PAGE_SIZE);
  const resumeOffset = Number(flag('--resume-offset') ?? 0);
  const reader = readerOf(dev);
  const read = (i: number): Uint8Array => reader(i) ?? new Uint8Array(PAGE_SIZE);
  const parsed = parseSwsuspImage(reader, { devicePages, resumeOffset });
  if (!parsed.ok) {
    console.error(`${disk}: ${parsed.error.code}: ${parsed.error.message}`);
    return 1;
  }
  if (cmd === 'chunks') {
    const bytes = chunkVectors(parsed.image, read, rest.map(Number));
    writeFileSync(out, bytes);
    console.log(`${out}: ${rest.length} chunks, ${bytes.length} bytes`);
    return 0;
  }
  const seed = flag('--agent-seed');
  const fixture = fixtureOf(parsed.image, read, devicePages, {
    structure: rest.includes('--structure'),
    ...(seed === undefined ? {} : { agentSeed: Number(seed) }),
  });
  const bytes = gzipFixture(fixture);
  writeFileSync(out, bytes);
  const counts = new Map<string, number>();
  for (const r of fixture.records) counts.set(r.kind, (counts.get(r.kind) ?? 0) + 1);
  console.log(
    `${out}: ${fixture.records.length} records ${JSON.stringify(Object.fromEntries(counts))}, ${bytes.length} bytes`,
  );
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
