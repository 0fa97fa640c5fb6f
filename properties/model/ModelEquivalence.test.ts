// ModelEquivalence (issue 14): the model made faster records exactly what the per-frame model recorded. Every
// shipped scenario and 80 stored generated ones, with the stock parts and with each planted bug, must give the
// digests in testdata/equivalence.golden (trace snapshots byte for byte, events, observed facts, verdict and
// violated invariants). A deliberate change of what the model records regenerates the file:
//   npx tsx scripts/equivalence-golden.ts
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../impl/index.ts';
import { parseScenario, type Scenario } from '../../spec/index.ts';
import { PLANTS } from '../__fixtures__/plants.ts';
import { GOLDEN, type Golden, PART_SETS, readShipped, shippedFiles } from './equivalence-cases.ts';
import { digestOf, runDigest } from './trace-digest.ts';

const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Golden;

function scenarioOf(input: unknown): Scenario {
  const p = parseScenario(input);
  if (!p.ok) throw new Error(p.error);
  return p.scenario;
}

describe('ModelEquivalence: the model against its recorded per-frame digests', () => {
  it('covers every shipped scenario and every planted bug', () => {
    expect(golden.cases.filter((c) => c.file !== undefined).map((c) => c.file)).toEqual(shippedFiles());
    for (const c of golden.cases) expect(Object.keys(c.digests)).toEqual(PART_SETS.map((p) => p.name));
    // each plant changes the trace or the verdict somewhere in the set: the comparison reaches the planted code
    for (const p of PLANTS)
      expect(
        golden.cases.some((c) => c.digests[p.name] !== c.digests.stock),
        p.name,
      ).toBe(true);
  });
  for (const c of golden.cases) {
    it(c.name, () => {
      const s = scenarioOf(c.file !== undefined ? readShipped(c.file) : c.input);
      const got = Object.fromEntries(PART_SETS.map((ps) => [ps.name, runDigest(s, ps.parts)]));
      expect(got).toEqual(c.digests);
    });
  }
  it('the digest sees one frame of one snapshot change (the comparison can fail)', () => {
    const s = scenarioOf(readShipped('fuzz/seeds/kexec-reserved-cycle.json'));
    const r = runScenario(s);
    if (!r.ok) throw new Error(r.error);
    const { scenario: _s, ...trace } = r.trace;
    const before = digestOf(trace);
    const rec = r.trace.records.find((x) => x.kind === 'hibernate');
    if (rec?.kind !== 'hibernate' || rec.atImage === undefined) throw new Error('no image point');
    const frame = rec.atImage.content.length - 1;
    rec.atImage.content[frame] = ((rec.atImage.content[frame] as number) ^ 1) >>> 0;
    expect(digestOf(trace)).not.toBe(before);
    rec.atImage.owner[0] = ((rec.atImage.owner[0] as number) ^ 1) & 0xff;
    expect(digestOf({ ...trace, events: [...trace.events].reverse() })).not.toBe(before);
  });
});
