// Why this test? A fault at "the last image write" only reproduces on a smaller machine if its index moves with
// the image size; without re-aiming, shrinking gets stuck at the original memory size.
import { describe, expect, it } from 'vitest';
import { defaultParts } from '../impl/index.ts';
import { parseScenario, type Scenario } from '../spec/index.ts';
import { faultFreeWrites, writeFaultRealigner } from './realign.ts';
import { shrinkScenario } from './shrink.ts';

const scenario = (): Scenario => {
  const base = parseScenario({
    version: 1,
    id: 'last-write',
    machine: { memPages: 2048 },
    workload: { anon: 400, slab: 100 },
    protocol: { kind: 'swsusp' },
    storage: { pages: 2048 },
    steps: [{ op: 'hibernate' }],
  });
  if (!base.ok) throw new Error(base.error);
  const w = faultFreeWrites(base.scenario, 0, defaultParts);
  if (w === undefined) throw new Error('no image');
  return { ...base.scenario, steps: [{ op: 'hibernate', ioErrorAtWrite: w - 1 }] };
};

/** "Fails" iff the I/O error hits the last write of the image. */
const hitsLastWrite = (s: Scenario) => {
  const st = s.steps[0];
  return st?.op === 'hibernate' && st.ioErrorAtWrite === (faultFreeWrites(s, 0, defaultParts) ?? -1) - 1;
};

describe('writeFaultRealigner', () => {
  it('lets the shrinker reduce memory while the fault stays on the last write', () => {
    // Arrange
    const s = scenario();
    expect(hitsLastWrite(s)).toBe(true);
    // Act
    const plain = shrinkScenario(s, hitsLastWrite, 500);
    const aimed = shrinkScenario(s, hitsLastWrite, 500, writeFaultRealigner(defaultParts));
    // Assert
    expect(hitsLastWrite(aimed.scenario)).toBe(true);
    expect(aimed.scenario.machine.memPages).toBeLessThan(plain.scenario.machine.memPages);
    expect(aimed.scenario.machine.memPages).toBeLessThanOrEqual(128);
  });
});
