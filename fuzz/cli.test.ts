// Bad input: one clear line on stderr, exit 2, nothing written. Plus the informational subcommands.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PLANTS } from '../properties/__fixtures__/plants.ts';
import { runCli } from './test-io.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'hibfuzz-cli-'));
const ROOT = join(import.meta.dirname ?? '.', '..');

function write(dir: string, name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const valid = JSON.stringify(PLANTS[0]?.witness);
const dots = valid.replace(/"id":"[^"]*"/, '"id":".."');
/** Schema-valid, but the workload does not fit in the RAM outside the reserved range (issue 12 item 2). */
const nofit =
  '{"version":1,"id":"nofit","machine":{"memPages":128,"e820":[{"start":0,"pages":100,"type":"reserved"}]},"workload":{"anon":100},"protocol":{"kind":"swsusp"},"storage":{"pages":2048},"steps":[{"op":"hibernate"},{"op":"resume"}]}';
const c = (d: string) => ['--corpus', join(d, 'c')];

describe('bad input', () => {
  const cases: [string, (d: string) => string[], RegExp][] = [
    ['malformed JSON', (d) => ['replay', write(d, 'bad.json', '{"version": 1,')], /bad\.json: malformed JSON/],
    [
      'a wrong version',
      (d) => ['replay', write(d, 'v2.json', valid.replace('"version":1', '"version":2'))],
      /v2\.json: version: unsupported scenario version 2/,
    ],
    [
      'a schema error (the message names the path)',
      (d) => ['replay', write(d, 'op.json', valid.replace('"op":"hibernate"', '"op":"sleep"'))],
      /op\.json: steps\[0\]\.op: /,
    ],
    ['an unknown flag', () => ['fuzz', '--frobnicate', '3'], /Unknown option '--frobnicate'/],
    ['an unknown command', () => ['fuzzz'], /unknown command 'fuzzz'/],
    ['shard 3/2', (d) => ['fuzz', '--shard', '3/2', '--corpus', join(d, 'c')], /--shard: '3\/2'/],
    ['shard 0/2', (d) => ['fuzz', '--shard', '0/2', '--corpus', join(d, 'c')], /--shard: '0\/2'/],
    ['shard a/b', (d) => ['fuzz', '--shard', 'a/b', '--corpus', join(d, 'c')], /--shard: 'a\/b'/],
    ['a bad budget', (d) => ['fuzz', '--budget', 'soon', '--corpus', join(d, 'c')], /--budget/],
    ['an unknown plant', (d) => ['fuzz', '--plant', 'nope', '--corpus', join(d, 'c')], /unknown plant 'nope'/],
    [
      'an unreadable corpus dir (a file)',
      (d) => ['fuzz', '--runs', '5', '--corpus', write(d, 'plain-file', 'x')],
      /corpus .*plain-file: not a directory \(a file of that name exists\)/,
    ],
    ['a missing file', (d) => ['replay', join(d, 'nope.json')], /nope\.json: no such file or directory \(ENOENT\)/],
    ['target vm without a kernel', (d) => ['fuzz', '--target', 'vm', '--corpus', join(d, 'c')], /needs --kernel/],
    ['vm run without a kernel', (d) => ['vm', 'run', write(d, 'ok.json', valid)], /--kernel K is required/],
    ['shrink of a scenario that holds', (d) => ['shrink', write(d, 'ok.json', valid)], /does not violate/],
    // issue 12 item 2: a scenario that cannot run is an error, never "all held"
    ['a scenario the model cannot set up', (d) => ['replay', write(d, 'nofit.json', nofit)], /cannot set up/],
    ['the same with --json', (d) => ['replay', '--json', write(d, 'nofit.json', nofit)], /cannot set up/],
    // item 3: report paths are checked before any work
    [
      'a --ktap path under /proc',
      (d) => ['fuzz', '--runs', '1', ...c(d), '--ktap', '/proc/x.tap'],
      /--ktap: cannot write \/proc\/x\.tap: cannot write in \/proc: .*ENOENT/,
    ],
    ['a --junit path that is a directory', (d) => ['fuzz', '--runs', '1', ...c(d), '--junit', d], /is a directory/],
    [
      'two reports to stdout',
      (d) => ['fuzz', '--runs', '1', ...c(d), '--ktap', '-', '--junit', '-'],
      /cannot both write to stdout/,
    ],
    ['an --svg path under /proc', (d) => ['explain', write(d, 'ok.json', valid), '--svg', '/proc/x.svg'], /--svg:/],
    ['a shrink --out path under /proc', (d) => ['shrink', write(d, 'ok.json', valid), '--out', '/proc/x'], /--out:/],
    // item 7: memory is estimated before running, the refusal names the limit and the flag
    [
      'a scenario over --max-rss',
      (d) => ['replay', write(d, 'ok.json', valid), '--max-rss', '64M'],
      /ok\.json: needs about \d+ MiB of memory .* over the limit of 64 MiB \(--max-rss\): raise it with --max-rss/,
    ],
    [
      'a campaign whose generated machines are over --max-rss',
      (d) => ['fuzz', '--max-mem-pages', '16777216', '--max-rss', '1G', ...c(d)],
      /--max-mem-pages 16777216: generated scenarios may need about .* over the limit of 1\.0 GiB/,
    ],
    [
      'a bad --max-rss',
      (d) => ['replay', write(d, 'ok.json', valid), '--max-rss', '12'],
      /--max-rss: '12' is not a size/,
    ],
    // item 8: clear lines; flags that would do nothing are refused
    ['a negative budget', (d) => ['fuzz', '--budget', '-5s', ...c(d)], /--budget: '-5s' is negative/],
    ['a negative run count', (d) => ['fuzz', '--runs', '-1', ...c(d)], /--runs: '-1' is negative/],
    ['schema with an argument', () => ['schema', 'extra'], /schema: unexpected argument 'extra'/],
    ['plants with an argument', () => ['plants', 'extra'], /plants: unexpected argument 'extra'/],
    ['--kernel on the model target', (d) => ['fuzz', '--kernel', 'debian-6.1', ...c(d)], /--kernel .*add --target vm/],
    ['--jobs on the model target', (d) => ['fuzz', '--jobs', '2', ...c(d)], /--jobs .*add --target vm/],
    ['--shrink-budget on the model target', (d) => ['fuzz', '--shrink-budget', '1m', ...c(d)], /add --target vm/],
    [
      '--protocol on target vm',
      (d) => ['fuzz', '--target', 'vm', '--kernel', 'debian-6.1', '--protocol', 'kexec', ...c(d)],
      /--protocol applies to --target model/,
    ],
    ['an id of ..', (d) => ['replay', write(d, 'dots.json', dots)], /dots\.json: id: '\.\.' is not allowed/],
    [
      'an id of .. to vm run',
      (d) => ['vm', 'run', write(d, 'dots.json', dots), '--kernel', 'debian-6.1'],
      /id: '\.\.' is not allowed/,
    ],
  ];

  it.each(cases)('%s: one line on stderr, exit 2, nothing written', async (_, argv, msg) => {
    // Arrange
    const dir = tmp();
    const args = argv(dir);
    const before = readdirSync(dir).sort();
    // Act
    const r = await runCli(args);
    // Assert
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  it('the launcher exits 2 with one line for an unknown flag (spawned)', () => {
    const r = spawnSync(process.execPath, ['bin/hibfuzz.mjs', 'replay', '--nope'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^hibfuzz: Unknown option '--nope'/)]);
  });
});

describe('informational commands', () => {
  it('schema prints the JSON Schema of the scenario format', async () => {
    const r = await runCli(['schema']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.out) as { title: string; properties: Record<string, unknown> };
    expect(schema.title).toBe('hibfuzz scenario v1');
    expect(Object.keys(schema.properties)).toContain('steps');
  });

  it('plants lists every planted bug with its invariant', async () => {
    const r = await runCli(['plants']);
    expect(r.code).toBe(0);
    for (const p of PLANTS) expect(r.out).toContain(p.name);
    expect(r.out.trimEnd().split('\n')).toHaveLength(PLANTS.length);
  });

  it('--help prints the usage and exits 0; no command exits 2', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^hibfuzz: /);
    for (const cmd of ['fuzz', 'replay', 'shrink', 'explain', 'schema', 'plants', 'merge', 'bench', 'vm run']) {
      expect(help.out).toContain(`hibfuzz ${cmd}`);
    }
    expect((await runCli([])).code).toBe(2);
  });

  it('explain tells the story phase by phase and draws memory as well-formed SVG', async () => {
    const { xmllint } = await import('./testdata/xml-consumers.ts');
    const dir = tmp();
    const f = write(dir, 'w.json', JSON.stringify(PLANTS.find((p) => p.name === 'restore-skips-last-pbe')?.witness));
    const svg = join(dir, 'mem.svg');
    const r = await runCli(['explain', f, '--plant', 'restore-skips-last-pbe', '--svg', svg]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/step 0: hibernate/);
    expect(r.out).toMatch(/image loaded: \d+ pages in place, \d+ relocated through safe pages/);
    expect(r.out).toMatch(/VIOLATED ResumeRestoresIdenticalMemory/);
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(svg, 'utf8');
    expect(xmllint(text)).toEqual([]);
    expect(text).toMatch(/^(<\?xml[^>]*>\s*)?<svg[\s>]/);
  });

  it('bench --quick --json prints one JSON object per line with the required fields', async () => {
    const r = await runCli(['bench', '--quick', '--json']);
    expect(r.code).toBe(0);
    const lines = r.out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => String(l.name).split(':')[0])).toEqual(['cycle', 'properties', 'campaign', 'timeToFind']);
    for (const l of lines) {
      for (const k of ['pages', 'seconds', 'pagesPerSecond']) expect(typeof l[k]).toBe('number');
    }
  }, 60_000);
});
