// Every scenario file hibfuzz ships names its JSON Schema ("$schema", relative to the file, so an editor finds it
// offline) and is accepted by a real JSON Schema validator (Debian's python3-jsonschema, installed by vm/setup.sh)
// against the committed scenario.schema.json, not only by zod.
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, matchesGlob, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SCENARIO_SCHEMA_URL } from './json-schema.ts';
import { parseScenario } from './schema.ts';
import { pythonValidate } from './testdata/python-jsonschema.ts';

const root = new URL('../..', import.meta.url).pathname;
const schemaFile = fileURLToPath(SCENARIO_SCHEMA_URL);
/** Not shipped: dependencies, build output and a local corpus (.gitignore), dot directories (caches, sandboxes). */
const SKIP = new Set(['node_modules', 'out', 'dist', 'corpus']);

/** A JSON file is a scenario file if it looks like one (version and steps): a new file anywhere is found. */
function scenarioFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    if (SKIP.has(e) || e.startsWith('.')) continue;
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
  it('python3-jsonschema narrows steps by op: each op validates, a field of another op does not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-schema-'));
    const base = JSON.parse(readFileSync(files[0] as string, 'utf8')) as Record<string, unknown>;
    const doc = (name: string, steps: unknown[]) => {
      const f = join(dir, `${name}.json`);
      writeFileSync(f, JSON.stringify({ ...base, protocol: { kind: 'swsusp' }, steps }));
      return f;
    };
    const good = doc('good', [
      { op: 'write', kind: 'slab', pages: 1 },
      { op: 'hibernate', abortAt: 'freezer' },
      { op: 'corrupt', region: 'data', index: 0 },
      { op: 'bootNoresume', writeStoragePages: 1 },
      { op: 'resume', e820Changed: true },
    ]);
    expect(pythonValidate(schemaFile, [good])).toEqual([]);
    for (const [name, step] of [
      ['unknown-op', { op: 'suspend' }],
      ['write-with-region', { op: 'write', pages: 1, region: 'data' }],
      ['resume-with-bit', { op: 'resume', bit: 3 }],
    ] as const)
      expect(pythonValidate(schemaFile, [doc(name, [step])]), name).toHaveLength(1);
  });
  it('.vscode/settings.json maps each of them, and the default corpus, to the schema (VS Code completion)', () => {
    const settings = JSON.parse(readFileSync(join(root, '.vscode/settings.json'), 'utf8')) as {
      'json.schemas': { fileMatch: string[]; url: string }[];
    };
    const entry = settings['json.schemas'].find((e) => resolve(root, e.url) === schemaFile);
    expect(entry).toBeDefined();
    // VS Code: a leading / is the workspace root; the last pattern that matches decides, `!` excludes.
    const mapped = (rel: string) =>
      entry?.fileMatch.findLast((g) => matchesGlob(`/${rel}`, g.replace(/^!/, '')))?.startsWith('!') === false;
    expect(files.map((f) => relative(root, f)).filter((f) => !mapped(f))).toEqual([]);
    expect(mapped('corpus/CorruptImageNeverResumed-1a2b.json')).toBe(true);
    expect(mapped('corpus/CorruptImageNeverResumed-1a2b.finding.json')).toBe(false);
    expect(mapped('package.json')).toBe(false);
  });
});
