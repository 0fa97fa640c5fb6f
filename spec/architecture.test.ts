// Module boundaries (style-anchors §6.1), checked on every import specifier: spec/ and impl/ are pure (no node:*,
// no fast-check, no vm/), vm/ never imports impl/, properties/ or fast-check, properties/ never imports vm/.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (e === 'node_modules' || e === 'testdata') continue;
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

const imports = (file: string): string[] =>
  [...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1] as string);

const RULES: Record<string, RegExp[]> = {
  spec: [/^node:/, /^fast-check/, /\/impl\//, /\/vm\//, /\/properties\//, /\/fuzz\//],
  impl: [/^node:/, /^fast-check/, /^zod/, /\/vm\//, /\/properties\//, /\/fuzz\//],
  vm: [/^fast-check/, /\/impl\//, /\/properties\//, /\/fuzz\//],
  properties: [/\/vm\//, /\/fuzz\//],
};

describe('architecture', () => {
  for (const [folder, banned] of Object.entries(RULES)) {
    it(`${folder}/ imports only what it may`, () => {
      const bad: string[] = [];
      for (const f of tsFiles(join(root, folder))) {
        // Tests of pure folders may read fixtures from disk.
        const isTest = f.endsWith('.test.ts');
        for (const spec of imports(f)) {
          if (isTest && spec.startsWith('node:')) continue;
          if (banned.some((re) => re.test(spec))) bad.push(`${relative(root, f)} imports ${spec}`);
        }
      }
      expect(bad).toEqual([]);
    });
  }
  it('would catch a violation (the checker is not vacuous)', () => {
    const banned = RULES.impl ?? [];
    expect(banned.some((re) => re.test('node:fs'))).toBe(true);
    expect(banned.some((re) => re.test('../../vm/run.ts'))).toBe(true);
  });
});
