// KTAP and JUnit reports: produced from per-invariant results and read back by the parsers.

import { parse as junitConsumer } from 'junit2json';
import { describe, expect, it } from 'vitest';
import { formatJunit, parseXml, type XmlElement } from './junit.ts';
import { formatKtap, parseKtap } from './ktap.ts';
import type { TestResult } from './results.ts';

const results: TestResult[] = [
  { target: 'model', name: 'AbortCopiesNothing', exercised: 12, runs: 100, failures: [] },
  {
    target: 'model',
    name: 'EveryPageSavedOnce',
    exercised: 80,
    runs: 100,
    failures: [
      {
        file: 'corpus/EveryPageSavedOnce-1234abcd.json',
        count: 7,
        lines: ['EveryPageSavedOnce at step 1: 1 saveable pages missing', 'expected: <all> & "more"', 'actual: 0x0'],
      },
    ],
  },
  { target: 'model', name: 'NosaveNeverSaved', exercised: 0, runs: 100, failures: [] },
];

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

describe('JUnit', () => {
  const find = (e: XmlElement, name: string): XmlElement[] => [
    ...(e.name === name ? [e] : []),
    ...e.children.flatMap((c) => find(c, name)),
  ];

  it('is well-formed XML with one testcase per invariant, failures and skips marked', () => {
    // Act
    const xml = formatJunit(results, { seconds: 1.5, properties: { seed: '42', note: 'a<b' } });
    const p = parseXml(xml);
    // Assert
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.root.name).toBe('testsuites');
    expect(p.root.attrs).toMatchObject({ tests: '3', failures: '1', skipped: '1' });
    const suites = find(p.root, 'testsuite');
    expect(suites.map((s) => s.attrs.name)).toEqual(['hibfuzz.model']);
    const cases = find(p.root, 'testcase');
    expect(cases.map((c) => c.attrs.name)).toEqual(['AbortCopiesNothing', 'EveryPageSavedOnce', 'NosaveNeverSaved']);
    const failure = find(cases[1] as XmlElement, 'failure')[0];
    expect(failure?.attrs.message).toBe('EveryPageSavedOnce at step 1: 1 saveable pages missing');
    expect(failure?.text).toContain('scenario: corpus/EveryPageSavedOnce-1234abcd.json (hits: 7)');
    expect(failure?.text).toContain('expected: <all> & "more"');
    expect(find(cases[2] as XmlElement, 'skipped')).toHaveLength(1);
    expect(find(p.root, 'property').find((e) => e.attrs.name === 'note')?.attrs.value).toBe('a<b');
  });

  it('is read by a JUnit consumer (junit2json, xml2js): one suite, its cases, the failure and the skip', async () => {
    const j = await junitConsumer(formatJunit(results, { seconds: 1.5, properties: { seed: '42' } }));
    expect(j).toMatchObject({ tests: 3, failures: 1, skipped: 1 });
    const suites = (j && 'testsuite' in j ? j.testsuite : undefined) ?? [];
    expect(suites.map((s) => s.name)).toEqual(['hibfuzz.model']);
    const cases = suites[0]?.testcase ?? [];
    expect(cases.map((c) => c.name)).toEqual(['AbortCopiesNothing', 'EveryPageSavedOnce', 'NosaveNeverSaved']);
    expect(cases[1]?.failure?.[0]?.message).toBe('EveryPageSavedOnce at step 1: 1 saveable pages missing');
    expect(cases[2]?.skipped).toHaveLength(1);
  });

  it.each([
    ['mismatched tags', '<a><b></a></b>'],
    ['unclosed root', '<a><b/>'],
    ['raw ampersand', '<a>x & y</a>'],
    ['two roots', '<a/><b/>'],
    ['raw < in attribute', '<a x="<"/>'],
  ])('the reader rejects %s', (_, xml) => {
    expect(parseXml(xml).ok).toBe(false);
  });
});
