// ImplRefinesSpec: model-based command sequences (fc.commands) mixing workload writes, hibernation with faults,
// corruption at rest, noresume boots and resumes. After every command the reference implementation's outcome must
// be one the abstract protocol allows (spec/protocol/abstract.ts: OutcomeAllowed, checked in every run) and no
// invariant may be violated beyond the known design limits. The model here only tracks the commands' preconditions.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultParts, type Parts, runAndJudge } from '../../impl/index.ts';
import { FAULT_REGIONS, MAP_NEXT_BIT, parseScenario, type ScenarioInput, type StepOutcome } from '../../spec/index.ts';
import { PLANTS } from '../__fixtures__/plants.ts';

type Step = ScenarioInput['steps'][number];

/** Preconditions only: is the original system running, and is a resumable image on storage. */
interface Model {
  on: boolean;
  image: boolean;
  readonly proto: 'kexec' | 'swsusp';
}

/** The real side: the scenario built so far and the implementation under test. */
interface Real {
  readonly base: Omit<ScenarioInput, 'steps'>;
  readonly steps: Step[];
  readonly parts: Parts;
}

/** Run the whole sequence so far; every violation, OutcomeAllowed included, fails the property. */
function runAll(r: Real): StepOutcome {
  const p = parseScenario({ ...r.base, steps: r.steps });
  if (!p.ok) throw new Error(`command produced an invalid scenario: ${p.error}`);
  const out = runAndJudge(p.scenario, r.parts);
  if (!out.ok) throw new Error(out.error);
  expect(out.judgement.unexpected).toEqual([]);
  const last = out.observation.steps.at(-1);
  if (last === undefined) throw new Error('no outcome');
  return last;
}

/** One step appended to the scenario; the precondition model follows the (already judged) outcome. */
class StepCmd implements fc.Command<Model, Real> {
  readonly step: Step;
  constructor(step: Step) {
    this.step = step;
  }
  check = (m: Readonly<Model>) =>
    this.step.op === 'write' || this.step.op === 'hibernate' ? m.on : this.step.op === 'corrupt' ? m.image : true;
  run(m: Model, r: Real): void {
    const st = this.step.op === 'hibernate' && this.step.abortAt !== undefined ? this.bent(m) : this.step;
    r.steps.push(st);
    const o = runAll(r);
    expect(o.op).toBe(st.op);
    if (o.op === 'hibernate') {
      m.on = o.result === 'failed' || o.result === 'aborted';
      m.image = o.result === 'poweredOff';
    } else if (o.op === 'resume' || o.op === 'bootNoresume') {
      m.on = true;
      m.image = false;
    }
  }
  /** an abort point of the protocol under test */
  private bent(m: Model): Step {
    return { op: 'hibernate', abortAt: m.proto === 'kexec' ? 'afterImageWritten' : 'devices' };
  }
  toString = () => JSON.stringify(this.step);
}

const commands = [
  fc.integer({ min: 1, max: 32 }).map((pages) => new StepCmd({ op: 'write', kind: 'anon', pages })),
  fc
    .record({
      kind: fc.constantFrom('none', 'none', 'eio', 'powerLoss', 'abort'),
      at: fc.nat(80),
    })
    .map(
      (f) =>
        new StepCmd(
          f.kind === 'eio'
            ? { op: 'hibernate', ioErrorAtWrite: f.at }
            : f.kind === 'powerLoss'
              ? { op: 'hibernate', powerLossAfterWrite: f.at }
              : f.kind === 'abort'
                ? { op: 'hibernate', abortAt: 'devices' }
                : { op: 'hibernate' },
        ),
    ),
  fc
    .record({
      region: fc.constantFrom(...FAULT_REGIONS),
      index: fc.nat(64),
      // next_swap bits: 0 and 9 turn the links 0 and 513 (offset 0) back to slot 1, the first map page; 40 is past the
      // device
      bit: fc.constantFrom(3, 3, 3, MAP_NEXT_BIT, MAP_NEXT_BIT + 1, MAP_NEXT_BIT + 9, MAP_NEXT_BIT + 40),
    })
    .map((c) => new StepCmd({ op: 'corrupt', ...c })),
  fc.constantFrom(0, 0, 3).map((n) => new StepCmd({ op: 'bootNoresume', writeStoragePages: n })),
  fc.constant(new StepCmd({ op: 'resume' })),
];

function refinement(proto: 'kexec' | 'swsusp', parts: Parts) {
  return fc.property(fc.commands(commands, { maxCommands: 10 }), fc.nat(), (cmds, seed) => {
    const base: Real['base'] = {
      version: 1,
      id: 'model-based',
      seed,
      machine: { memPages: 1024 },
      workload: { anon: 200, zero: 20, pageCacheClean: 40, pageCacheDirty: 10, slab: 20, kernelText: 30, dma: 4 },
      protocol: proto === 'kexec' ? { kind: 'kexec', reservation: 'exchange' } : { kind: 'swsusp' },
      storage: { pages: 1400 },
    };
    fc.modelRun(() => ({ model: { on: true, image: false, proto }, real: { base, steps: [], parts } }), cmds);
  });
}

describe('ImplRefinesSpec', () => {
  for (const proto of ['kexec', 'swsusp'] as const) {
    it(`ImplRefinesSpec holds (${proto})`, () => {
      fc.assert(refinement(proto, defaultParts), { numRuns: 40 });
    });
  }
  it('catches a planted bug (check-keeps-signature: a second resume finds the image again)', () => {
    const plant = PLANTS.find((p) => p.name === 'check-keeps-signature');
    if (!plant) throw new Error('plant missing');
    expect(fc.check(refinement('swsusp', plant.parts), { numRuns: 200 }).failed).toBe(true);
  });
});
