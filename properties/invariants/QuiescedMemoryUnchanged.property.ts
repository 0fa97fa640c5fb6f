// QuiescedMemoryUnchanged: devices stopped while the image is made and written.

import fc from 'fast-check';
import { describe, it } from 'vitest';
import { scenarioArb } from '../arbitraries/scenario.ts';
import { arbsFor, expectPlantCaught, invariantProperty, plantsFor } from '../harness.ts';

const NAME = 'QuiescedMemoryUnchanged' as const;
const FAULTS = ['none', 'abort'] as const;

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
