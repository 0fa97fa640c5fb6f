// Why this test? Issue 12: the CLI under host faults, through the real launcher. No hang on procfs, a corpus that
// cannot be written is refused before any run, a save that fails mid-campaign still prints the finding (exit 1),
// reports go to stdout, FIFOs and symlinks without replacing them, and a directory replay skips and counts what it
// cannot run. (One-line refusals of bad flags and files: cli.test.ts.)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PLANTS } from '../properties/__fixtures__/plants.ts';
import { CLAIM_NAMES } from '../spec/index.ts';
import { corpusProblems } from './corpus-check.ts';
import { runCli } from './test-io.ts';
import { fakeKernel, fakeLab, HAS_BUSYBOX, hibfuzz, removeLabs } from './testdata/fake-qemu/harness.ts';

afterAll(removeLabs);

const ROOT = join(import.meta.dirname ?? '.', '..');
const BIN = join(ROOT, 'bin', 'hibfuzz.mjs');
const tmp = () => mkdtempSync(join(tmpdir(), 'hibfuzz-faults-'));

/** The launcher in `cwd`, optionally under a file size limit (`ulimit -f`, 512-byte blocks; SIGXFSZ ignored). */
function cli(args: readonly string[], o: { cwd?: string; fsizeBlocks?: number; timeout?: number } = {}) {
  const sh = o.fsizeBlocks !== undefined ? `trap '' XFSZ; ulimit -f ${o.fsizeBlocks}; ` : '';
  return spawnSync('sh', ['-c', `${sh}exec "$0" "$@"`, process.execPath, BIN, ...args], {
    cwd: o.cwd ?? ROOT,
    encoding: 'utf8',
    timeout: o.timeout ?? 60_000,
  });
}

const witness = (name: string) => JSON.stringify(PLANTS.find((p) => p.name === name)?.witness);

describe('no hang on procfs (item 5)', () => {
  it.each([
    ['fuzz --corpus', ['fuzz', '--runs', '1', '--corpus', '/proc/forbidden']],
    ['merge --into', ['merge', join(ROOT, 'fuzz', 'seeds'), '--into', '/proc/forbidden/corpus']],
  ])(
    '%s /proc/forbidden: one line, exit 2, within seconds',
    (_, args) => {
      // Act
      const r = cli(args, { timeout: 20_000 });
      // Assert
      expect(r.signal).toBeNull();
      expect(r.status).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toEqual([
        expect.stringMatching(/cannot create directory \/proc\/forbidden.*ENOENT/),
      ]);
    },
    30_000,
  );
});

describe.skipIf(!HAS_BUSYBOX)('no hang on procfs: vm run --work-dir (item 5; the fake QEMU, nothing boots)', () => {
  it('vm run --work-dir /proc/forbidden: one line, exit 2, within seconds', async () => {
    // Arrange
    const lab = fakeLab();
    const bz = fakeKernel(join(lab.dir, 'kernel'), '6.1.0-57-amd64', { seed: lab.cache });
    const file = join(ROOT, 'vm', 'scenarios', 'clean-cycle.json');
    // Act
    const r = await hibfuzz(['vm', 'run', file, '--kernel', bz, '--work-dir', '/proc/forbidden', '--quiet'], lab.env, {
      timeoutMs: 30_000,
    });
    // Assert
    expect(r.signal).toBeNull();
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^hibfuzz: cannot create directory \/proc\/forbidden\/1-vm-clean-cycle: .*ENOENT/m);
  }, 60_000);
});

describe('a corpus that cannot be written (item 4)', () => {
  it('is refused before any run, naming the path and the reason', () => {
    // Arrange
    const dir = tmp();
    // Act: no byte may be written (EFBIG)
    const r = cli(['fuzz', '--runs', '50', '--corpus', 'c'], { cwd: dir, fsizeBlocks: 0 });
    // Assert
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^hibfuzz: corpus c: cannot write: file too large \(EFBIG\)\n$/);
    expect(r.stdout).not.toMatch(/runs in/);
  });

  it('a save that fails mid-campaign prints the finding in full on stdout and exits 1', () => {
    // Arrange: 512-byte files pass the probe; a finding's record does not fit
    const dir = tmp();
    // Act
    const r = cli(['fuzz', '--plant', 'pack-pfns-drops-last', '--budget', '20s', '--corpus', 'c', '--seed', '1'], {
      cwd: dir,
      fsizeBlocks: 1,
    });
    // Assert
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/hibfuzz: cannot save c\/EveryPageSavedOnce-\w+\.json: file too large \(EFBIG\)/);
    expect(r.stdout).toMatch(/^NOT SAVED == EveryPageSavedOnce-\w+: EveryPageSavedOnce violated/m);
    expect(r.stdout).toMatch(/violated:\n {5}EveryPageSavedOnce at step \d+: /);
    expect(r.stdout).toMatch(/save it as a \.json file to replay it\):\n\{\n {2}"version": 1,/);
    expect(r.stdout).toMatch(/exit 1: violation found \(the corpus could not be written\)/);
    expect(corpusProblems(join(dir, 'c'), [])).toEqual([]);
  }, 60_000);
});

describe('reports to stdout and to non-regular files (item 6)', () => {
  it('--ktap - writes KTAP to stdout and creates no file named -', () => {
    // Arrange
    const dir = tmp();
    // Act
    const r = cli(['fuzz', '--runs', '20', '--corpus', 'c', '--ktap', '-'], { cwd: dir });
    // Assert
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^KTAP version 1\\n(# .*\\n)*1\\.\\.1\\n {4}KTAP version 1\\n {4}# Subtest: hibfuzz_model\\n( {4}# .*\\n)* {4}1\\.\\.${CLAIM_NAMES.length}\\n`,
        'm',
      ),
    );
    expect(existsSync(join(dir, '-'))).toBe(false);
  });

  it('--junit /dev/stdout with stdout redirected to a file writes the XML in its place in the output', () => {
    // Arrange
    const dir = tmp();
    // Act
    const r = spawnSync(
      'sh',
      [
        '-c',
        `exec "$0" "$@" > out.txt`,
        process.execPath,
        BIN,
        'fuzz',
        '--runs',
        '20',
        '--corpus',
        'c',
        '--junit',
        '/dev/stdout',
      ],
      { cwd: dir, encoding: 'utf8' },
    );
    // Assert
    expect(r.status).toBe(0);
    expect(readFileSync(join(dir, 'out.txt'), 'utf8')).toMatch(
      /^hibfuzz fuzz: [\s\S]* runs in [\s\S]*\n<\?xml [\s\S]*<\/testsuites>\nexit 0: all held\n$/,
    );
    expect(lstatSync('/dev/stdout').isSymbolicLink()).toBe(true);
  });

  it('--junit through a symbolic link writes the link target and keeps the link', async () => {
    // Arrange
    const dir = tmp();
    symlinkSync('real.xml', join(dir, 'out.xml'));
    // Act
    const r = await runCli(['fuzz', '--runs', '20', '--corpus', join(dir, 'c'), '--junit', join(dir, 'out.xml')]);
    // Assert
    expect(r.code).toBe(0);
    expect(lstatSync(join(dir, 'out.xml')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'real.xml'), 'utf8')).toMatch(/^<\?xml .*\n<testsuites name="hibfuzz"/);
  });

  it('--junit into a FIFO writes into it (a reader gets the XML) and leaves the FIFO in place', async () => {
    // Arrange
    const dir = tmp();
    const fifo = join(dir, 'junit.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
    let got = '';
    reader.stdout.on('data', (d: Buffer) => {
      got += d.toString();
    });
    const readerDone = new Promise((r) => reader.on('exit', r));
    // Act
    const r = await runCli(['fuzz', '--runs', '20', '--corpus', join(dir, 'c'), '--junit', fifo]);
    const timer = setTimeout(() => reader.kill(), 5000);
    await readerDone;
    clearTimeout(timer);
    // Assert
    expect(r.code).toBe(0);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(got).toMatch(/<testsuites name="hibfuzz"/);
  });
});

describe('replay of a directory (items 2 and 8)', () => {
  it('runs every file it can, warns about each other one, says how many ran; a violation wins', async () => {
    // Arrange: a violating witness, a scenario the model cannot set up, a truncated file
    const dir = tmp();
    writeFileSync(join(dir, 'a-witness.json'), witness('crc-ignored'));
    writeFileSync(
      join(dir, 'b-nofit.json'),
      '{"version":1,"id":"nofit","machine":{"memPages":128,"e820":[{"start":0,"pages":100,"type":"reserved"}]},"workload":{"anon":100},"protocol":{"kind":"swsusp"},"storage":{"pages":2048},"steps":[{"op":"hibernate"},{"op":"resume"}]}',
    );
    writeFileSync(join(dir, 'c-truncated.json'), witness('crc-ignored').slice(0, 50));
    writeFileSync(join(dir, 'd-witness.json'), witness('crc-ignored'));
    // Act
    const all = await runCli(['replay', dir, '--plant', 'crc-ignored']);
    const held = await runCli(['replay', dir]);
    // Assert
    expect(all.code).toBe(1);
    expect(all.out).toMatch(/== .*a-witness\.json[\s\S]*== .*d-witness\.json/);
    expect(all.err).toMatch(/warning: not run: .*b-nofit\.json: the model cannot set up this machine/);
    expect(all.err).toMatch(/warning: not run: .*c-truncated\.json: malformed JSON/);
    expect(all.out).toMatch(/4 scenario file\(s\): 2 ran, 2 violated, 2 not run \(see the warnings\)/);
    // without the plant nothing is violated, but two files did not run: not "all held"
    expect(held.code).toBe(2);
    expect(held.out).toMatch(/4 scenario file\(s\): 2 ran, 0 violated, 2 not run/);
  });

  it('an empty directory is an error, not a pass', async () => {
    const r = await runCli(['replay', tmp()]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/holds no scenario files/);
    expect(readdirSync(tmp())).toEqual([]);
  });
});
