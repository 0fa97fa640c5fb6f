import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AGENT_KIND_ANON, agentPage } from './agent-tag.ts';
import { PAGE_SIZE } from './format.ts';
import { imageCheckOf, readStorage } from './observe.ts';
import { imageStats, parseSwsuspImage } from './parse.ts';
import { buildSwsuspImage, randomPages, type SavedPage } from './write.ts';

const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-observe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RAM = [{ start: 0x100, end: 0x100000 }];
const AGENT = { id: 0x77, seed: 3, generations: [0, 1, 0, 2, 0, 0] };

/** 600 random pages and the agent's anon pages, with slots in order or shuffled. */
function disk(name: string, compression: 'lzo' | 'lz4' | 'none', slotSeed?: number) {
  const pages: SavedPage[] = randomPages({ count: 600, seed: 4, firstPfn: 0x1000 });
  AGENT.generations.forEach((generation, index) => {
    const data = agentPage({ id: AGENT.id, seed: AGENT.seed, kind: AGENT_KIND_ANON, index, generation });
    pages.push({ pfn: 0x9000 + index, data });
  });
  const img = buildSwsuspImage({
    pages,
    style: '6.12',
    compression,
    chunkPages: 7,
    devicePages: 2000,
    ...(slotSeed === undefined ? {} : { slotSeed }),
  });
  const path = join(dir, name);
  writeFileSync(path, img.device);
  return { path, img };
}

describe('readStorage', () => {
  for (const [name, compression, slotSeed] of [
    ['lzo, slots in order', 'lzo', undefined],
    ['lz4, shuffled slots', 'lz4', 9],
    ['nocompress, shuffled slots', 'none', 5],
  ] as const) {
    it(`reads what the in-memory parser reads (${name})`, () => {
      // Arrange
      const { path, img } = disk(`${compression}.img`, compression, slotSeed);
      const parsed = parseSwsuspImage(img.device, { devicePages: img.devicePages });
      if (!parsed.ok) throw new Error(parsed.error.message);
      // Act
      const r = readStorage(path, { devicePages: img.devicePages, check: { ram: RAM, agent: AGENT } });
      // Assert
      expect(r.stats).toEqual(imageStats(parsed.image));
      expect(r.facts).toEqual({ signed: true, image: imageCheckOf(parsed.image, RAM, AGENT) });
      expect(r.facts.image?.tagged).toEqual({ expected: 6, missing: 0, duplicated: 0, wrongData: 0 });
      expect(r.facts.image?.complete).toBe(true);
    });
  }

  it("carries the header's num_physpages beside the writing kernel's count only when that count is known", () => {
    // Arrange
    const { path, img } = disk('physpages.img', 'none');
    const parsed = parseSwsuspImage(img.device, { devicePages: img.devicePages });
    if (!parsed.ok) throw new Error(parsed.error.message);
    const header = parsed.image.info.numPhyspages;
    // Act
    const known = readStorage(path, { devicePages: img.devicePages, check: { ram: RAM, physpages: 130939 } });
    const unknown = readStorage(path, { devicePages: img.devicePages, check: { ram: RAM } });
    // Assert
    expect(known.facts.image?.physpages).toEqual({ header, machine: 130939 });
    expect(unknown.facts.image).not.toHaveProperty('physpages');
  });

  it('gives the counts without a check, and a torn image its metadata counts', () => {
    // Arrange: the file ends in the middle of the data
    const { img } = disk('whole.img', 'lzo');
    const torn = join(dir, 'torn.img');
    const lastUsed = Math.max(...img.entries);
    writeFileSync(torn, img.device.subarray(0, (lastUsed - 3) * PAGE_SIZE + 100));
    const parsed = parseSwsuspImage(img.device, { devicePages: img.devicePages });
    if (!parsed.ok) throw new Error(parsed.error.message);
    // Act
    const plain = readStorage(torn, { devicePages: img.devicePages });
    const checked = readStorage(torn, { devicePages: img.devicePages, check: { ram: RAM, agent: AGENT } });
    // Assert
    expect(plain).toEqual({ facts: { signed: true }, stats: imageStats(parsed.image) });
    expect(checked.stats).toEqual(imageStats(parsed.image));
    expect(checked.facts.image?.complete).toBe(false);
    expect(checked.facts.image?.problem).toMatch(/^pageUnreadable: /);
    expect(checked.facts.image?.pfnsAscending).toBe(true);
  });

  it('sees no image on an unsigned disk', () => {
    // Arrange
    const path = join(dir, 'blank.img');
    writeFileSync(path, new Uint8Array(8 * PAGE_SIZE));
    // Act / Assert
    expect(readStorage(path, { devicePages: 8, check: { ram: RAM } })).toEqual({
      facts: { signed: false },
      stats: undefined,
    });
  });
});
