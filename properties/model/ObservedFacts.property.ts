// ObservedFacts: the two oracles agree. The model reports the facts a real run reports (spec/outcome.ts
// HibernateFacts: fault fired, storage read back independently, the agent's memory check, slots leaked; the
// signature after a resume), and judgeObservation (the monitor that judges real kernels) over those facts never
// contradicts the trace monitors (checkAll), the facts agree with the outcome they describe, and every planted bug
// whose invariant a real run can observe is caught from the facts alone.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type InvariantName,
  judgeObservation,
  type LimitRun,
  limitFor,
  limitRun,
  type Scenario,
  type StepOutcome,
} from '../../spec/index.ts';
import { PLANTS } from '../__fixtures__/plants.ts';
import { type FaultKind, scenarioArb } from '../arbitraries/scenario.ts';
import { observedProperty, runInput, unexplainedOfObservation } from '../harness.ts';

/** What the profile writes: the kexec container and nocompress store pages as they are; 6.1 has no LZ4. */
function expectedCompressor(s: Scenario): string {
  if (s.protocol.kind === 'kexec' || s.protocol.compression === 'none') return 'none';
  return s.protocol.compression === 'lz4' && s.protocol.kernel === '6.12' ? 'lz4' : 'lzo';
}

/** A known limit explains a violation of `invariant` at step `step` of this run. */
const limited = (r: LimitRun, invariant: InvariantName, step: number) =>
  limitFor(r, { invariant, step, message: '' }) !== undefined;

/** Whether the facts of one step agree with its outcome; a list of disagreements (empty: consistent). */
function inconsistencies(s: Scenario, lr: LimitRun, i: number, o: StepOutcome): string[] {
  const out: string[] = [];
  const bad = (cond: boolean, what: string) => {
    if (!cond) out.push(`step ${i} (${o.op}${'result' in o ? `:${o.result}` : ''}): ${what}`);
  };
  const st = s.steps[i];
  if (o.op === 'resume' && o.result === 'resumed') bad(o.storageAfter !== undefined, 'no storageAfter');
  if (o.op !== 'hibernate' || o.result === 'crashed' || st?.op !== 'hibernate') return out;
  const scheduled =
    st.ioErrorAtWrite !== undefined || st.powerLossAfterWrite !== undefined || st.ioErrorAfterSignature === true;
  bad((o.fault !== undefined) === scheduled, `fault fact ${o.fault} for a step that scheduled ${scheduled}`);
  if (o.result === 'powerLost') bad(o.fault === 'fired', 'power lost, yet the fault did not fire');
  if (o.result === 'failed' && o.errno === 'EIO') bad(o.fault === 'fired', 'EIO without a fired fault');
  bad(o.storage !== undefined, 'no storage fact');
  const torn = limited(lr, 'ImageCommittedAtomically', i);
  const img = o.storage?.image;
  bad(o.storage?.signed !== true || img !== undefined, 'signed without an image check');
  switch (o.result) {
    case 'failed':
      bad(o.memory !== undefined && o.slotsLeaked !== undefined, 'failed without memory / slotsLeaked facts');
      // ENODEV: the area held no swap header (a kept image after a noresume boot); the writer touched nothing, so
      // the header stays whatever it was, signed or not
      bad(
        o.storage?.signed === false || o.errno === 'ENODEV' || torn || limited(lr, 'FailureLosesNothing', i),
        'signed',
      );
      break;
    case 'aborted':
      bad(o.memory !== undefined && o.slotsLeaked === undefined, 'aborted: memory fact only');
      break;
    case 'poweredOff':
      bad(o.memory === undefined, 'powered off with a memory fact');
      if (torn && img?.complete !== true) break;
      bad(o.storage?.signed === true && img?.complete === true, `image not signed and complete (${img?.problem})`);
      if (img === undefined) break;
      bad(img.compressor === expectedCompressor(s), `compressor ${img.compressor}`);
      for (const k of ['dataPages', 'zeroPages', 'metaPages', 'streamPages'] as const) {
        bad(img.stats[k] === o.image[k], `the reader counts ${img.stats[k]} ${k}, the writer ${o.image[k]}`);
      }
      break;
    case 'powerLost':
      break;
  }
  return out;
}

describe('ObservedFacts', () => {
  for (const protocol of ['kexec', 'swsusp'] as const) {
    it(`the observation monitor agrees with the trace monitors, facts agree with outcomes (${protocol})`, () => {
      fc.assert(
        fc.property(scenarioArb({ protocol }), (input) => {
          const x = runInput(input);
          fc.pre(x !== undefined);
          const { scenario: s, run } = x;
          const held = new Set(run.violations.map((v) => v.invariant));
          const contradicted = judgeObservation(s, run.observation)
            .filter((j) => j.result === 'violated' && !held.has(j.invariant))
            .flatMap((j) => j.violations);
          expect(contradicted).toEqual([]);
          // and the known limits, matched against the observation alone, explain what they explain on the trace
          const unexpected = new Set(run.judgement.unexpected.map((v) => v.invariant));
          const observedOnly = unexplainedOfObservation(s, run.observation).filter((v) => !unexpected.has(v.invariant));
          expect(observedOnly).toEqual([]);
          const lr = limitRun(s, { trace: run.trace });
          expect(run.observation.steps.flatMap((o, i) => inconsistencies(s, lr, i, o))).toEqual([]);
        }),
      );
    });
  }

  // Each planted bug whose invariant a real run can judge from facts, with the fault bias of its invariant's suite.
  const observable: Readonly<Partial<Record<InvariantName, readonly FaultKind[]>>> = {
    AbortCopiesNothing: ['abort'],
    CorruptImageNeverResumed: ['corrupt'],
    EveryPageSavedOnce: ['none', 'abort', 'dma'],
    FailureLosesNothing: ['eio', 'powerLoss', 'none'],
    ImageCommittedAtomically: ['powerLoss', 'eio', 'eioAfterSignature', 'none', 'abort'],
    ImageResumedAtMostOnce: ['twice', 'none'],
    NosaveNeverSaved: ['none', 'twice'],
    ResumeRestoresIdenticalMemory: ['none', 'twice', 'abort'],
    SaveKernelStaysInItsBox: ['none', 'abort', 'eio'],
    StaleImageNeverResumed: ['stale'],
    SwapSlotsFreedOnError: ['eio', 'powerLoss'],
  };
  /** Plants whose effect no observer outside the kernel can see, and why (the trace monitor alone catches them). */
  const unobservable: Readonly<Record<string, string>> = {
    'jump-back-bounce-copy':
      "its copies land in free frames and the original kernel's pages come back unchanged: the agent checks its own " +
      'pages only (a real kernel shows the copies as abort latency); the trace monitor derives them from memory',
    'hib-frames-leak':
      "its leaked frames are free frames of the original kernel held by no one: the agent checks its own pages' " +
      'content, not the free-page count (a real kernel would show MemFree short by the image after each abort, ' +
      'which no fact reports yet); the trace monitor derives the leak from the owner tags',
    // The next four passed "caught from the observation's facts" only through false positives of the observation
    // judge on unrelated steps (a kept image's signature after ENODEV, a torn last map page ending as poweredOff),
    // met by the one seed every property shared; with those fixed and a seed per test, 0 of 3000 scenarios show them.
    'save-kernel-scratch-in-hole':
      "its scratch page is a frame of the legacy VGA hole: the image's PFN list does not name it and the agent " +
      'reads its own pages only; the trace monitor derives the write from memory and the nosave map',
    'region-over-holes':
      "the save kernel's frames over e820 holes are in no image and the agent cannot read holes (a real kexec_load " +
      'refuses segments outside System RAM, which no fact reports yet); the trace monitor derives it from the owner tags',
    'restore-pgtable-in-hole':
      'its temporary page tables live in a hole frame that no observer reads, and the pages the agent checks come ' +
      'back intact; the trace monitor derives the write from memory and the nosave map',
    'swap-writer-takes-used-slots':
      "the slots it takes hold the noresume boot's swapped-out pages; the image itself is complete and the agent's " +
      'pages are not swapped out, so no fact shows the loss (a real run would see it only after swapping the ' +
      "agent's pages out); the trace monitor compares the storage tokens",
    'save-kernel-scratch-outside':
      'its scratch page is a free frame of the original kernel, which no observer checks; the trace monitor derives ' +
      'the write from memory',
  };
  for (const plant of PLANTS) {
    const faults = observable[plant.invariant];
    if (faults === undefined) continue;
    const why = unobservable[plant.name];
    if (why !== undefined) {
      it(`${plant.name} is invisible to the observation: ${why}`, () => {
        const x = runInput(plant.witness, plant.parts);
        if (x === undefined) throw new Error('witness does not fit');
        expect(x.run.violations.map((v) => v.invariant)).toContain(plant.invariant);
        const j = judgeObservation(x.scenario, x.run.observation).find((r) => r.invariant === plant.invariant);
        expect(j?.result).not.toBe('violated');
      });
      continue;
    }
    it(`${plant.invariant} catches planted bug ${plant.name} from the observation's facts`, () => {
      const prop = observedProperty(plant.invariant, scenarioArb({ faults }), plant.parts);
      const out = fc.check(prop, { examples: [[plant.witness]], numRuns: 1500, endOnFailure: true });
      expect(out.failed, `${plant.name} should be caught by judgeObservation`).toBe(true);
    });
  }
});
