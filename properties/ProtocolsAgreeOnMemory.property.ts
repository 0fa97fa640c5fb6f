// ProtocolsAgreeOnMemory (differential): when the kexec protocol and swsusp both hibernate and resume the same
// machine and workload, the resumed memory is equal on every frame both restored.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultParts, type Parts, runScenario } from '../impl/index.ts';
import { OWNER, parseScenario, type ScenarioInput } from '../spec/index.ts';
import { PLANTS } from './__fixtures__/plants.ts';
import { scenarioArb } from './arbitraries/scenario.ts';

const variants = (input: ScenarioInput): [ScenarioInput, ScenarioInput] => {
  const steps: ScenarioInput['steps'] = [
    { op: 'write', kind: 'anon', pages: 8 },
    { op: 'hibernate' },
    { op: 'resume' },
  ];
  const storage = { pages: input.machine.memPages * 2 };
  return [
    { ...input, steps, storage, protocol: { kind: 'kexec', reservation: 'exchange' } },
    { ...input, steps, storage, protocol: { kind: 'swsusp', compression: 'lzo' } },
  ];
};

/** Frames restored by both runs whose content differs; undefined when either did not resume. */
function disagreement(input: ScenarioInput, kexecParts: Parts = defaultParts): number | undefined {
  const [a, b] = variants(input).map((v) => parseScenario(v));
  if (!a?.ok || !b?.ok) throw new Error('variant invalid');
  const ra = runScenario(a.scenario, kexecParts);
  const rb = runScenario(b.scenario);
  if (!ra.ok || !rb.ok) return undefined;
  const ma = ra.trace.finalMemory;
  const mb = rb.trace.finalMemory;
  const resumed = (o: (typeof ra.observation.steps)[number] | undefined) =>
    o?.op === 'resume' && o.result === 'resumed';
  if (!ma || !mb || !resumed(ra.observation.steps[2]) || !resumed(rb.observation.steps[2])) return undefined;
  let diff = 0;
  for (let p = 0; p < Math.min(ma.nr, mb.nr); p++) {
    if (ma.owner[p] === OWNER.ORIG && mb.owner[p] === OWNER.ORIG && ma.content[p] !== mb.content[p]) diff++;
  }
  return diff;
}

const arb = scenarioArb({ faults: ['none'], maxMemPages: 2048 });

describe('ProtocolsAgreeOnMemory', () => {
  it('ProtocolsAgreeOnMemory holds', () => {
    fc.assert(
      fc.property(arb, (input) => {
        const d = disagreement(input);
        fc.pre(d !== undefined);
        expect(d).toBe(0);
      }),
    );
  });
  it('catches a planted bug in one protocol (restore-skips-last-pbe on the kexec side)', () => {
    const plant = PLANTS.find((p) => p.name === 'restore-skips-last-pbe');
    if (!plant) throw new Error('plant missing');
    const out = fc.check(
      fc.property(arb, (input) => {
        const d = disagreement(input, plant.parts);
        fc.pre(d !== undefined);
        expect(d).toBe(0);
      }),
      { numRuns: 200 },
    );
    expect(out.failed).toBe(true);
  });
});
