// Every scenario file hibfuzz writes (a campaign's corpus save, `merge`, `shrink --out`, stdout) names its JSON Schema
// by a path relative to the file, and a real validator (python3-jsonschema) accepts what was written.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PLANTS } from '../properties/__fixtures__/plants.ts';
import { parseScenario } from '../spec/index.ts';
import { SCENARIO_SCHEMA_URL } from '../spec/scenario/json-schema.ts';
import { pythonValidate } from '../spec/scenario/testdata/python-jsonschema.ts';
import { scenarioJson } from './corpus.ts';
import { runCli } from './test-io.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'hibfuzz-files-'));
const schemaFile = fileURLToPath(SCENARIO_SCHEMA_URL);
const schemaOf = (file: string): string | undefined =>
  (JSON.parse(readFileSync(file, 'utf8')) as { $schema?: string }).$schema;
const scenarioFilesIn = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.endsWith('.finding.json'))
    .map((f) => join(dir, f));

describe('scenarioJson', () => {
  const parsed = parseScenario(PLANTS[0]?.witness);
  if (!parsed.ok) throw new Error('witness');
  const s = { ...parsed.scenario, $schema: 'somewhere/else.json' };

  it('puts $schema first, relative to the file it is written to', () => {
    const file = join(tmp(), 'a', 'b', 'x.json');
    const text = scenarioJson(s, file);
    expect(Object.keys(JSON.parse(text))[0]).toBe('$schema');
    expect(resolve(dirname(file), JSON.parse(text).$schema)).toBe(schemaFile);
  });
  it('without a file is the content only (what hashes and comparisons see)', () => {
    expect(JSON.parse(scenarioJson(s))).not.toHaveProperty('$schema');
    expect(scenarioJson(s)).toBe(scenarioJson({ ...s, $schema: undefined }));
  });
});

describe('files hibfuzz writes', () => {
  const plant = PLANTS.find((p) => p.name === 'crc-ignored') ?? PLANTS[0];
  if (plant === undefined) throw new Error('no plants');

  it('a campaign corpus, its merge and shrink --out all name the schema and validate', async () => {
    // Arrange: a short campaign against a planted bug fills a corpus
    const d = tmp();
    const corpus = join(d, 'corpus');
    const fuzz = await runCli(['fuzz', '--plant', plant.name, '--runs', '200', '--seed', '1', '--corpus', corpus]);
    expect(fuzz.code).toBe(1);
    const saved = scenarioFilesIn(corpus);
    expect(saved.length).toBeGreaterThan(0);
    // Act: merge it into another directory and shrink one finding to a file in a third
    const merged = join(d, 'deep', 'merged');
    expect((await runCli(['merge', corpus, '--into', merged])).code).toBe(0);
    const shrunk = join(d, 'shrunk.json');
    const sh = await runCli(['shrink', saved[0] as string, '--plant', plant.name, '--out', shrunk]);
    expect(sh.err).toBe('');
    expect(sh.code).toBe(1);
    // Assert
    const written = [...saved, ...scenarioFilesIn(merged), shrunk];
    for (const f of written) expect(resolve(dirname(f), schemaOf(f) ?? '')).toBe(schemaFile);
    expect(pythonValidate(schemaFile, written)).toEqual([]);
  });
});
