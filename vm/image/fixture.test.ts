// Real images: compact fixtures of swap disks captured after Debian 6.1 / 6.12 kernels hibernated (testdata/README.md).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AGENT_KIND_ANON, agentPage, agentTagMatcher } from './agent-tag.ts';
import { checkAgentTags, checkSwsuspImage, findTaggedPages, type PfnRange } from './check.ts';
import { type CorruptTarget, corruptImagePage, locate } from './corrupt.ts';
import { crc32Le } from './crc32.ts';
import {
  decodeFixture,
  encodeFixture,
  type Fixture,
  fixtureDevice,
  fixtureReader,
  gzipFixture,
  loadFixtureFile,
} from './fixture.ts';
import { PAGE_SIZE, readerOf } from './format.ts';
import { lzo1xDecompressSafe } from './lzo.ts';
import { fixtureOf } from './make-fixture.ts';
import { parseSwsuspImage } from './parse.ts';
import { buildSwsuspImage, randomPages, seededBytes } from './write.ts';

const testdata = (name: string): string => fileURLToPath(new URL(`./testdata/${name}`, import.meta.url));

/** The guests' firmware map (BIOS-e820 usable ranges in the console logs) as PFN ranges, PFN 0 being nosave. */
const GUEST_RAM: readonly PfnRange[] = [
  { start: 1, end: 0x9f },
  { start: 0x100, end: 0xbfdd },
];
/** Agent run: hibfuzz.id=0x1234 hibfuzz.seed=1 hibfuzz.anon=2048 hibfuzz.zero=256, generation 0. */
const AGENT = { id: 0x1234, seed: 1, count: 2048, generation: 0 };

const FIXTURES = [
  {
    file: 'debian-6.1-nocompress.structure.gz',
    kernel: '6.1',
    imagePages: 21334,
    pages: 21377,
    nrMeta: 42,
    entries: 21334,
    zero: 0,
  },
  {
    file: 'debian-6.12-nocompress.structure.gz',
    kernel: '6.12',
    imagePages: 14707,
    pages: 14743,
    nrMeta: 35,
    entries: 17657,
    zero: 2950,
  },
] as const;

describe.each(FIXTURES)('real image fixture $file', (fx) => {
  const fixture = loadFixtureFile(testdata(fx.file));
  const base = fixtureReader(fixture);
  const cache = new Map<number, Uint8Array | undefined>();
  const read = (i: number): Uint8Array | undefined => {
    if (!cache.has(i)) cache.set(i, base(i));
    return cache.get(i);
  };
  const parse = () => parseSwsuspImage(read, { devicePages: fixture.devicePages });

  it('parses with the header and counts the kernel wrote', () => {
    // Act
    const r = parse();
    // Assert
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const { image } = r;
    expect(image.header.origSig).toBe('SWAPSPACE2');
    expect(image.header.flags).toMatchObject({ noCompress: true, crc32Mode: false, platformMode: false });
    expect(image.info).toMatchObject({
      numPhyspages: 49019,
      imagePages: fx.imagePages,
      pages: fx.pages,
      archMagicOk: true,
    });
    expect(image.nrMeta).toBe(fx.nrMeta);
    expect(image.pfns.length).toBe(fx.entries);
    expect(image.zeroFlags.filter((z) => z).length).toBe(fx.zero);
    expect(image.dataPages.length).toBe(fx.imagePages);
  });

  it('passes every check of check.ts, RAM map included', () => {
    // Arrange
    const r = parse();
    if (!r.ok) throw new Error(r.error.message);
    // Act
    const violations = checkSwsuspImage(r.image, { ramRanges: GUEST_RAM });
    // Assert
    expect(violations).toEqual([]);
  });

  it('holds each of the 2048 agent pages exactly once, intact, paired with its PFN', () => {
    // Arrange
    const r = parse();
    if (!r.ok) throw new Error(r.error.message);
    // Act
    const found = findTaggedPages(r.image, agentTagMatcher({ seed: AGENT.seed, id: AGENT.id }));
    // Assert
    expect(found.length).toBe(AGENT.count);
    expect(checkAgentTags(found, AGENT)).toEqual([]);
    const pfns = new Set(r.image.pfns);
    expect(found.every((f) => pfns.has(f.pfn))).toBe(true);
  });

  it('fails the checks after corrupt.ts flips bits', () => {
    // Arrange
    const opts = { devicePages: fixture.devicePages };
    const before = parse();
    if (!before.ok) throw new Error(before.error.message);
    const agentData = findTaggedPages(before.image, agentTagMatcher({ seed: AGENT.seed }))[0]?.dataIndex ?? 0;
    /** The fixture with one hit applied, as a reader (cheaper than a 128 MiB copy per case). */
    const flipped = (target: CorruptTarget) => {
      const hit = locate(before.image, target);
      if (hit === undefined) throw new Error('locate');
      const page = (read(hit.devicePage) ?? new Uint8Array(PAGE_SIZE)).slice();
      page[hit.byteOffset] = (page[hit.byteOffset] ?? 0) ^ hit.mask;
      return parseSwsuspImage((i) => (i === hit.devicePage ? page : read(i)), opts);
    };
    // Act: word 64 bit 20 of meta page 3 (a PFN grows by 2^20); the signature; map entry 5 bit 40; a byte of an
    // agent page through corruptImagePage on the materialised device
    const meta = flipped({ region: 'meta', index: 3, bit: 64 * 64 + 20 });
    const sig = flipped({ region: 'header', index: 0, bit: 4086 * 8 });
    const map = flipped({ region: 'map', index: 0, bit: 5 * 64 + 40 });
    const data = corruptImagePage(fixtureDevice(fixture), { region: 'data', index: agentData, bit: 8 * 100 }, opts);
    // Assert
    expect(meta.ok && checkSwsuspImage(meta.image).map((v) => v.invariant)).toContain('EveryPageSavedOnce');
    expect(sig.ok ? 'ok' : sig.error.code).toBe('badSignature');
    expect(map.ok ? 'ok' : map.error.code).toBe('entryOutOfRange');
    if (!data.ok) throw new Error(data.error.message);
    const dataParsed = parseSwsuspImage(data.bytes, opts);
    if (!dataParsed.ok) throw new Error(dataParsed.error.message);
    // NOTE: nocompress images carry no CRC, so only the agent tags can see a flipped data bit.
    expect(checkSwsuspImage(dataParsed.image)).toEqual([]);
    const tags = checkAgentTags(findTaggedPages(dataParsed.image, agentTagMatcher({ seed: AGENT.seed })), AGENT);
    expect(tags.map((v) => v.invariant)).toEqual(['ResumeRestoresIdenticalMemory']);
  });
});

describe('fixtureOf (make-fixture.ts)', () => {
  it('keeps structure raw, agent pages as keys, zero pages as zero, elides the rest, and still parses the same', () => {
    // Arrange: 6.1 nocompress image with 3 agent pages, 2 zero pages and 4 other pages
    const key = (index: number) => ({ id: 5, seed: 9, kind: AGENT_KIND_ANON, index, generation: 1 });
    const data = [
      agentPage(key(0)),
      new Uint8Array(PAGE_SIZE),
      seededBytes(PAGE_SIZE, 1),
      agentPage(key(1)),
      seededBytes(PAGE_SIZE, 2),
      new Uint8Array(PAGE_SIZE),
      seededBytes(PAGE_SIZE, 3),
      agentPage(key(2)),
      seededBytes(PAGE_SIZE, 4),
    ];
    const img = buildSwsuspImage({
      pages: data.map((d, i) => ({ pfn: 100 + 2 * i, data: d })),
      style: '6.1',
      compression: 'none',
    });
    const original = parseSwsuspImage(img.device, { devicePages: img.devicePages });
    if (!original.ok) throw new Error('parse');
    const reader = readerOf(img.device);
    // Act
    const f = fixtureOf(original.image, (i) => reader(i) ?? new Uint8Array(PAGE_SIZE), img.devicePages, {
      structure: true,
      agentSeed: 9,
    });
    const back = loadBack(f);
    // Assert
    const kinds = new Map<string, number>();
    for (const r of back.records) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
    expect(Object.fromEntries(kinds)).toEqual({ raw: 4, zero: 2, agent: 3, elided: 4 });
    const again = parseSwsuspImage(fixtureReader(back), { devicePages: back.devicePages });
    if (!again.ok) throw new Error(again.error.message);
    expect(again.image.pfns).toEqual(original.image.pfns);
    expect(checkSwsuspImage(again.image)).toEqual([]);
    expect(
      checkAgentTags(findTaggedPages(again.image, agentTagMatcher({ seed: 9 })), { id: 5, count: 3, generation: 1 }),
    ).toEqual([]);
  });

  it('refuses --structure on a compressed image', () => {
    const img = buildSwsuspImage({ pages: randomPages({ count: 5, seed: 1 }), style: '6.12', compression: 'lzo' });
    const r = parseSwsuspImage(img.device, { devicePages: img.devicePages });
    if (!r.ok) throw new Error('parse');
    expect(() => fixtureOf(r.image, () => new Uint8Array(PAGE_SIZE), img.devicePages, { structure: true })).toThrow(
      /nocompress/,
    );
  });
});

const loadBack = (f: Fixture): Fixture => {
  const r = decodeFixture(new Uint8Array(gunzipSync(gzipFixture(f))));
  if (!r.ok) throw new Error(r.message);
  return r.fixture;
};

describe('fixture codec', () => {
  it('round-trips every record kind', () => {
    // Arrange
    const raw = new Uint8Array(PAGE_SIZE).fill(7);
    const f = {
      devicePages: 100,
      resumeOffset: 3,
      records: [
        { pageIndex: 3, kind: 'raw' as const, bytes: raw },
        { pageIndex: 4, kind: 'zero' as const },
        { pageIndex: 5, kind: 'agent' as const, key: { id: 1, seed: 2, kind: 1, index: 9, generation: 4 } },
        { pageIndex: 6, kind: 'elided' as const },
      ],
    };
    // Act
    const back = decodeFixture(encodeFixture(f));
    // Assert
    expect(back.ok).toBe(true);
    if (!back.ok) return;
    expect(back.fixture).toMatchObject({ devicePages: 100, resumeOffset: 3 });
    expect(back.fixture.records.map((r) => [r.pageIndex, r.kind])).toEqual([
      [3, 'raw'],
      [4, 'zero'],
      [5, 'agent'],
      [6, 'elided'],
    ]);
    const read = fixtureReader(back.fixture);
    expect(read(3)?.[0]).toBe(7);
    expect(read(4)?.every((b) => b === 0)).toBe(true);
    expect(agentTagMatcher({ seed: 2 })(read(5) ?? new Uint8Array())).toEqual({
      id: 1,
      index: 9,
      generation: 4,
      kind: 1,
      intact: true,
    });
    expect(read(100)).toBeUndefined();
  });

  it('rejects a truncated file', () => {
    // Arrange
    const bytes = encodeFixture({
      devicePages: 9,
      resumeOffset: 0,
      records: [{ pageIndex: 1, kind: 'raw', bytes: new Uint8Array(PAGE_SIZE) }],
    });
    // Act
    const r = decodeFixture(bytes.subarray(0, bytes.length - 1));
    // Assert
    expect(r.ok).toBe(false);
  });
});

describe('real LZO chunks written by the kernels (testdata/*-lzo.chunks.gz)', () => {
  for (const file of ['debian-6.1-lzo.chunks.gz', 'debian-6.12-lzo.chunks.gz']) {
    it(`decompresses every chunk of ${file} to its recorded length and CRC`, () => {
      // Arrange: records [u32 cmpLen][u32 uncLen][u32 crc32_le(0, unc)][cmp]
      const buf = new Uint8Array(gunzipSync(readFileSync(testdata(file))));
      const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      let chunks = 0;
      for (let o = 0; o < buf.length; chunks++) {
        const cmpLen = v.getUint32(o, true);
        const uncLen = v.getUint32(o + 4, true);
        const crc = v.getUint32(o + 8, true);
        const cmp = buf.subarray(o + 12, o + 12 + cmpLen);
        o += 12 + cmpLen;
        // Act
        const r = lzo1xDecompressSafe(cmp, 32 * PAGE_SIZE);
        // Assert
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.out.length).toBe(uncLen);
        expect(crc32Le(0, r.out)).toBe(crc);
      }
      expect(chunks).toBe(3);
    });
  }
});

// Opt-in: full captured disks (HIBFUZZ_CAPTURED_DIR=/work/scratch/captured), too big to commit.
const capturedDir = process.env.HIBFUZZ_CAPTURED_DIR;
describe.skipIf(capturedDir === undefined || !existsSync(capturedDir))(
  'full captured disks in HIBFUZZ_CAPTURED_DIR',
  () => {
    const images =
      capturedDir === undefined || !existsSync(capturedDir)
        ? []
        : readdirSync(capturedDir).filter((f) => f.endsWith('.img'));
    it.each(images)('%s parses, passes every check and holds every agent page', (name) => {
      // Arrange
      const dev = new Uint8Array(readFileSync(`${capturedDir}/${name}`));
      // Act
      const r = parseSwsuspImage(dev, { devicePages: dev.length / PAGE_SIZE });
      // Assert
      if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
      expect(checkSwsuspImage(r.image, { ramRanges: GUEST_RAM })).toEqual([]);
      expect(checkAgentTags(findTaggedPages(r.image, agentTagMatcher({ seed: AGENT.seed })), AGENT)).toEqual([]);
    });
  },
);
