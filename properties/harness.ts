// The shape every invariant property shares: generate a scenario, run it on the model (optionally with a planted
// bug swapped in), and claim that no violation of the invariant is left unexplained by a known design limit.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultParts, type Parts, runAndJudge } from '../impl/index.ts';
import {
  type InvariantName,
  invariantInfo,
  judge,
  judgeObservation,
  observedViolations,
  parseScenario,
  type ScenarioInput,
} from '../spec/index.ts';
import { PLANTS, type Plant } from './__fixtures__/plants.ts';
import { type FaultKind, type ScenarioArbOptions, scenarioArb } from './arbitraries/scenario.ts';

/** Run a generated scenario on the model (undefined: the scenario does not fit the machine). */
export function runInput(input: ScenarioInput, parts: Parts = defaultParts) {
  const p = parseScenario(input);
  if (!p.ok) throw new Error(`generated scenario is invalid: ${p.error}`);
  const r = runAndJudge(p.scenario, parts);
  return r.ok ? { scenario: p.scenario, run: r } : undefined;
}

/** Unexplained violations of `name` when `input` runs with `parts` (undefined: the scenario does not fit). */
export function unexplained(name: InvariantName, input: ScenarioInput, parts: Parts = defaultParts) {
  return runInput(input, parts)?.run.judgement.unexpected.filter((v) => v.invariant === name);
}

/**
 * Unexplained violations of `name` judged from the model's observation alone (its facts, through
 * judgeObservation: the monitor that judges real runs), not from its trace.
 */
export function unexplainedObserved(name: InvariantName, input: ScenarioInput, parts: Parts = defaultParts) {
  const x = runInput(input, parts);
  if (x === undefined) return undefined;
  const vs = observedViolations(judgeObservation(x.scenario, x.run.observation));
  return judge(x.scenario, vs).unexpected.filter((v) => v.invariant === name);
}

export type PropertyOf = (
  name: InvariantName,
  arb: fc.Arbitrary<ScenarioInput>,
  parts?: Parts,
) => fc.IPropertyWithHooks<[ScenarioInput]>;

const propertyOver =
  (judged: typeof unexplained): PropertyOf =>
  (name, arb, parts = defaultParts) =>
    fc.property(arb, (input) => {
      const v = judged(name, input, parts);
      fc.pre(v !== undefined);
      expect(v).toEqual([]);
    });

/** "No unexplained violation of `name`", judged by the trace monitors (checkAll). */
export const invariantProperty: PropertyOf = propertyOver(unexplained);
/** The same claim judged from the observation's facts (judgeObservation), as a real run is judged. */
export const observedProperty: PropertyOf = propertyOver(unexplainedObserved);

/** The arbitraries an invariant is checked over: one per protocol it applies to. */
export function arbsFor(name: InvariantName, opts: Omit<ScenarioArbOptions, 'protocol'> = {}) {
  return invariantInfo[name].protocols.map((protocol) => ({ protocol, arb: scenarioArb({ ...opts, protocol }) }));
}

export function plantsFor(name: InvariantName): Plant[] {
  return PLANTS.filter((p) => p.invariant === name);
}

/**
 * Assert that the property FAILS with the planted bug: fast-check must find a counterexample (the witness is
 * given as an explicit example, random runs follow).
 */
export function expectPlantCaught(name: InvariantName, plant: Plant, arb: fc.Arbitrary<ScenarioInput>): void {
  const out = fc.check(invariantProperty(name, arb, plant.parts), { examples: [[plant.witness]] });
  expect(out.failed, `${plant.name} should make ${name} fail`).toBe(true);
  const again = fc.check(invariantProperty(name, arb, plant.parts), { numRuns: 1500 });
  expect(again.failed, `${plant.name} should be found by random runs alone`).toBe(true);
}

/**
 * The suite every invariant file declares: "<Name> holds" for each protocol it applies to, over scenarios biased to
 * `faults`, and "<Name> catches planted bug <plant>" for each plant registered against it.
 */
export function invariantSuite(name: InvariantName, faults: readonly FaultKind[]): void {
  describe(name, () => {
    for (const { protocol, arb } of arbsFor(name, { faults })) {
      it(`${name} holds (${protocol})`, () => {
        fc.assert(invariantProperty(name, arb));
      });
    }
    for (const plant of plantsFor(name)) {
      it(`${name} catches planted bug ${plant.name}`, () => {
        expectPlantCaught(name, plant, scenarioArb({ faults }));
      });
    }
  });
}
