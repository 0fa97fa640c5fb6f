// The package's runtime entry (package.json "exports"): hibfuzz ships TypeScript sources run by tsx, so plain
// `node` (which does not load .ts files from node_modules) gets the library through tsx's loader, scoped to this
// import. The names are index.ts's values, listed once here (fuzz/package.test.ts checks they match).
import { tsImport } from 'tsx/esm/api';

const api = await tsImport('./index.ts', import.meta.url);

export const {
  defaultParts,
  INVARIANT_NAMES,
  invariants,
  isInvariantName,
  PLANTS,
  parseScenario,
  plantByName,
  runAndJudge,
  runScenario,
  ScenarioSchema,
  scenarioJsonSchema,
} = api;
