// Issue 8, "What was measured": the kernel that runs is the kernel that is tested and predicted. A kernel rebuilt in
// place is booted, not restored from the old kernel's snapshot; a scenario the kernel cannot run as written is
// unsupported, never run on a substitute; a kernel given as a path is predicted with its own line and recorded by its
// content hash. End to end through the real CLI with a fake qemu-system-x86_64 first on PATH (fuzz/testdata/
// fake-qemu). Before b494922 / 6d12125: fast snapshots were keyed by the bzImage path, the kjump runner wrote a
// fuseFile scenario to the raw disk and "agreed", an LZ4 scenario on a 6.1 kernel wrote LZO and "agreed", a pm_test
// abort hibernated for real, and a path kernel was predicted with protocol.kernel and recorded as "bzImage".
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseScenario, type Scenario } from '../spec/index.ts';
import type { KernelIdentity } from '../vm/backend.ts';
import { openBackend } from '../vm/backends.ts';
import { type RealResult, runReal } from './real-run.ts';
import {
  type CliResult,
  DEFAULT_CONFIG,
  fakeBaseline,
  fakeBoots,
  fakeKernel,
  fakeLab,
  HAS_BUSYBOX,
  hibfuzz,
  hibfuzzLines,
  ROOT,
  removeLabs,
  SCENARIOS,
  seedBaseline,
} from './testdata/fake-qemu/harness.ts';

const CYCLE = join(SCENARIOS, 'fq-cycle.json');
const shipped = (name: string) => join(ROOT, 'vm', 'scenarios', name);
const json = (out: string): RealResult[] => JSON.parse(out) as RealResult[];

/** The JSON array of `vm run --json` once it is complete on stdout. */
const jsonDone = (out: string): boolean => {
  try {
    JSON.parse(out);
    return out.trim() !== '';
  } catch {
    return false;
  }
};

const kexecScenario = (kind: 'fuseFile' | 'swapFile' | 'dmCrypt'): Scenario => {
  const p = parseScenario({
    version: 1,
    id: `kjump-${kind}`,
    seed: 3,
    machine: { memPages: 131072, cpus: 2 },
    workload: { anon: 1024 },
    protocol: { kind: 'kexec', saveKernelPages: 20480, saveKernelNeedPages: 9216 },
    // kjump writes every storage kind now (issue 11), but always with the container at page 0 of the target
    storage: { kind, pages: 147456, offset: 8 },
    steps: [{ op: 'hibernate' }, { op: 'resume' }],
  });
  if (!p.ok) throw new Error(`kexec ${kind} scenario: ${JSON.stringify(p)}`);
  return p.scenario;
};

afterAll(removeLabs);

describe.skipIf(!HAS_BUSYBOX)('stale kernel: fast snapshots follow the kernel content', { concurrent: true }, () => {
  it('a kernel rewritten in place at the same path is booted, not restored from the old kernel snapshot', async () => {
    // Arrange: fast mode, a fresh cache; kernel A at PATH
    const lab = fakeLab({ fast: true });
    const dir = join(lab.dir, 'kernel');
    const bz = fakeKernel(dir, '6.1.0-57-amd64', { salt: 'build-A', seed: lab.cache });
    // NOTE: a run that saved a snapshot lingers ~30 s after its result (see the DEFECT below); the result is
    // complete on stdout before that, so these runs are stopped once it is printed.
    const run = (w: string): Promise<CliResult> =>
      hibfuzz(['vm', 'run', CYCLE, '--kernel', bz, '--work-dir', lab.work(w), '--quiet', '--json'], lab.env, {
        untilOutput: jsonDone,
      });
    const args = (w: string): string[] =>
      JSON.parse(readFileSync(join(lab.work(w), '1-fq-cycle', 'boot-1.args.json'), 'utf8')) as string[];
    const snapshots = () => readdirSync(join(lab.cache, 'snapshots')).sort();
    // Act 1: kernel A, cold: booted, snapshots saved
    const a = await run('a');
    const afterA = snapshots();
    // Act 2: kernel B rewritten in place at the same path (same size, other content)
    writeFileSync(bz, readFileSync(bz).toString('latin1').replace('build-A', 'build-B'), 'latin1');
    seedBaseline(lab.cache, bz, '6.1.0-57-amd64');
    const b = await run('b');
    const afterB = snapshots();
    // Act 3: kernel B again: now its own snapshot is restored (the fast path works with the fake)
    const b2 = await run('b2');
    // Assert
    for (const r of [a, b, b2]) expect(json(r.out)[0]?.status).toBe('pass');
    expect(args('a')).not.toContain('-incoming');
    expect(afterA).toHaveLength(2);
    expect(args('b')).not.toContain('-incoming');
    expect(afterB).toHaveLength(4);
    expect(afterB.filter((k) => !afterA.includes(k))).toHaveLength(2);
    expect(args('b2')).toContain('-incoming');
    expect(fakeBoots(lab).map((x) => `${x.role}:${x.incoming ?? 'booted'}`)).toEqual([
      'first:booted',
      'resume:booted',
      'first:booted',
      'resume:booted',
      'first:fd:3',
      'resume:fd:3',
    ]);
  }, 120_000);
});

describe('silent substitution: unsupported, never run on a substitute', { concurrent: true }, () => {
  it.each(['fuseFile', 'swapFile', 'dmCrypt'] as const)(
    'kjump-6.12 refuses a kexec scenario on storage %s at offset 8 with a reason and never runs it',
    async (kind) => {
      // Arrange
      const s = kexecScenario(kind);
      const backend = openBackend('kjump-6.12');
      const id: KernelIdentity = {
        spec: 'kjump-6.12',
        version: 'kjump-6.12 (not built)',
        release: '6.12.117',
        line: '6.12',
        protocol: 'kexec',
        bzImageSha256: '0'.repeat(64),
        capabilities: ['hibernation', 'kexecJump', 'lzo', 'lz4', 'pmDebug'],
        capabilitySource: 'probe',
      };
      const ran = { run: false };
      const spy: typeof backend = {
        ...backend,
        run: (...a) => {
          ran.run = true;
          return backend.run(...a);
        },
      };
      // Act
      const support = backend.supports(s, id);
      const r = await runReal(spy, id, s, { workDir: '/nonexistent' });
      // Assert
      expect(support).toEqual({ ok: false, reason: expect.stringContaining('storage.offset: ') });
      expect(r.status).toBe('unsupported');
      expect(r.reasons).toEqual([expect.stringContaining('storage.offset')]);
      expect(ran.run).toBe(false);
    },
  );

  // DEFECT (kept failing): fuzz/vm-cli.ts cmdRun reads the backend's identity before it asks supports(), and the
  // kjump backend's identity() is ensureKjumpKernel() (vm/backends.ts kjumpBackend): on a fresh cache it unpacks
  // linux-source-6.12 and builds a kernel (tens of minutes) before it says the scenario is unsupported; where the
  // source is not installed it exits 2 with "linux-source-6.12 is not installed" instead of the reason.
  it('hibfuzz vm run (kexec on fuseFile at offset 8) --kernel kjump-6.12: unsupported with a reason before any build', async () => {
    // Arrange: a fresh cache, and a PATH holding only the fake QEMU (no dpkg-query, tar or make: no build can start)
    const lab = fakeLab();
    const file = join(lab.dir, 'kjump-fuse.json');
    writeFileSync(file, JSON.stringify(kexecScenario('fuseFile')));
    const env = { ...lab.env, PATH: join(lab.dir, 'bin') };
    // Act
    const r = await hibfuzz(['vm', 'run', file, '--kernel', 'kjump-6.12', '--work-dir', lab.work('w')], env);
    // Assert
    expect(r.code).toBe(2);
    expect(r.out).toContain('UNSUPPORTED');
    expect(r.out).toMatch(/unsupported: storage\.offset: /);
    expect(r.out).not.toMatch(/agree|PASS/);
  }, 90_000);

  it('LZ4 on a kernel whose release is 6.1, a pm_test abort on a .config without PM_DEBUG: unsupported, exit 2, never booted', async () => {
    // Arrange: a 6.1 kernel built with CONFIG_CRYPTO_LZ4=y (6.1 has no hibernate.compressor) and without PM_DEBUG
    const lab = fakeLab();
    const config = DEFAULT_CONFIG.filter((l) => !l.startsWith('CONFIG_PM_DEBUG='));
    const bz = fakeKernel(join(lab.dir, 'kernel'), '6.1.0-57-amd64', {
      config: [...config, '# CONFIG_PM_DEBUG is not set'],
      seed: lab.cache,
    });
    const files = [shipped('clean-cycle-lz4.json'), shipped('abort-freezer.json')];
    // Act
    const [text, js] = await Promise.all([
      hibfuzz(['vm', 'run', ...files, '--kernel', bz, '--work-dir', lab.work('w')], lab.env),
      hibfuzz(['vm', 'run', ...files, '--kernel', bz, '--work-dir', lab.work('j'), '--json'], lab.env),
    ]);
    // Assert
    expect(text.code).toBe(2);
    expect(text.out).toContain('vm-clean-cycle-lz4 on');
    expect(text.out).toMatch(/unsupported: protocol\.compression lz4: 6\.1\.0-57-amd64 has no hibernate\.compressor/);
    expect(text.out).toMatch(/unsupported: steps\[0\]\.abortAt freezer .*needs pmDebug/);
    expect(text.out).not.toMatch(/agree|PASS|FINDING/);
    expect(hibfuzzLines(text.err)).toEqual([]);
    expect(js.code).toBe(2);
    expect(json(js.out).map((r) => `${r.scenario}:${r.status}`)).toEqual([
      'vm-clean-cycle-lz4:unsupported',
      'vm-abort-freezer:unsupported',
    ]);
    expect(fakeBoots(lab)).toEqual([]);
  }, 90_000);
});

describe.skipIf(!HAS_BUSYBOX)('a kernel given as a path is predicted with its own line', { concurrent: true }, () => {
  it('a 6.12 bzImage running clean-cycle.json (protocol.kernel 6.1): kernel.line 6.12, the 6.12 profile, its sha256', async () => {
    // Arrange: the first boot panics before init, so the run is short; the prediction is made all the same
    const lab = fakeLab({ env: { FAKE_QEMU_MODE: 'no-init' } });
    const bz = fakeKernel(join(lab.dir, 'kernel'), '6.12.117+deb12-amd64', { seed: lab.cache });
    const file = shipped('clean-cycle.json');
    expect((JSON.parse(readFileSync(file, 'utf8')) as Scenario).protocol).toMatchObject({ kernel: '6.1' });
    // Act
    const r = await hibfuzz(
      ['vm', 'run', file, '--kernel', bz, '--work-dir', lab.work('w'), '--quiet', '--json'],
      lab.env,
    );
    // Assert
    expect(r.code).toBe(1);
    const [x] = json(r.out);
    expect(x?.kernel).toMatchObject({
      spec: bz,
      release: '6.12.117+deb12-amd64',
      line: '6.12',
      bzImageSha256: createHash('sha256').update(readFileSync(bz)).digest('hex'),
    });
    expect(x?.kernel.configSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(x?.model?.observation.kernel).toBe('swsusp-6.12');
    // the guest's own memory of this kernel (6.12 line) is in the prediction, and the image counts are compared
    const own = fakeBaseline('6.12.117+deb12-amd64');
    const img = x?.model?.observation.steps.find((s) => s.op === 'hibernate');
    expect(img?.op === 'hibernate' && img.result === 'poweredOff' && img.image.dataPages).toBeGreaterThanOrEqual(
      16384 + own.slab + own.zero,
    );
    expect(x?.imageCounts).toMatch(/^compared within/);
    expect(x?.reasons).toContain(
      'boot 1: kernelPanic: Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)',
    );
    expect(existsSync(join(lab.work('w'), '1-vm-clean-cycle', 'boot-1-first.log'))).toBe(true);
  }, 90_000);
});
