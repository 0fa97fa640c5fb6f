// The scenario format: defaults, bad input messages (one line naming the path), and the committed JSON Schema.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { scenarioJsonSchema } from './json-schema.ts';
import { parseScenario, StepSchema } from './schema.ts';

const minimal = {
  version: 1,
  id: 'min',
  machine: { memPages: 1024 },
  protocol: { kind: 'kexec' },
  storage: { pages: 2048 },
  steps: [{ op: 'hibernate' }, { op: 'resume' }],
};

describe('parseScenario', () => {
  it('fills defaults', () => {
    // Act
    const r = parseScenario(minimal);
    // Assert
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.scenario.protocol).toMatchObject({ kind: 'kexec', reservation: 'exchange', handoff: 'pfnList' });
    expect(r.scenario.storage.kind).toBe('swapPartition');
    expect(r.scenario.workload.anon).toBe(0);
  });
  it.each([
    [{ ...minimal, version: 2 }, /^version: unsupported scenario version 2/],
    [{ ...minimal, machine: { memPages: 10 } }, /^machine\.memPages: /],
    [{ ...minimal, steps: [{ op: 'explode' }] }, /^steps\[0\]\.op: /],
    [{ ...minimal, protocol: { kind: 'tuxonice' } }, /^protocol\.kind: /],
    [{ ...minimal, extra: 1 }, /^\(root\): /],
    [{ ...minimal, workload: { anon: 2000 } }, /^workload: 2000 pages do not fit/],
    [
      { ...minimal, steps: [{ op: 'hibernate', abortAt: 'devices' }] },
      /^steps\[0\]\.abortAt: 'devices' is not an abort point of protocol kexec/,
    ],
    [{ ...minimal, storage: { pages: 8, offset: 8 } }, /^storage\.offset: /],
    ['not an object', /^\(root\): /],
  ])('rejects %j with one line naming the path', (input, message) => {
    const r = parseScenario(input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatch(message);
    expect(r.error).not.toContain('\n');
  });
});

describe('scenario.schema.json', () => {
  it('is the JSON Schema generated from the zod schema (run `npm run schema` after changing it)', () => {
    const committed = readFileSync(new URL('./scenario.schema.json', import.meta.url), 'utf8');
    expect(committed).toBe(scenarioJsonSchema());
  });
  it('describes every step op', () => {
    const text = scenarioJsonSchema();
    for (const op of ['write', 'hibernate', 'corrupt', 'bootNoresume', 'resume'])
      expect(text).toContain(`"const": "${op}"`);
  });
  it('describes every property (an editor shows it on hover)', () => {
    const schema = JSON.parse(scenarioJsonSchema()) as unknown;
    expect(propertyPaths(schema).length).toBeGreaterThanOrEqual(59);
    expect(undocumented(schema)).toEqual([]);
  });
  it('the description count can fail: a property without one is named', () => {
    const schema = z.toJSONSchema(z.object({ a: z.int().describe('has one'), b: z.object({ c: z.int() }) }));
    expect(undocumented(schema)).toEqual(['b', 'b.c']);
  });
  it.each([
    ['steps', ['properties', 'steps', 'items'], 'op', StepSchema.options.map((o) => o.shape.op.value)],
    ['protocol', ['properties', 'protocol'], 'kind', ['kexec', 'swsusp']],
  ])('the %s union is discriminated: one branch per tag, the tag a required const', (_, at, tag, tags) => {
    let node = JSON.parse(scenarioJsonSchema()) as Json;
    for (const k of at) node = node[k] as Json;
    expect(node.discriminator).toEqual({ propertyName: tag });
    const branches = node.oneOf as Json[];
    const consts = branches.map((b) => ((b.properties as Json)[tag] as Json).const);
    expect(consts).toEqual(tags);
    for (const b of branches) expect(b.required).toContain(tag);
  });
});

type Json = Record<string, unknown>;

/** Every property of every object in a JSON Schema, as a dotted path through `properties` (unions flattened). */
function propertyPaths(node: unknown, path = ''): { path: string; schema: Json }[] {
  if (Array.isArray(node)) return node.flatMap((n) => propertyPaths(n, path));
  if (typeof node !== 'object' || node === null) return [];
  const out: { path: string; schema: Json }[] = [];
  for (const [k, v] of Object.entries(node)) {
    if (k === 'properties' && typeof v === 'object' && v !== null) {
      for (const [name, sub] of Object.entries(v)) {
        const p = path === '' ? name : `${path}.${name}`;
        out.push({ path: p, schema: sub as Json }, ...propertyPaths(sub, p));
      }
    } else out.push(...propertyPaths(v, path));
  }
  return out;
}

const undocumented = (schema: unknown): string[] =>
  propertyPaths(schema)
    .filter((p) => typeof p.schema.description !== 'string' || p.schema.description === '')
    .map((p) => p.path);
