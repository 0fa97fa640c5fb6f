// Real-QEMU runs of the kjump storage targets (issue 11): a swap file on A's ext4 filesystem and a plain dm-crypt
// volume and a file on FUSE, written by the save kernel B and read back by the cold-booted restore kernel C; the bad
// inputs (a file too short for the container, a key C is not given, a wrong key). Full VM suite only
// (HIBFUZZ_VM_SUITE=full): about 8 minutes under TCG on 2 cores.
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeObservation } from '../../spec/invariants/observed.ts';
import { parseScenario, type Scenario } from '../../spec/scenario/schema.ts';
import { InfraError } from '../errors.ts';
import { type KjumpRunOptions, type KjumpRunResult, runKjumpScenario } from './run.ts';
import { cryptKey, throughCrypt } from './target.ts';

const shipped = (name: string): Scenario => {
  const r = parseScenario(JSON.parse(readFileSync(new URL(`./scenarios/${name}.json`, import.meta.url), 'utf8')));
  if (!r.ok) throw new Error(r.error);
  return r.scenario;
};

const runIn = async (s: Scenario, opts: KjumpRunOptions = {}): Promise<{ r: KjumpRunResult; dir: string }> => {
  const dir = mkdtempSync(join(tmpdir(), `hibfuzz-kjump-${s.id}-`));
  return { r: await runKjumpScenario(s, { timeoutMs: 300_000, artifactsDir: dir, ...opts }), dir };
};

const violated = (s: Scenario, r: KjumpRunResult) =>
  judgeObservation(s, r.observation).filter((j) => j.result === 'violated');

const page0 = (disk: string): Buffer => {
  const fd = openSync(disk, 'r');
  try {
    const b = Buffer.alloc(4096);
    readSync(fd, b, 0, 4096, 0);
    return b;
  } finally {
    closeSync(fd);
  }
};

describe.skipIf(process.env.HIBFUZZ_VM !== '1')('kjump storage targets (real QEMU)', () => {
  it('swap file: B writes the file on A ext4 filesystem, C reads it back, A resumes intact', {
    timeout: 900_000,
  }, async () => {
    const s = shipped('swapfile-coldresume');
    const { r, dir } = await runIn(s);
    rmSync(dir, { recursive: true, force: true });
    expect(r.boots.map((b) => [b.role, b.kind])).toEqual([
      ['a', 'pass'],
      ['c', 'pass'],
    ]);
    expect(r.observation.steps.map((o) => (o.op === 'hibernate' || o.op === 'resume' ? o.result : o.op))).toEqual([
      'poweredOff',
      'resumed',
    ]);
    expect(r.observation.steps[1]).toMatchObject({ pagesChecked: 2048, pagesCorrupt: 0 });
    expect(violated(s, r)).toEqual([]);
    expect(r.events.a?.find((e) => e.ev === 'target')).toMatchObject({ kind: 'file', pages: 74752 });
  });

  it('swap file too short for the container: one line, InfraError, no verdict', { timeout: 600_000 }, async () => {
    const s = shipped('swapfile-abort');
    const err = await runIn(s, { targetShortPages: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect(String((err as Error).message)).toMatch(
      /^kjump storage target \(run a\): \/mnt\/hibkj\.img: its extents cover 74742 of 74752 pages( \(errno \d+\))?$/,
    );
  });

  it('dm-crypt: the disk holds ciphertext, the host reads the image through its own decryption', {
    timeout: 900_000,
  }, async () => {
    const s = shipped('dmcrypt-coldresume');
    const { r, dir } = await runIn(s);
    try {
      expect(violated(s, r)).toEqual([]);
      expect(r.observation.steps[1]).toMatchObject({ op: 'resume', result: 'resumed', pagesCorrupt: 0 });
      // C cleared the header through the volume before it jumped: zeros in the clear, ciphertext on the disk
      const raw = page0(r.artifacts.disk);
      const plain = throughCrypt((p) => (p === 0 ? raw : Buffer.alloc(4096)), cryptKey(s))(0, 1);
      expect(plain.equals(Buffer.alloc(4096))).toBe(true);
      expect(raw.equals(Buffer.alloc(4096))).toBe(false);
      expect(throughCrypt(() => raw, cryptKey(s, true))(0, 1).equals(Buffer.alloc(4096))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['dmcrypt-nokey', { op: 'resume', result: 'refused', reason: 'keyUnavailable', errno: 'ENOKEY' }],
    ['dmcrypt-wrongkey', { op: 'resume', result: 'noImage' }],
  ])('%s: C does not resume, classified as the model predicts', { timeout: 900_000 }, async (name, outcome) => {
    const s = shipped(name);
    const { r, dir } = await runIn(s);
    rmSync(dir, { recursive: true, force: true });
    expect(r.boots.map((b) => [b.role, b.kind])).toEqual([
      ['a', 'pass'],
      ['c', 'pass'],
    ]);
    expect(r.observation.steps[1]).toEqual(outcome);
    expect(violated(s, r)).toEqual([]);
  });

  it('FUSE: A and B each run their own server on the backing store, C too; A resumes intact', {
    timeout: 900_000,
  }, async () => {
    const s = shipped('fuse-coldresume');
    const { r, dir } = await runIn(s);
    try {
      expect(r.boots.map((b) => [b.role, b.kind])).toEqual([
        ['a', 'pass'],
        ['c', 'pass'],
      ]);
      expect(violated(s, r)).toEqual([]);
      expect(r.observation.steps[1]).toMatchObject({
        op: 'resume',
        result: 'resumed',
        pagesChecked: 2048,
        pagesCorrupt: 0,
      });
      // parseEvents keeps the first event of a name: count the servers' lines in the console logs (run a carries A and B)
      const servers = (log: string | undefined) =>
        readFileSync(log ?? '', 'utf8')
          .split('\n')
          .filter((l) => /HIBFUZZ \{"ev":"target",.*"kind":"fuse"/.test(l)).length;
      expect(r.artifacts.consoles.map(servers)).toEqual([2, 1]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
