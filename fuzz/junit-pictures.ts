// The memory picture of each saved finding, for the JUnit report's attachment lines: NAME.svg beside the saved
// NAME.json, drawn from the model's run of it with the campaign's parts (what `hibfuzz explain --svg` draws).
import { existsSync } from 'node:fs';
import { asRun, type ModelParts } from './cli-kit.ts';
import { atomicWrite, readScenarioFile } from './corpus.ts';
import { memorySvg } from './explain-svg.ts';
import { errnoText } from './fsx.ts';
import { replayScenario } from './replay.ts';
import type { TestFailure, TestResult } from './results.ts';

/** The picture of a saved scenario (written once), or why there is none (`onError` gets host trouble). */
function pictureOf(file: string, m: ModelParts, onError: (line: string) => void): string | undefined {
  const svg = file.replace(/\.json$/, '.svg');
  if (svg === file) return undefined;
  if (existsSync(svg)) return svg;
  const read = readScenarioFile(file);
  if (!read.ok) return undefined;
  const run = replayScenario(asRun(m, read.scenario), m.parts);
  if (!run.ok) return undefined;
  try {
    atomicWrite(svg, memorySvg(run));
    return svg;
  } catch (e) {
    onError(`cannot write ${svg}: ${errnoText(e)}`);
    return undefined;
  }
}

/** `tests` with `picture` set on every failure whose scenario was saved. */
export function withPictures(
  tests: readonly TestResult[],
  m: ModelParts,
  onError: (line: string) => void,
): TestResult[] {
  const one = (f: TestFailure): TestFailure => {
    const picture = f.file !== undefined ? pictureOf(f.file, m, onError) : undefined;
    return picture !== undefined ? { ...f, picture } : f;
  };
  return tests.map((t) => (t.failures.length > 0 ? { ...t, failures: t.failures.map(one) } : t));
}
