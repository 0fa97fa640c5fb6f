// KTAP reports: produced from per-invariant results and read back by the parser (JUnit: junit.test.ts).
import { describe, expect, it } from 'vitest';
import { formatKtap, parseKtap } from './ktap.ts';
import type { TestResult } from './results.ts';
import { sampleResults } from './testdata/results.ts';

const results = sampleResults();

describe('KTAP', () => {
  it('writes one test per invariant, with the scenario path as a diagnostic of the failing one', () => {
    // Act
    const text = formatKtap(results);
    const p = parseKtap(text);
    // Assert
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.version).toBe(1);
    expect(p.plan).toBe(3);
    expect(p.tests.map((t) => [t.ok, t.name])).toEqual([
      [true, 'AbortCopiesNothing'],
      [false, 'EveryPageSavedOnce'],
      [true, 'NosaveNeverSaved'],
    ]);
    expect(p.tests[1]?.diagnostics).toContain('scenario: corpus/EveryPageSavedOnce-1234abcd.json');
    expect(p.tests[1]?.diagnostics).toContain('expected: <all> & "more"');
    expect(p.tests[2]?.directive).toMatch(/^SKIP /);
  });

  it('names tests by target when more than one target ran', () => {
    const p = parseKtap(formatKtap([...results, { ...results[0], target: 'vm' } as TestResult]));
    expect(p.ok && p.tests.map((t) => t.name)).toEqual([
      'model.AbortCopiesNothing',
      'model.EveryPageSavedOnce',
      'model.NosaveNeverSaved',
      'vm.AbortCopiesNothing',
    ]);
  });

  it.each([
    ['no header', '1..1\nok 1 a\n', /header/],
    ['no plan', 'KTAP version 1\nok 1 a\n', /plan/],
    ['wrong count', 'KTAP version 1\n1..2\nok 1 a\n', /plan says 2/],
    ['bad numbering', 'KTAP version 1\n1..2\nok 1 a\nok 3 b\n', /test number 3/],
    ['garbage', 'KTAP version 1\n1..1\nfine 1 a\n', /not a KTAP line/],
  ])('the parser rejects %s', (_, text, msg) => {
    const p = parseKtap(text);
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.error).toMatch(msg);
  });
});
