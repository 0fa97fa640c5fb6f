// MismatchedImageRefused: resume with another memory size, memory map or kernel line.
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { arbsFor, expectPlantCaught, invariantProperty, plantsFor } from '../harness.ts';
import { scenarioArb } from '../arbitraries/scenario.ts';

const NAME = 'MismatchedImageRefused' as const;
const FAULTS = ['mismatch'] as const;

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
