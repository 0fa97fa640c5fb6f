// The facts of a model observation (spec/model/facts.ts over a run of impl/): whether a scheduled fault fired, the
// image as the spec's reader checks it (a duplicated or misplaced PFN, a bad CRC), the agent's memory check.
import { describe, expect, it } from 'vitest';
import {
  cloneDevice,
  isAgentKind,
  nosaveMap,
  parseScenario,
  type ScenarioInput,
  type StepOutcome,
} from '../spec/index.ts';
import { checkImage } from '../spec/model/facts.ts';
import { runScenario } from './run.ts';

const input = (steps: ScenarioInput['steps'], protocol: ScenarioInput['protocol'] = { kind: 'swsusp' }) =>
  ({
    version: 1,
    id: 'facts',
    seed: 5,
    machine: { memPages: 2048 },
    workload: { anon: 300, zero: 40, pageCacheClean: 60, pageCacheDirty: 30, slab: 30, kernelText: 40, dma: 10 },
    protocol,
    storage: { pages: 2048 },
    steps,
  }) satisfies ScenarioInput;

function run(steps: ScenarioInput['steps'], protocol?: ScenarioInput['protocol']) {
  const p = parseScenario(input(steps, protocol));
  if (!p.ok) throw new Error(p.error);
  const r = runScenario(p.scenario);
  if (!r.ok) throw new Error(r.error);
  return { s: p.scenario, ...r };
}

const hib = (o: StepOutcome | undefined) => {
  if (o?.op !== 'hibernate' || o.result === 'crashed') throw new Error(`not a hibernate outcome: ${o?.op}`);
  return o;
};

describe('model observation facts', () => {
  it('a fault scheduled within the writes fires; one beyond them does not; no fault, no fact', () => {
    expect(hib(run([{ op: 'hibernate', ioErrorAtWrite: 7 }]).observation.steps[0]).fault).toBe('fired');
    const late = hib(run([{ op: 'hibernate', ioErrorAtWrite: 100_000 }]).observation.steps[0]);
    expect([late.result, late.fault]).toEqual(['poweredOff', 'notFired']);
    expect(hib(run([{ op: 'hibernate', powerLossAfterWrite: 3 }]).observation.steps[0]).fault).toBe('fired');
    expect(hib(run([{ op: 'hibernate' }]).observation.steps[0]).fault).toBeUndefined();
  });

  it('a failed write leaves nothing signed, the agent pages intact and no slot allocated', () => {
    const o = hib(run([{ op: 'hibernate', ioErrorAtWrite: 7 }]).observation.steps[0]);
    expect(o.result).toBe('failed');
    expect(o.storage).toEqual({ signed: false });
    expect(o.memory?.checked).toBeGreaterThan(300);
    expect([o.memory?.corrupt, o.slotsLeaked]).toEqual([0, 0]);
  });

  it('a powered-off image reads back complete, every agent page once and exact; the resume resets the signature', () => {
    const r = run([{ op: 'hibernate' }, { op: 'resume' }]);
    const img = hib(r.observation.steps[0]).storage?.image;
    expect(img).toMatchObject({ complete: true, compressor: 'lzo', pfnsAscending: true, countsConsistent: true });
    expect(img?.tagged).toMatchObject({ missing: 0, duplicated: 0, wrongData: 0 });
    expect(img?.tagged?.expected).toBeGreaterThan(300);
    expect(r.observation.steps[1]).toMatchObject({ result: 'resumed', storageAfter: { signed: false } });
  });

  it('a large image is checked on first read, with the same result, and serialises like any fact', () => {
    const p = parseScenario({
      ...input([{ op: 'hibernate' }], { kind: 'kexec' }),
      machine: { memPages: 100_000 },
      workload: { anon: 70_000, zero: 100, pageCacheClean: 0, pageCacheDirty: 0, slab: 0, kernelText: 40, dma: 0 },
      storage: { pages: 72_000 },
    });
    if (!p.ok) throw new Error(p.error);
    const r = runScenario(p.scenario);
    if (!r.ok) throw new Error(r.error);
    const rec = r.trace.records[0];
    if (rec?.kind !== 'hibernate') throw new Error('no hibernation');
    const st = hib(r.observation.steps[0]).storage;
    const direct = checkImage(rec.storageAfter, 0, nosaveMap(100_000, undefined), rec.atImage);
    expect(direct.tagged?.expected).toBeGreaterThan(70_000);
    expect(st?.image).toEqual(direct);
    expect(JSON.parse(JSON.stringify(st))).toEqual({ signed: true, image: direct });
  });

  it('the reader finds a PFN listed twice, a PFN outside RAM, and a CRC that does not match', () => {
    const r = run([{ op: 'hibernate' }]);
    const rec = r.trace.records[0];
    if (rec?.kind !== 'hibernate' || rec.atImage === undefined) throw new Error('no image');
    const nosave = nosaveMap(r.s.machine.memPages, r.s.machine.e820);
    const dev = cloneDevice(rec.storageAfter);
    const [metaAt, words] = [...dev.metas.entries()][0] ?? [];
    if (metaAt === undefined || words === undefined) throw new Error('no meta page');
    const m = rec.atImage;
    const agentPfn = [...words].find((p) => p > 300 && isAgentKind(m.kind[p] as number)) as number;
    const i = words.indexOf(agentPfn);
    const twice = words.slice();
    twice[i + 1] = agentPfn; // the next entry repeats it (its own page goes missing)
    dev.metas.set(metaAt, twice);
    const c = checkImage(dev, 0, nosave, rec.atImage);
    expect(c).toMatchObject({ complete: false, pfnsAscending: false, problem: expect.stringMatching(/CRC/) });
    expect(c.tagged?.duplicated).toBe(1);
    const other = cloneDevice(rec.storageAfter); // a new snapshot: decodes are memoised per snapshot
    const hole = words.slice();
    hole[0] = 200; // the legacy hole [160, 256)
    other.metas.set(metaAt, hole);
    expect(checkImage(other, 0, nosave, rec.atImage).nosavePfns).toBe(1);
  });
});
