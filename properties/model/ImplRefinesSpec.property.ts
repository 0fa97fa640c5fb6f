// ImplRefinesSpec: model-based command sequences (fc.commands) mixing workload writes, hibernation with faults,
// corruption at rest, noresume boots and resumes. After every command the reference implementation's outcome must
// be one the abstract protocol allows, and no invariant may be violated beyond the known design limits.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultParts, type Parts, runAndJudge } from '../../impl/index.ts';
import { parseScenario, type ScenarioInput, type StepOutcome } from '../../spec/index.ts';

type Step = ScenarioInput['steps'][number];

import { PLANTS } from '../__fixtures__/plants.ts';

type ImageState = 'none' | 'valid' | 'stale' | 'corrupt' | 'maybe';

/** The abstract machine (the spec's view): is the original system running, and what image is on storage. */
interface Model {
  on: boolean;
  image: ImageState;
  readonly proto: 'kexec' | 'swsusp';
}

/** The real side: the scenario built so far and the implementation under test. */
interface Real {
  readonly base: Omit<ScenarioInput, 'steps'>;
  readonly steps: Step[];
  readonly parts: Parts;
}

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

const isResult = (o: StepOutcome, op: string, ...results: string[]) =>
  o.op === op && results.includes((o as { result?: string }).result ?? '');

class WriteCmd implements fc.Command<Model, Real> {
  readonly pages: number;
  constructor(pages: number) {
    this.pages = pages;
  }
  check = (m: Readonly<Model>) => m.on;
  run(_m: Model, r: Real): void {
    r.steps.push({ op: 'write', kind: 'anon', pages: this.pages });
    expect(runAll(r).op).toBe('write');
  }
  toString = () => `write(${this.pages})`;
}

class HibernateCmd implements fc.Command<Model, Real> {
  readonly fault: { kind: 'none' | 'eio' | 'powerLoss' | 'abort'; at: number };
  constructor(fault: { kind: 'none' | 'eio' | 'powerLoss' | 'abort'; at: number }) {
    this.fault = fault;
  }
  check = (m: Readonly<Model>) => m.on;
  run(m: Model, r: Real): void {
    const f = this.fault;
    const abortAt = m.proto === 'kexec' ? 'afterImageWritten' : 'devices';
    const step: Step =
      f.kind === 'eio'
        ? { op: 'hibernate', ioErrorAtWrite: f.at }
        : f.kind === 'powerLoss'
          ? { op: 'hibernate', powerLossAfterWrite: f.at }
          : f.kind === 'abort'
            ? { op: 'hibernate', abortAt }
            : { op: 'hibernate' };
    r.steps.push(step);
    const o = runAll(r);
    if (o.op !== 'hibernate') throw new Error(`expected a hibernate outcome, got ${o.op}`);
    switch (o.result) {
      case 'poweredOff':
        expect(f.kind === 'none' || f.kind === 'eio' || f.kind === 'powerLoss').toBe(true);
        m.on = false;
        m.image = 'valid';
        break;
      case 'powerLost':
        expect(f.kind).toBe('powerLoss');
        m.on = false;
        m.image = 'maybe';
        break;
      case 'failed':
        expect(['ENOMEM', 'ENOSPC', 'EBUSY', 'EIO', 'ENODEV']).toContain(o.errno);
        if (o.errno === 'EIO') expect(f.kind).toBe('eio');
        // A failed hibernation leaves storage as it was (an older, still-signed image included).
        break;
      case 'aborted':
        expect(f.kind).toBe('abort');
        // kexec aborts after writing and unmarks its image; swsusp's pm_test aborts before writing.
        if (m.proto === 'kexec') m.image = 'none';
        break;
    }
  }
  toString = () => `hibernate(${this.fault.kind}@${this.fault.at})`;
}

class CorruptCmd implements fc.Command<Model, Real> {
  readonly region: 'data' | 'meta' | 'header' | 'map';
  readonly index: number;
  constructor(region: 'data' | 'meta' | 'header' | 'map', index: number) {
    this.region = region;
    this.index = index;
  }
  check = (m: Readonly<Model>) => m.image === 'valid';
  run(m: Model, r: Real): void {
    r.steps.push({ op: 'corrupt', region: this.region, index: this.index, bit: 3 });
    const o = runAll(r);
    if (o.op === 'corrupt' && o.applied) m.image = 'corrupt';
  }
  toString = () => `corrupt(${this.region}[${this.index}])`;
}

class BootNoresumeCmd implements fc.Command<Model, Real> {
  readonly writeStoragePages: number;
  constructor(writeStoragePages: number) {
    this.writeStoragePages = writeStoragePages;
  }
  check = () => true;
  run(m: Model, r: Real): void {
    r.steps.push({ op: 'bootNoresume', writeStoragePages: this.writeStoragePages });
    expect(runAll(r).op).toBe('bootNoresume');
    m.on = true;
    if (this.writeStoragePages > 0) m.image = 'none';
    else if (m.image !== 'none') m.image = m.image === 'valid' ? 'stale' : m.image;
  }
  toString = () => `bootNoresume(${this.writeStoragePages})`;
}

class ResumeCmd implements fc.Command<Model, Real> {
  check = () => true;
  run(m: Model, r: Real): void {
    r.steps.push({ op: 'resume' });
    const o = runAll(r);
    const intact = o.op === 'resume' && o.result === 'resumed' && o.pagesCorrupt === 0;
    switch (m.image) {
      case 'none':
        expect(isResult(o, 'resume', 'noImage')).toBe(true);
        break;
      case 'valid':
        // The loader may lack memory for safe pages on a nearly full machine; otherwise it resumes intact.
        expect(intact || (o.op === 'resume' && o.result === 'refused' && o.errno === 'ENOMEM')).toBe(true);
        break;
      case 'stale':
        if (m.proto === 'kexec')
          expect(o.op === 'resume' && o.result === 'refused' && o.reason === 'staleImage').toBe(true);
        break;
      case 'corrupt':
        if (m.proto === 'kexec') expect(intact || isResult(o, 'resume', 'refused')).toBe(true);
        break;
      case 'maybe':
        // Atomic commit (kexec): either nothing was signed, or the whole image resumes intact.
        if (m.proto === 'kexec') expect(intact || isResult(o, 'resume', 'noImage')).toBe(true);
        break;
    }
    m.on = true;
    m.image = 'none';
  }
  toString = () => 'resume';
}

const commands = [
  fc.integer({ min: 1, max: 32 }).map((n) => new WriteCmd(n)),
  fc
    .record({
      kind: fc.constantFrom('none', 'none', 'eio', 'powerLoss', 'abort') as fc.Arbitrary<'none'>,
      at: fc.nat(80),
    })
    .map((f) => new HibernateCmd(f)),
  fc
    .record({ region: fc.constantFrom('data', 'meta', 'header', 'map') as fc.Arbitrary<'data'>, index: fc.nat(64) })
    .map((c) => new CorruptCmd(c.region, c.index)),
  fc.constantFrom(0, 0, 3).map((n) => new BootNoresumeCmd(n)),
  fc.constant(new ResumeCmd()),
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
    fc.modelRun(
      () => ({ model: { on: true, image: 'none' as ImageState, proto }, real: { base, steps: [], parts } }),
      cmds,
    );
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
