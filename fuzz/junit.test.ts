// JUnit reports, checked by their consumers: xmllint against the Jenkins JUnit schema, python3-junitparser and
// junit2json read them as CI would (testdata/xml-consumers.ts).
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as junit2json } from 'junit2json';
import { describe, expect, it } from 'vitest';
import { formatJunit, type JunitOptions } from './junit.ts';
import { runCli } from './test-io.ts';
import { sampleResults } from './testdata/results.ts';
import { JENKINS_JUNIT_XSD, junitparser, xmllint } from './testdata/xml-consumers.ts';

const results = sampleResults({
  file: '/corpus/EveryPageSavedOnce-1234abcd.json',
  picture: '/corpus/EveryPageSavedOnce-1234abcd.svg',
  count: 7,
  lines: ['EveryPageSavedOnce at step 1: 1 saveable pages missing', 'expected: <all> & "more"', 'actual: 0x0\u0001'],
});
const opts: JunitOptions = {
  seconds: 1.5,
  startedAt: new Date('2026-12-02T04:05:06.789Z'),
  hostname: 'ci-runner',
  properties: { seed: '42', note: 'a<b' },
};

describe('JUnit', () => {
  it('is valid against the Jenkins JUnit schema (xmllint)', () => {
    expect(xmllint(formatJunit(results, opts), JENKINS_JUNIT_XSD)).toEqual([]);
    expect(xmllint(formatJunit(results, { ...opts, shard: { k: 2, n: 4 } }), JENKINS_JUNIT_XSD)).toEqual([]);
  });
  it('the schema check can fail: the old testsuites@skipped is rejected', () => {
    const old = formatJunit(results, opts).replace(
      '<testsuites name="hibfuzz"',
      '<testsuites skipped="1" name="hibfuzz"',
    );
    expect(xmllint(old).length).toBe(0);
    expect(xmllint(old, JENKINS_JUNIT_XSD).join('\n')).toMatch(/attribute 'skipped': The attribute 'skipped' is not/);
  });

  it('is read by python3-junitparser: counts, per-case times, timestamp, properties, failure, skip, attachments', () => {
    // Act
    const [suite, ...more] = junitparser(formatJunit(results, opts));
    // Assert
    expect(more).toEqual([]);
    expect(suite).toMatchObject({ name: 'hibfuzz.model', tests: 3, failures: 1, errors: 0, skipped: 1, time: 1.5 });
    expect(suite?.timestamp).toBe('2026-12-02T04:05:06');
    expect(suite?.hostname).toBe('ci-runner');
    expect(suite?.properties).toEqual({ seed: '42', note: 'a<b' });
    const [ok, failed, skipped] = suite?.cases ?? [];
    // a case's time is the campaign's time times the share of runs that exercised it: 1.5 s x 12/100, x 80/100
    expect([ok?.time, failed?.time, skipped?.time]).toEqual([0.18, 1.2, 0]);
    expect(failed?.classname).toBe('hibfuzz.model');
    expect(failed?.results).toEqual([
      expect.objectContaining({ tag: 'failure', message: 'EveryPageSavedOnce at step 1: 1 saveable pages missing' }),
    ]);
    expect(failed?.results[0]?.text).toContain('expected: <all> & "more"');
    expect(failed?.systemOut?.split('\n')).toEqual([
      '[[ATTACHMENT|/corpus/EveryPageSavedOnce-1234abcd.json]]',
      '[[ATTACHMENT|/corpus/EveryPageSavedOnce-1234abcd.svg]]',
    ]);
    expect(skipped?.results.map((r) => r.tag)).toEqual(['skipped']);
  });

  it('two shards of a campaign name their suites and classes apart (a merge keeps a failure of shard 2)', () => {
    // Arrange: shard 1 holds, shard 2 fails
    const held = results.map((t) => ({ ...t, failures: [] }));
    const x1 = formatJunit(held, { ...opts, shard: { k: 1, n: 2 } });
    const x2 = formatJunit(results, { ...opts, shard: { k: 2, n: 2 } });
    // Act: both files' suites in one report, as GitLab and Jenkins gather a pipeline's reports
    const suites = [...junitparser(x1), ...junitparser(x2)];
    // Assert: the (classname, name) keys a consumer dedups by are all distinct, and shard 2's failure is one of them
    const keys = suites.flatMap((s) => s.cases.map((c) => `${c.classname}/${c.name}`));
    expect(new Set(keys).size).toBe(keys.length);
    expect(suites.map((s) => s.name)).toEqual(['hibfuzz.model.shard-1-of-2', 'hibfuzz.model.shard-2-of-2']);
    const failing = suites.flatMap((s) => s.cases.filter((c) => c.results.some((r) => r.tag === 'failure')));
    expect(failing.map((c) => `${c.classname}/${c.name}`)).toEqual(['hibfuzz.model.shard-2-of-2/EveryPageSavedOnce']);
  });

  it('is read by junit2json (xml2js): one suite, its cases, the failure and the skip', async () => {
    const j = await junit2json(formatJunit(results, opts));
    expect(j).toMatchObject({ tests: 3, failures: 1 });
    const suites = (j && 'testsuite' in j ? j.testsuite : undefined) ?? [];
    expect(suites.map((s) => [s.name, s.skipped])).toEqual([['hibfuzz.model', 1]]);
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
  ])('xmllint rejects %s (the well-formedness check can fail)', (_, xml) => {
    expect(xmllint(xml).length).toBeGreaterThan(0);
  });

  it('a campaign with findings: each failing case attaches its saved scenario and its memory picture', async () => {
    // Arrange / Act
    const d = mkdtempSync(join(tmpdir(), 'hibfuzz-junit-'));
    const junit = join(d, 'fuzz.xml');
    const args = ['fuzz', '--plant', 'crc-ignored', '--runs', '200', '--seed', '1', '--no-replay'];
    const r = await runCli([...args, '--corpus', join(d, 'corpus'), '--junit', junit, '--shard', '1/1']);
    // Assert
    expect(r.code).toBe(1);
    const xml = readFileSync(junit, 'utf8');
    expect(xmllint(xml, JENKINS_JUNIT_XSD)).toEqual([]);
    const failing = junitparser(xml).flatMap((s) => s.cases.filter((c) => c.results.some((x) => x.tag === 'failure')));
    expect(failing.length).toBeGreaterThan(0);
    for (const c of failing) {
      const files = [...(c.systemOut ?? '').matchAll(/^\[\[ATTACHMENT\|(.+)\]\]$/gm)].map((m) => m[1] as string);
      expect(files.some((f) => f.endsWith('.json'))).toBe(true);
      expect(files.some((f) => f.endsWith('.svg'))).toBe(true);
      for (const f of files) expect(existsSync(f)).toBe(true);
      for (const svg of files.filter((f) => f.endsWith('.svg'))) {
        const text = readFileSync(svg, 'utf8');
        expect(xmllint(text)).toEqual([]);
        expect(text).toMatch(/<svg[\s>]/);
      }
    }
  });
});
