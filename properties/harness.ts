// The shape every invariant property shares: generate a scenario, run it on the model (optionally with a planted
// bug swapped in), and claim that no violation is left unexplained by a known design limit: of ANY invariant, not
// only the one the property is drawn for (its name picks the fault bias of the arbitrary and titles the test). A
// scenario drawn for one invariant that breaks another fails the property, as it fails a campaign run.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultParts, type Parts, runAndJudge } from '../impl/index.ts';
import {
  type InvariantName,
  invariantInfo,
  judge,
  judgeObservation,
  type Observation,
  observedViolations,
  parseScenario,
  type Scenario,
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

/** Every unexplained violation when `input` runs with `parts`, whatever its invariant (undefined: does not fit). */
export function unexplained(input: ScenarioInput, parts: Parts = defaultParts) {
  return runInput(input, parts)?.run.judgement.unexpected;
}

/**
 * Every unexplained violation judged from the model's observation alone (its facts, through judgeObservation: the
 * monitor that judges real runs), not from its trace; known limits matched against the same observation.
 */
export function unexplainedObserved(input: ScenarioInput, parts: Parts = defaultParts) {
  const x = runInput(input, parts);
  return x === undefined ? undefined : unexplainedOfObservation(x.scenario, x.run.observation);
}

/** The same, for a run already made: its observation's facts judged, known limits matched against them. */
export function unexplainedOfObservation(s: Scenario, observation: Observation) {
  return judge(s, observedViolations(judgeObservation(s, observation)), { observation }).unexpected;
}

/** Every unexplained violation of `name` only: whether a planted bug shows as its own invariant. */
export function unexplainedOf(name: InvariantName, input: ScenarioInput, parts: Parts = defaultParts) {
  return unexplained(input, parts)?.filter((v) => v.invariant === name);
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
      const v = judged(input, parts);
      fc.pre(v !== undefined);
      expect(v, `unexplained violations in a scenario drawn for ${name}`).toEqual([]);
    });

/** "No unexplained violation" over the arbitrary drawn for `name`, judged by the trace monitors (checkAll). */
export const invariantProperty: PropertyOf = propertyOver(unexplained);
/** The same claim judged from the observation's facts (judgeObservation), as a real run is judged. */
export const observedProperty: PropertyOf = propertyOver(unexplainedObserved);

/** The arbitraries an invariant is checked over: one per protocol it applies to. */
export function arbsFor(name: InvariantName, opts: Omit<ScenarioArbOptions, 'protocol'> = {}) {
  return invariantInfo[name].protocols.map((protocol) => ({ protocol, arb: scenarioArb({ ...opts, protocol }) }));
}

/** Every plant's witness of `protocol`, as fast-check examples. */
export function witnessesOf(protocol: 'kexec' | 'swsusp'): [ScenarioInput][] {
  return PLANTS.filter((p) => p.witness.protocol.kind === protocol).map((p): [ScenarioInput] => [p.witness]);
}

export function plantsFor(name: InvariantName): Plant[] {
  return PLANTS.filter((p) => p.invariant === name);
}

/**
 * Assert that the property FAILS with the planted bug: fast-check must find a counterexample (the witness is
 * given as an explicit example, random runs follow); on the witness the plant shows as its own invariant.
 */
export function expectPlantCaught(name: InvariantName, plant: Plant, arb: fc.Arbitrary<ScenarioInput>): void {
  expect(
    unexplainedOf(name, plant.witness, plant.parts)?.length,
    `${plant.name} should violate ${name}`,
  ).toBeGreaterThan(0);
  const out = fc.check(invariantProperty(name, arb, plant.parts), { examples: [[plant.witness]] });
  expect(out.failed, `${plant.name} should make ${name} fail`).toBe(true);
  const again = fc.check(invariantProperty(name, arb, plant.parts), { numRuns: 1500 });
  expect(again.failed, `${plant.name} should be found by random runs alone`).toBe(true);
}

/**
 * The suite every invariant file declares: "<Name> holds" for each protocol it applies to, over scenarios biased to
 * `faults`, and "<Name> catches planted bug <plant>" for each plant registered against it. `edges`: the holds
 * property first runs every plant's witness of its protocol with the stock parts (the edge scenarios a plant needed:
 * a kept image hibernated over, a map page boundary, the running system's swap in use), which random draws meet
 * rarely; each is an ordinary scenario there, judged like a drawn one.
 */
export function invariantSuite(
  name: InvariantName,
  faults: readonly FaultKind[],
  opts: { edges?: boolean } = {},
): void {
  describe(name, () => {
    for (const { protocol, arb } of arbsFor(name, { faults })) {
      const examples = opts.edges === true ? witnessesOf(protocol) : [];
      it(`${name} holds (${protocol})`, () => {
        fc.assert(invariantProperty(name, arb), { examples });
      });
    }
    for (const plant of plantsFor(name)) {
      it(`${name} catches planted bug ${plant.name}`, () => {
        expectPlantCaught(name, plant, scenarioArb({ faults: plant.faults ?? faults }));
      });
    }
  });
}
