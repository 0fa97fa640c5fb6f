// The scenario format: defaults, bad input messages (one line naming the path), and the committed JSON Schema.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { scenarioJsonSchema } from './json-schema.ts';
import { parseScenario } from './schema.ts';

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
});
