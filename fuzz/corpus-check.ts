// What a corpus must look like after anything (SIGKILLs, concurrent campaigns, a full disk): every visible file
// parses, every record has its scenario and text, and every finding a campaign reported as saved (`NEW ... -> PATH`
// lines) is there whole. Used by the tests and by scripts/soak-corpus.ts.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseScenario } from '../spec/index.ts';
import { FINDING_FORMAT, type FindingRecord } from './corpus.ts';

/** The scenario paths a campaign's stdout reported as saved. */
export const reportedSaved = (stdout: string): string[] =>
  [...stdout.matchAll(/^NEW .* -> (\S+\.json)$/gm)].map((m) => m[1] as string);

function fileProblem(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return `${file}: ${(e as Error).message}`;
  }
  if (file.endsWith('.txt')) return text.startsWith('# scenario ') ? undefined : `${file}: not a finding text`;
  try {
    const json = JSON.parse(text) as FindingRecord;
    if (file.endsWith('.finding.json')) {
      return json.format === FINDING_FORMAT && json.count >= 1 ? undefined : `${file}: not a finding record`;
    }
    const p = parseScenario(json);
    return p.ok ? undefined : `${file}: ${p.error}`;
  } catch (e) {
    return `${file}: ${(e as Error).message}`;
  }
}

/** Every problem of `dir` (empty: the corpus is whole), given the paths campaigns reported as saved. */
export function corpusProblems(dir: string, saved: readonly string[]): string[] {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => !f.startsWith('.')) : [];
  const problems = files.map((f) => fileProblem(join(dir, f))).filter((p): p is string => p !== undefined);
  for (const f of files.filter((x) => x.endsWith('.finding.json'))) {
    const base = join(dir, f.replace(/\.finding\.json$/, ''));
    for (const ext of ['.json', '.txt']) if (!existsSync(`${base}${ext}`)) problems.push(`${f}: no ${ext}`);
  }
  for (const path of new Set(saved)) {
    const base = path.replace(/\.json$/, '');
    for (const ext of ['.json', '.txt', '.finding.json']) {
      if (!existsSync(`${base}${ext}`)) problems.push(`${path}: reported saved, ${ext} missing`);
    }
  }
  return problems;
}

/** The sum of the hit counts of the records in `dir`. */
export function recordedHits(dir: string): number {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.finding.json') && !f.startsWith('.'))
    .reduce((n, f) => n + (JSON.parse(readFileSync(join(dir, f), 'utf8')) as FindingRecord).count, 0);
}
