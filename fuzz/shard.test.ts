// Unit tests of the campaign seed space: shards are disjoint, cover the unsharded run, and are deterministic.
import { describe, expect, it } from 'vitest';
import { batchSeed, fmix32, shardBatch } from './shard.ts';

const seedsOf = (seed: number, k: number, n: number, batches: number) =>
  Array.from({ length: batches }, (_, j) => batchSeed(seed, shardBatch({ k, n }, j)));

describe('shards', () => {
  it('split the batches of a campaign into disjoint sets whose union is the unsharded run', () => {
    // Arrange
    const n = 4;
    const per = 250;
    // Act
    const shards = Array.from({ length: n }, (_, i) => seedsOf(12345, i + 1, n, per));
    // Assert
    const all = shards.flat();
    expect(new Set(all).size).toBe(n * per);
    expect(new Set(all)).toEqual(new Set(seedsOf(12345, 1, 1, n * per)));
  });

  it('are deterministic for a seed and differ across seeds', () => {
    expect(seedsOf(7, 2, 3, 10)).toEqual(seedsOf(7, 2, 3, 10));
    expect(seedsOf(7, 1, 1, 10)).not.toEqual(seedsOf(8, 1, 1, 10));
  });

  it('batch seeds are injective in the batch index (no shared fast-check seed)', () => {
    const seen = new Set<number>();
    for (let b = 0; b < 20_000; b++) seen.add(batchSeed(0xdeadbeef, b));
    expect(seen.size).toBe(20_000);
  });

  it('fmix32 stays within 32 bits', () => {
    for (const x of [0, 1, 0xffffffff, 123456789]) {
      const h = fmix32(x);
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThanOrEqual(0xffffffff);
    }
  });
});
