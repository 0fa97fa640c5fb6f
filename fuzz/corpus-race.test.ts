// Why this test? Issue 12 item 1: two hibfuzz processes on one corpus. A campaign starting must not delete a live
// campaign's half-written temp file (that writer's rename failed, it died with exit 1 and its finding was lost), and
// two campaigns finding the same bugs must both complete with their hit counts added (it was last writer wins).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { corpusProblems, recordedHits, reportedSaved } from './corpus-check.ts';

const ROOT = join(import.meta.dirname ?? '.', '..');

interface Proc {
  readonly pid: number;
  readonly done: Promise<{ code: number | null; out: string }>;
  readonly started: Promise<void>;
}

/** A real `hibfuzz` process; `started` resolves on its first stdout line. */
function hibfuzz(args: readonly string[]): Proc {
  const child = spawn(process.execPath, ['bin/hibfuzz.mjs', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let onStart = () => {};
  const started = new Promise<void>((r) => {
    onStart = r;
  });
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    onStart();
  });
  child.stderr.resume();
  const done = new Promise<{ code: number | null; out: string }>((resolve) =>
    child.on('exit', (code) => {
      onStart();
      resolve({ code, out });
    }),
  );
  return { pid: child.pid ?? -1, done, started };
}

const hitsOf = (out: string) => Number(/(\d+) hit\(s\) in this campaign/.exec(out)?.[1] ?? 0);

describe('two campaigns on one corpus', () => {
  it('a starting campaign sweeps the temp files of dead writers only, never a live campaign’s', async () => {
    // Arrange: a live campaign A, a temp file named after A's pid (as its atomicWrite names them), one of a dead pid
    const corpus = join(mkdtempSync(join(tmpdir(), 'hibfuzz-race-')), 'corpus');
    const a = hibfuzz(['fuzz', '--budget', '20s', '--corpus', corpus, '--seed', '5']);
    await a.started;
    const dead = hibfuzz(['plants']);
    await dead.done;
    const live = `.SwapSlotsFreedOnError-addc5b98.json.${a.pid}.0.tmp`;
    const stale = `.SwapSlotsFreedOnError-addc5b98.json.${dead.pid}.0.tmp`;
    writeFileSync(join(corpus, live), '{"half');
    writeFileSync(join(corpus, stale), '{"half');
    // Act: campaign B starts on the same corpus
    const b = await hibfuzz(['fuzz', '--runs', '1', '--no-replay', '--corpus', corpus]).done;
    process.kill(a.pid, 'SIGINT');
    await a.done;
    // Assert
    expect(b.code).toBe(0);
    const left = readdirSync(corpus);
    expect(left).toContain(live);
    expect(left).not.toContain(stale);
  }, 60_000);

  it('both complete, every reported finding is saved whole, and the hit counts add up', async () => {
    // Arrange
    const corpus = join(mkdtempSync(join(tmpdir(), 'hibfuzz-race-')), 'corpus');
    const args = (seed: string) => [
      'fuzz',
      '--plant',
      'leak-slots-on-error',
      '--budget',
      '6s',
      '--no-replay',
      '--corpus',
      corpus,
      '--seed',
      seed,
    ];
    // Act
    const [a, b] = await Promise.all([hibfuzz(args('22')).done, hibfuzz(args('23')).done]);
    // Assert
    expect([a.code, b.code]).toEqual([1, 1]);
    expect(corpusProblems(corpus, [...reportedSaved(a.out), ...reportedSaved(b.out)])).toEqual([]);
    expect(hitsOf(a.out)).toBeGreaterThan(0);
    expect(hitsOf(b.out)).toBeGreaterThan(0);
    expect(recordedHits(corpus)).toBe(hitsOf(a.out) + hitsOf(b.out));
  }, 60_000);
});
