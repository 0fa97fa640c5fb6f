// Every scenario file hibfuzz ships names its JSON Schema ("$schema", relative to the file, so an editor finds it
// offline) and is accepted by a real JSON Schema validator (Debian's python3-jsonschema, installed by vm/setup.sh)
// against the committed scenario.schema.json, not only by zod.
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCENARIO_SCHEMA_URL } from './json-schema.ts';
import { parseScenario } from './schema.ts';
import { pythonValidate } from './testdata/python-jsonschema.ts';

const root = new URL('../..', import.meta.url).pathname;
const schemaFile = SCENARIO_SCHEMA_URL.pathname;
const SKIP = new Set(['node_modules', '.git', 'out', 'dist']);

/** A JSON file is a scenario file if it looks like one (version and steps): a new file anywhere is found. */
function scenarioFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    if (SKIP.has(e)) continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...scenarioFiles(p));
    else if (
      p.endsWith('.json') &&
      /"version"\s*:\s*1\b/.test(readFileSync(p, 'utf8')) &&
      /"steps"/.test(readFileSync(p, 'utf8'))
    )
      out.push(p);
  }
  return out;
}

const files = scenarioFiles(root);

describe('shipped scenario files', () => {
  it('are found (vm/scenarios, vm/kjump/scenarios, fuzz/seeds, fixtures)', () => {
    const dirs = new Set(files.map((f) => relative(root, dirname(f))));
    for (const d of ['vm/scenarios', 'vm/kjump/scenarios', 'fuzz/seeds']) expect(dirs).toContain(d);
  });
  it('each names the schema by a path that resolves to scenario.schema.json', () => {
    const bad = files.filter((f) => {
      const s = (JSON.parse(readFileSync(f, 'utf8')) as { $schema?: unknown }).$schema;
      return typeof s !== 'string' || resolve(dirname(f), s) !== schemaFile;
    });
    expect(bad.map((f) => relative(root, f))).toEqual([]);
  });
  it('each is a valid scenario (zod, with the cross-field rules)', () => {
    const bad = files.flatMap((f) => {
      const r = parseScenario(JSON.parse(readFileSync(f, 'utf8')));
      return r.ok ? [] : [`${relative(root, f)}: ${r.error}`];
    });
    expect(bad).toEqual([]);
  });
  it('each is accepted by python3-jsonschema against the committed schema', () => {
    expect(pythonValidate(schemaFile, files)).toEqual([]);
  });
  it('python3-jsonschema rejects a broken scenario (the check can fail)', () => {
    const first = files[0] as string;
    const doc = JSON.parse(readFileSync(first, 'utf8')) as { steps: unknown[] };
    doc.steps[1] = { op: 'hibernate', powerLossAfterWrite: -1 };
    const broken = join(mkdtempSync(join(tmpdir(), 'hibfuzz-schema-')), 'broken.json');
    writeFileSync(broken, JSON.stringify(doc));
    const errors = pythonValidate(schemaFile, [broken]);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join('\n')).toContain('steps/1');
  });
});
