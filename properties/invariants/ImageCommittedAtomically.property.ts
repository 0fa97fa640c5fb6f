// ImageCommittedAtomically: power lost after write k, for k near the first, last and signature writes.

import fc from 'fast-check';
import { describe, it } from 'vitest';
import { scenarioArb } from '../arbitraries/scenario.ts';
import { arbsFor, expectPlantCaught, invariantProperty, plantsFor } from '../harness.ts';

const NAME = 'ImageCommittedAtomically' as const;
const FAULTS = ['powerLoss', 'eio', 'eioAfterSignature', 'none', 'abort'] as const;

describe(NAME, () => {
  for (const { protocol, arb } of arbsFor(NAME, { faults: FAULTS })) {
    it(`${NAME} holds (${protocol})`, () => {
      fc.assert(invariantProperty(NAME, arb));
    });
  }
  for (const plant of plantsFor(NAME)) {
    it(`${NAME} catches planted bug ${plant.name}`, () => {
      expectPlantCaught(NAME, plant, scenarioArb({ faults: FAULTS }));
    });
  }
});
