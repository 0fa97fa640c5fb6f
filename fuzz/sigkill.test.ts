// Why this test? The corpus promise: a SIGKILL at any moment leaves every file readable and loses no finding the
// campaign reported as saved. Spawn the CLI, kill -9 it mid-campaign at several moments, check every file.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLAIM_NAMES, parseScenario } from '../spec/index.ts';

const ROOT = join(import.meta.dirname ?? '.', '..');

/** Spawn a plant campaign; SIGKILL it `ms` after it reported its first saved finding (or after 20 s). */
function killAfter(ms: number, corpus: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        'bin/hibfuzz.mjs',
        'fuzz',
        '--plant',
        'pack-pfns-drops-last',
        '--budget',
        '60s',
        '--corpus',
        corpus,
        '--seed',
        '1',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let out = '';
    let t = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      const first = !/^NEW /m.test(out);
      out += d.toString();
      if (first && /^NEW /m.test(out)) {
        clearTimeout(t);
        t = setTimeout(() => child.kill('SIGKILL'), ms);
      }
    });
    child.on('exit', () => {
      clearTimeout(t);
      resolve(out);
    });
  });
}

describe('SIGKILL durability', () => {
  it.each([0, 40, 400])(
    'a kill -9 %d ms after the first finding leaves a readable corpus with every reported finding',
    async (ms) => {
      // Arrange
      const corpus = join(mkdtempSync(join(tmpdir(), 'hibfuzz-kill-')), 'corpus');
      // Act
      const out = await killAfter(ms, corpus);
      // Assert: every visible file parses; temp files are the only partial ones
      const files = existsSync(corpus) ? readdirSync(corpus) : [];
      for (const f of files.filter((x) => !x.startsWith('.'))) {
        const text = readFileSync(join(corpus, f), 'utf8');
        if (f.endsWith('.txt')) {
          expect(text).toMatch(/^# scenario /);
          continue;
        }
        const json = JSON.parse(text) as unknown;
        if (!f.endsWith('.finding.json')) expect(parseScenario(json).ok).toBe(true);
      }
      // every finding reported as saved has its three files
      const saved = [...out.matchAll(/-> (\S+\.json)$/gm)].map((m) => m[1] as string);
      expect(saved.length).toBeGreaterThan(0);
      for (const path of saved) {
        const base = path.replace(/\.json$/, '');
        for (const ext of ['.json', '.txt', '.finding.json']) expect(existsSync(`${base}${ext}`)).toBe(true);
      }
      // every record has its scenario (the record is written last)
      for (const f of files.filter((x) => x.endsWith('.finding.json') && !x.startsWith('.'))) {
        expect(existsSync(join(corpus, f.replace(/\.finding\.json$/, '.json')))).toBe(true);
      }
    },
    30_000,
  );
});

describe('SIGINT', () => {
  it('stops the campaign at the next run; the summary and the KTAP report are still written', async () => {
    // Arrange
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-int-'));
    const ktap = join(dir, 'out.ktap');
    // Act
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        ['bin/hibfuzz.mjs', 'fuzz', '--budget', '60s', '--corpus', join(dir, 'c'), '--seed', '2', '--ktap', ktap],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] },
      );
      let text = '';
      child.stdout.on('data', (d: Buffer) => {
        const first = text === '';
        text += d.toString();
        if (first) setTimeout(() => child.kill('SIGINT'), 1000);
      });
      child.on('exit', (c) => resolve({ code: c, out: text }));
    });
    // Assert
    expect(out).toMatch(/runs in \d+\.\ds .*; interrupted/);
    expect(code === 0 || code === 1).toBe(true);
    expect(readFileSync(ktap, 'utf8')).toMatch(
      new RegExp(
        `^KTAP version 1\\n(# .*\\n)*1\\.\\.1\\n {4}KTAP version 1\\n {4}# Subtest: hibfuzz_model\\n( {4}# .*\\n)* {4}1\\.\\.${CLAIM_NAMES.length}\\n`,
      ),
    );
  }, 30_000);
});
