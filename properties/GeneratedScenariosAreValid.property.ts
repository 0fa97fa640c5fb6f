// GeneratedScenariosAreValid: every scenario the arbitraries produce passes the one schema (zod), so what the
// fuzzer finds is exactly what runs on a real kernel.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../spec/index.ts';
import { scenarioArb } from './arbitraries/scenario.ts';

describe('GeneratedScenariosAreValid', () => {
  it('GeneratedScenariosAreValid holds', () => {
    fc.assert(
      fc.property(scenarioArb({ maxMemPages: 1 << 20 }), (input) => {
        const r = parseScenario(input);
        expect(r.ok ? 'ok' : r.error).toBe('ok');
      }),
      { numRuns: 300 },
    );
  });
  it('can fail: a scenario broken after generation is rejected with its path', () => {
    fc.assert(
      fc.property(scenarioArb(), (input) => {
        const r = parseScenario({ ...input, steps: [{ op: 'explode' }] });
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error).toMatch(/^steps\[0\]/);
      }),
      { numRuns: 20 },
    );
  });
});
