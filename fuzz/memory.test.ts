// The memory estimate: an upper bound that grows with pages and hibernate/resume steps, and the refusal line
// naming the limit and the flag (issue 12 item 7: a 64-step scenario on a 64 GiB machine was OOM-killed silently).
import { totalmem } from 'node:os';
import { describe, expect, it } from 'vitest';
import { PLANTS } from '../properties/__fixtures__/plants.ts';
import { parseScenario, type Scenario } from '../spec/index.ts';
import { estimateMemory, memoryLimit, memoryRefusal } from './memory.ts';

const base = (() => {
  const p = parseScenario(PLANTS[0]?.witness);
  if (!p.ok) throw new Error(p.error);
  return p.scenario;
})();

const big = (memPages: number, cycles: number): Scenario => ({
  ...base,
  machine: { ...base.machine, memPages, e820: [] },
  storage: { ...base.storage, pages: memPages },
  steps: Array.from({ length: cycles }, () => [{ op: 'hibernate' }, { op: 'resume' }] as Scenario['steps']).flat(),
});

describe('estimateMemory', () => {
  it('is at least what was measured: 1 Mi pages, 6 cycles peaked at 461 MB; 16 Mi pages, 7 cycles at 8.6 GB', () => {
    expect(estimateMemory(big(2 ** 20, 6)).bytes).toBeGreaterThan(461e6);
    expect(estimateMemory(big(2 ** 24, 7)).bytes).toBeGreaterThan(8.6e9);
  });

  it('puts the schema maximum (16 Mi pages, 64 steps) far beyond a 24 GiB machine', () => {
    expect(estimateMemory(big(2 ** 24, 32)).bytes).toBeGreaterThan(35 * 2 ** 30);
  });
});

describe('memoryRefusal', () => {
  it('names the need, the limit and the flag; a scenario that fits is not refused', () => {
    const limit = memoryLimit(2 ** 30);
    expect(memoryRefusal(big(2 ** 24, 32), limit)).toMatch(
      /^needs about \d+\.\d GiB of memory on the model \(16777216 pages, 64 hibernate\/resume steps\), over the limit of 1\.0 GiB \(--max-rss\): raise it with --max-rss SIZE/,
    );
    expect(memoryRefusal(big(4096, 2), limit)).toBeUndefined();
  });

  it('defaults to at most 90% of this machine, saying so', () => {
    const l = memoryLimit(undefined);
    expect(l.bytes).toBeLessThanOrEqual(totalmem() * 0.9);
    expect(l.source).toMatch(/^90% of (this machine's memory|the cgroup memory limit), /);
  });
});
