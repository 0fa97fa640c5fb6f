// The cases of the model-equivalence check (issue 14): every shipped scenario (vm/, vm/kjump/, fuzz/seeds/) and a
// fixed set of generated scenarios, each with the stock parts and with every planted bug. The generated inputs are
// stored with their digests, so a later change to the arbitrary does not change what is compared.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { ScenarioInput } from '../../spec/index.ts';
import { PLANTS } from '../__fixtures__/plants.ts';
import { scenarioArb } from '../arbitraries/scenario.ts';
import type { RunDigest } from './trace-digest.ts';

export const GOLDEN = new URL('./testdata/equivalence.golden', import.meta.url);
const ROOT = new URL('../../', import.meta.url).pathname;
export const SHIPPED_DIRS = ['vm/scenarios', 'vm/kjump/scenarios', 'fuzz/seeds'] as const;

export interface GoldenCase {
  readonly name: string;
  /** the scenario file (shipped) or the input itself (generated) */
  readonly file?: string;
  readonly input?: ScenarioInput;
  /** stock parts, then one entry per plant name */
  readonly digests: Readonly<Record<string, RunDigest>>;
}

export interface Golden {
  readonly note: string;
  readonly cases: readonly GoldenCase[];
}

export function shippedFiles(): string[] {
  return SHIPPED_DIRS.flatMap((d) =>
    readdirSync(join(ROOT, d))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => `${d}/${f}`),
  );
}

export const readShipped = (file: string): unknown => JSON.parse(readFileSync(join(ROOT, file), 'utf8'));

/** generated scenarios in the golden file */
export const GENERATED = 80;

export const generatedInputs = (n: number): ScenarioInput[] =>
  fc.sample(scenarioArb({ maxMemPages: 4096 }), { seed: 14, numRuns: n });

export const PART_SETS = [
  { name: 'stock', parts: undefined },
  ...PLANTS.map((p) => ({ name: p.name, parts: p.parts })),
] as const;
