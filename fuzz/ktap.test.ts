// The model campaign's KTAP as its real consumer reads it: one named suite with the headers that replay it
// (seed, shard, target, kernel, plant), infrastructure errors as `# ERROR` cases, checked by the kernel's own
// tools/testing/kunit/kunit.py from the linux-source tree the kjump build unpacks (skipped when it is absent).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatKtap, type KtapHeader, parseKtap } from './ktap.ts';
import { runCli } from './test-io.ts';
import { kunitPy } from './testdata/kunit.ts';
import { sampleResults } from './testdata/results.ts';

const results = sampleResults({
  file: 'corpus/E-1.json',
  count: 7,
  lines: ['EveryPageSavedOnce at step 1: 1 page missing'],
});
const header: KtapHeader = {
  suite: 'hibfuzz_model',
  seed: 7,
  shard: '2/4',
  target: 'model',
  plant: 'pack-pfns-drops-last',
  replay: 'hibfuzz fuzz --target model --seed 7 --shard 2/4 --plant pack-pfns-drops-last --runs 100',
};

const kunit = kunitPy();

interface KunitJson {
  sub_groups?: { name: string; test_cases: { name: string; status: string }[] }[];
}
function kunitParse(text: string): { json: KunitJson; text: string } {
  const f = join(mkdtempSync(join(tmpdir(), 'hibfuzz-ktap-')), 'x.ktap');
  writeFileSync(f, text);
  const run = (args: string[]) => {
    try {
      return execFileSync('python3', [kunit as string, 'parse', ...args, f], { encoding: 'utf8' });
    } catch (e) {
      return String((e as { stdout?: string }).stdout ?? ''); // exit 1: a test failed
    }
  };
  const out = run(['--json']);
  // kunit.py prints its human-readable log first, then the JSON from a line of its own (a diagnostic may hold braces)
  const start = out.search(/^\{/m);
  return { json: JSON.parse(out.slice(start)) as KunitJson, text: run([]) };
}

describe('KTAP of the model campaign', () => {
  it('is one named suite whose headers replay it; our parser reads the cases and the headers', () => {
    const text = formatKtap(results, header);
    const p = parseKtap(text);
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.suite).toBe('hibfuzz_model');
    expect(p.headers).toEqual([
      'seed: 7',
      'shard: 2/4',
      'target: model',
      'kernel: -',
      'plant: pack-pfns-drops-last',
      `replay: ${header.replay}`,
    ]);
    expect(p.tests.map((t) => [t.ok, t.name])).toEqual([
      [true, 'AbortCopiesNothing'],
      [false, 'EveryPageSavedOnce'],
      [true, 'NosaveNeverSaved'],
    ]);
    expect(text.split('\n').at(-2)).toBe('not ok 1 hibfuzz_model');
  });

  it('writes an infrastructure error as a not ok # ERROR case (never a pass)', () => {
    const p = parseKtap(formatKtap(results, { ...header, errors: ['QEMU killed by SIGKILL'] }));
    const last = p.ok ? p.tests.at(-1) : undefined;
    expect(last).toMatchObject({ ok: false, name: 'InfrastructureError', directive: 'ERROR QEMU killed by SIGKILL' });
  });

  it.skipIf(kunit === undefined)("is accepted by the kernel's kunit.py: the suite by name, each case's status", () => {
    const { json, text } = kunitParse(formatKtap(results, { ...header, errors: ['QEMU killed by SIGKILL'] }));
    const groups = json.sub_groups ?? [];
    expect(groups.map((g) => g.name)).toEqual(['hibfuzz_model']);
    expect(groups[0]?.test_cases.map((t) => [t.name, t.status])).toEqual([
      ['AbortCopiesNothing', 'PASS'],
      ['EveryPageSavedOnce', 'FAIL'],
      ['NosaveNeverSaved', 'SKIP'],
      ['InfrastructureError', 'FAIL'],
    ]);
    expect(text).toMatch(/Ran 4 tests: passed: 1, failed: 2, skipped: 1/);
    expect(text).toContain('# replay: hibfuzz fuzz --target model --seed 7 --shard 2/4');
    expect(text).not.toMatch(/\[ERROR\]/);
  });

  it.skipIf(kunit === undefined)(
    'a real campaign with a plant: kunit.py names the suite and fails the plant',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-ktap-'));
      const ktap = join(dir, 'c.ktap');
      const r = await runCli([
        'fuzz',
        ...['--runs', '300', '--seed', '1', '--plant', 'restore-skips-last-pbe', '--no-replay'],
        ...['--corpus', join(dir, 'c'), '--ktap', ktap],
      ]);
      expect(r.code).toBe(1);
      const text = readFileSync(ktap, 'utf8');
      expect(text).toContain(
        '# replay: hibfuzz fuzz --target model --seed 1 --shard 1/1 --plant restore-skips-last-pbe',
      );
      const { json } = kunitParse(text);
      const g = json.sub_groups?.[0];
      expect(g?.name).toBe('hibfuzz_model');
      expect(g?.test_cases.find((t) => t.name === 'ResumeRestoresIdenticalMemory')?.status).toBe('FAIL');
    },
    60_000,
  );
});
