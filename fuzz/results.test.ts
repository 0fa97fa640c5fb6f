// A campaign's per-claim results: a finding of any claim (the outcome oracle included) is a failing KTAP case.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLAIM_NAMES } from '../spec/index.ts';
import { parseKtap } from './ktap.ts';
import { runCli } from './test-io.ts';

describe('campaign results', () => {
  it('an OutcomeAllowed finding (plant memsize-counts-holes) is a not-ok KTAP case, not a green report', async () => {
    // Arrange
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-results-'));
    const ktap = join(dir, 'out.ktap');
    // Act
    const r = await runCli([
      'fuzz',
      '--plant',
      'memsize-counts-holes',
      '--runs',
      '3000',
      '--seed',
      '1',
      '--corpus',
      join(dir, 'corpus'),
      '--ktap',
      ktap,
      '--no-replay',
    ]);
    // Assert
    expect(r.code).toBe(1);
    const text = readFileSync(ktap, 'utf8');
    const k = parseKtap(text);
    expect(k.ok).toBe(true);
    if (!k.ok) return;
    expect(k.tests.map((t) => t.name)).toEqual([...CLAIM_NAMES]);
    expect(k.tests.filter((t) => !t.ok).map((t) => t.name)).toEqual(['OutcomeAllowed']);
    expect(text).toMatch(/^not ok 1 hibfuzz_model$/m);
  }, 60_000);
});
