// Model runs for the explain picture tests: a planted bug's witness run with the bug swapped in, or any scenario.
import { defaultParts, type ModelRun, type Parts } from '../../impl/index.ts';
import { plantByName } from '../../properties/__fixtures__/plants.ts';
import { parseScenario, type ScenarioInput } from '../../spec/index.ts';
import { replayScenario } from '../replay.ts';

export function runOf(input: ScenarioInput, parts: Parts = defaultParts): ModelRun {
  const s = parseScenario(input);
  if (!s.ok) throw new Error(s.error);
  const r = replayScenario(s.scenario, parts);
  if (!r.ok) throw new Error(r.error);
  return r;
}

export function plantRun(name: string): ModelRun {
  const p = plantByName(name);
  if (p === undefined) throw new Error(`no plant ${name}`);
  return runOf(p.witness, p.parts);
}
