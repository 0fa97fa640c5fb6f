// End to end through main(): campaigns on the correct model and with a plant, their reports, replay, shrink, merge.
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLAIM_NAMES, parseScenario } from '../spec/index.ts';
import { readCorpus } from './corpus.ts';
import { parseKtap } from './ktap.ts';
import { runCli } from './test-io.ts';
import { JENKINS_JUNIT_XSD, junitparser, xmllint } from './testdata/xml-consumers.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'hibfuzz-e2e-'));

describe('hibfuzz fuzz', () => {
  it('--budget 5s on the correct model finds nothing, exits 0 and reports every invariant as held', async () => {
    // Arrange
    const dir = tmp();
    const ktap = join(dir, 'out.ktap');
    const junit = join(dir, 'out.xml');
    // Act
    const r = await runCli([
      'fuzz',
      '--budget',
      '5s',
      // NOTE: seed 5 is clean for its first 60000 runs; the cap keeps the test independent of machine speed.
      '--runs',
      '40000',
      '--seed',
      '5',
      '--corpus',
      join(dir, 'corpus'),
      '--ktap',
      ktap,
      '--junit',
      junit,
    ]);
    // Assert
    expect(r.code).toBe(0);
    expect(r.out).toContain('no findings');
    expect(r.out).toMatch(/coverage over \d+ runs/);
    expect(readdirSync(join(dir, 'corpus'))).toEqual([]);
    const k = parseKtap(readFileSync(ktap, 'utf8'));
    expect(k.ok && k.tests.map((t) => t.name)).toEqual([...CLAIM_NAMES]);
    expect(k.ok && k.tests.every((t) => t.ok)).toBe(true);
    const x = readFileSync(junit, 'utf8');
    expect(xmllint(x, JENKINS_JUNIT_XSD)).toEqual([]);
    expect(junitparser(x).map((s) => [s.failures, s.tests])).toEqual([[0, CLAIM_NAMES.length]]);
  }, 30_000);

  it('--plant pack-pfns-drops-last finds it, shrinks it, saves it; replay reproduces it (exit 1)', async () => {
    // Arrange
    const dir = tmp();
    const corpus = join(dir, 'corpus');
    const ktap = join(dir, 'out.ktap');
    // Act
    const r = await runCli([
      'fuzz',
      '--plant',
      'pack-pfns-drops-last',
      '--budget',
      '3s',
      '--seed',
      '1',
      '--corpus',
      corpus,
      '--ktap',
      ktap,
      '--no-replay',
    ]);
    // Assert: found, shrunk, saved, printed with the replay command
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/== EveryPageSavedOnce-[0-9a-f]{8}: EveryPageSavedOnce violated/);
    expect(r.out).toMatch(/shrunk from gen-\w+ \(\d+ pages, \d+ steps\) to \d+ pages/);
    expect(r.out).toContain('replay: node bin/hibfuzz.mjs replay');
    const c = readCorpus(corpus);
    expect(c.errors).toEqual([]);
    const rec = c.findings.find((f) => f.invariant === 'EveryPageSavedOnce');
    expect(rec).toBeDefined();
    if (rec === undefined) return;
    const file = join(corpus, `${rec.name}.json`);
    const s = parseScenario(JSON.parse(readFileSync(file, 'utf8')));
    expect(s.ok && s.scenario.machine.memPages).toBeLessThanOrEqual(512);
    expect(rec.seed).toBeTypeOf('number');
    expect(rec.path).toMatch(/^\d+$/);
    expect(existsSync(join(corpus, `${rec.name}.txt`))).toBe(true);
    const k = parseKtap(readFileSync(ktap, 'utf8'));
    const t = k.ok ? k.tests.find((x) => x.name === 'EveryPageSavedOnce') : undefined;
    expect(t?.ok).toBe(false);
    expect(t?.diagnostics.some((d) => d.startsWith('scenario: ') && d.includes(rec.name))).toBe(true);

    // Replay with the plant reproduces it; on the correct model it holds.
    const again = await runCli(['replay', file, '--plant', 'pack-pfns-drops-last']);
    expect(again.code).toBe(1);
    expect(again.out).toMatch(/verdict: violated/);
    expect(again.out).toMatch(/first divergence: step \d+ .*EveryPageSavedOnce/);
    const fixed = await runCli(['replay', file]);
    expect(fixed.code).toBe(0);
    expect(fixed.out).toContain('add --plant pack-pfns-drops-last to reproduce it');

    // A second campaign replays the corpus first and still fails (exit 1) even with one generated run.
    const second = await runCli(['fuzz', '--plant', 'pack-pfns-drops-last', '--runs', '1', '--corpus', corpus]);
    expect(second.code).toBe(1);
    expect(second.out).toMatch(/replayed [1-9]\d* corpus\/seed scenarios \([1-9]\d* failing\)/);

    // Merge into an empty corpus: the same findings, counts carried over.
    const merged = join(dir, 'merged');
    const m = await runCli(['merge', corpus, '--into', merged]);
    expect(m.code).toBe(0);
    const mc = readCorpus(merged);
    expect(mc.findings.map((f) => f.name).sort()).toEqual(
      readCorpus(corpus)
        .findings.map((f) => f.name)
        .sort(),
    );
  }, 60_000);

  it('shrink FILE --plant minimises a witness and writes it with --out', async () => {
    const { PLANTS } = await import('../properties/__fixtures__/plants.ts');
    const { writeFileSync } = await import('node:fs');
    const dir = tmp();
    const plant = PLANTS.find((p) => p.name === 'safe-page-ignores-unsafe');
    const f = join(dir, 'w.json');
    writeFileSync(f, JSON.stringify(plant?.witness));
    const out = join(dir, 'small.json');
    const r = await runCli(['shrink', f, '--plant', 'safe-page-ignores-unsafe', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/shrunk w-clobber for RestoreNeverClobbers: 2048 -> \d+ pages/);
    const s = parseScenario(JSON.parse(readFileSync(out, 'utf8')));
    expect(s.ok && s.scenario.machine.memPages).toBeLessThan(2048);
    expect((await runCli(['replay', out, '--plant', 'safe-page-ignores-unsafe'])).code).toBe(1);
  }, 30_000);
});
