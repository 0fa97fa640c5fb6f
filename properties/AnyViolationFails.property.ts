// Why this test? A property used to see only its own invariant: a scenario drawn for one invariant that broke
// another was thrown away. Every property now fails on any unexplained violation, so a planted bug that breaks
// invariant X is caught by the property drawn for invariant Y when Y's scenarios reach X's bug.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InvariantName } from '../spec/index.ts';
import { plantByName } from './__fixtures__/plants.ts';
import { type FaultKind, scenarioArb } from './arbitraries/scenario.ts';
import { invariantProperty } from './harness.ts';

/** A plant, the invariant it breaks, and another invariant whose property's scenarios reach it (with its faults). */
const CROSS: readonly { plant: string; drawnFor: InvariantName; faults: readonly FaultKind[] }[] = [
  // leak-slots-on-error breaks SwapSlotsFreedOnError; ImageCommittedAtomically's suite draws EIO faults
  { plant: 'leak-slots-on-error', drawnFor: 'ImageCommittedAtomically', faults: ['powerLoss', 'eio', 'none'] },
  // crc-ignored breaks CorruptImageNeverResumed; a scenario drawn with corruption for another property reaches it
  { plant: 'crc-ignored', drawnFor: 'ResumeRestoresIdenticalMemory', faults: ['corrupt'] },
];

describe('every property fails on any unexplained violation', () => {
  for (const c of CROSS) {
    it(`the property drawn for ${c.drawnFor} catches planted bug ${c.plant} (another invariant)`, () => {
      const plant = plantByName(c.plant);
      if (plant === undefined) throw new Error(`no plant ${c.plant}`);
      expect(plant.invariant).not.toBe(c.drawnFor);
      const out = fc.check(invariantProperty(c.drawnFor, scenarioArb({ faults: c.faults }), plant.parts), {
        numRuns: 1500,
      });
      expect(out.failed, `${c.plant} should fail the property drawn for ${c.drawnFor}`).toBe(true);
    });
  }
});
