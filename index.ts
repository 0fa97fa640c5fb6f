// hibfuzz as a library (`import { ... } from 'hibfuzz'`): run a scenario on the reference implementation, swap its
// parts, read the invariant registry, validate a scenario. Pure re-exports of spec/ and impl/ (and the planted bugs
// and the variant type): importing it does no I/O and starts nothing. The CLI is bin/hibfuzz.mjs.
//
//   const s = parseScenario(JSON.parse(text));                  // validate (zod: ScenarioSchema)
//   if (s.ok) runAndJudge(s.scenario, { ...defaultParts, crcMatches: () => true });
//   invariants.ResumeRestoresIdenticalMemory.summary;            // the registry: claim, source, bug classes

export type { Variant } from './fuzz/variant.ts';
export {
  type BootMachine,
  defaultParts,
  type ModelRun,
  type Parts,
  type RunOptions,
  type RunResult,
  runAndJudge,
  runScenario,
} from './impl/index.ts';
export { PLANTS, type Plant, plantByName } from './properties/__fixtures__/plants.ts';
export {
  INVARIANT_NAMES,
  type InvariantInfo,
  type InvariantName,
  invariantInfo as invariants,
  isInvariantName,
  type ModelJudgement,
  type ParseResult,
  parseScenario,
  type Scenario,
  type ScenarioInput,
  ScenarioSchema,
  type Violation,
} from './spec/index.ts';
export { scenarioJsonSchema } from './spec/scenario/json-schema.ts';
