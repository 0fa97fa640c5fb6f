// Issue 8, "What was measured": host faults are never kernel findings, QEMU never outlives hibfuzz, and nothing hangs;
// end to end through the real CLI with a fake qemu-system-x86_64 first on PATH (fuzz/testdata/fake-qemu). Before
// b494922: a QEMU killed from outside read `unexpectedReboot` / `bootFailed`, exit 1, and `fuzz --target vm` saved it
// as KernelBootsAndRuns; ENOSPC and a ',' in the work dir printed "kernel failure (finding)", exit 1, and with an NBD
// fault scenario the process never exited; a SIGKILLed hibfuzz left QEMU running (review D4, D8; probes 4.2-4.15).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  fakeBoots,
  fakeKernel,
  fakeLab,
  HAS_BUSYBOX,
  hibfuzz,
  hibfuzzLines,
  ROOT,
  removeLabs,
  SCENARIOS,
} from './testdata/fake-qemu/harness.ts';

const CYCLE = join(SCENARIOS, 'fq-cycle.json');
const IO_ERROR = join(ROOT, 'vm', 'scenarios', 'io-error-at-write.json');
const RELEASE_61 = '6.1.0-57-amd64';

function setup(mode = 'normal', fast = false) {
  const lab = fakeLab({ fast, env: { FAKE_QEMU_MODE: mode, FAKE_QEMU_PIDFILE: '' } });
  const pidFile = join(lab.dir, 'qemu.pid');
  lab.env.FAKE_QEMU_PIDFILE = pidFile;
  return { lab, pidFile, kernel: fakeKernel(join(lab.dir, 'kernel'), RELEASE_61, { seed: lab.cache }) };
}

/** A process is gone when it no longer exists or is a zombie (dead, waiting for its reaper). */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return / Z /.test(stat.slice(stat.lastIndexOf(')')));
  } catch {
    return true;
  }
}

/** Mount a 64 KiB tmpfs at `dir` and fill it; false when this host will not let us (not root, no mount). */
function fullTmpfs(dir: string): boolean {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return false;
  }
  try {
    writeFileSync(join(dir, 'fill'), Buffer.alloc(64 * 1024));
  } catch {
    // full now: what we wanted
  }
  return true;
}

/** Whether a tmpfs can be mounted here (tried once, on a scratch directory). */
const canMount = (() => {
  if (process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(join(tmpdir(), 'hibfuzz-mount-'));
  if (!fullTmpfs(probe)) return false;
  execFileSync('umount', [probe]);
  return true;
})();

afterAll(removeLabs);

describe.skipIf(!HAS_BUSYBOX)('host faults, end to end with a fake QEMU', { concurrent: true }, () => {
  it.each(['kill-mid-hibernation', 'kill-mid-resume'])(
    'QEMU killed by a signal hibfuzz did not send (%s): exit 2, one hibfuzz: line, no FINDING',
    async (mode) => {
      // Arrange
      const { lab, kernel } = setup(mode);
      // Act
      const r = await hibfuzz(
        ['vm', 'run', CYCLE, '--kernel', kernel, '--work-dir', lab.work('w'), '--quiet'],
        lab.env,
      );
      // Assert
      expect(r.code).toBe(2);
      expect(hibfuzzLines(r.err)).toEqual([expect.stringMatching(/QEMU was killed from outside \(SIGKILL/)]);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.out).not.toMatch(/FINDING|PASS|unexpectedReboot|bootFailed/);
      expect(fakeBoots(lab).map((b) => b.role)).toEqual(
        mode === 'kill-mid-hibernation' ? ['first'] : ['first', 'resume'],
      );
    },
    90_000,
  );

  it('fuzz --target vm with QEMU killed from outside: exit 2, an infra: line per run, nothing saved to the corpus', async () => {
    // Arrange: every boot of every generated scenario is killed (mid-hibernation, mid-resume, in a noresume boot)
    const { lab, kernel } = setup('kill-mid-hibernation,kill-mid-resume,kill-noresume');
    const corpus = lab.work('corpus');
    // Act
    const r = await hibfuzz(
      ['fuzz', '--target', 'vm', '--kernel', kernel, '--runs', '2', '--jobs', '1', '--seed', '7', '--corpus', corpus],
      lab.env,
      { timeoutMs: 100_000 },
    );
    // Assert
    expect(r.code).toBe(2);
    expect(r.err.split('\n').filter((l) => /^infra: .*killed from outside/.test(l))).toHaveLength(2);
    expect(r.out).not.toMatch(/^NEW /m);
    expect(r.out).toContain('no findings');
    expect(existsSync(corpus) ? readdirSync(corpus) : []).toEqual([]);
    expect(fakeBoots(lab).length).toBeGreaterThanOrEqual(2);
  }, 120_000);

  // DEFECT (kept failing): vm/qemu/launch.ts creates the console log with createWriteStream(opts.logPath) and never
  // listens for its 'error' event. With the work dir full, the first console line QEMU prints fails with ENOSPC, the
  // unhandled 'error' kills hibfuzz with a stack trace and exit 1 ("violation found"); --json prints nothing.
  (canMount ? it : it.skip)(
    'ENOSPC: the work dir on a full 64 KiB tmpfs is an infrastructure error (exit 2, one line, --json still JSON)',
    async () => {
      // Arrange
      const { lab, kernel } = setup();
      const mnt = lab.work('full');
      expect(fullTmpfs(mnt)).toBe(true);
      try {
        // Act
        const r = await hibfuzz(
          ['vm', 'run', CYCLE, '--kernel', kernel, '--work-dir', join(mnt, 'w'), '--quiet', '--json'],
          lab.env,
        );
        // Assert
        expect(r.code).toBe(2);
        expect(hibfuzzLines(r.err)).toEqual([expect.stringContaining('ENOSPC')]);
        expect(JSON.parse(r.out)).toEqual([]);
      } finally {
        execFileSync('umount', [mnt]);
      }
    },
    90_000,
  );

  it('the disk image cannot be written (disk.img is /dev/full): exit 2, one line, no verdict', async () => {
    // Arrange
    const { lab, kernel } = setup();
    const work = lab.work('w');
    mkdirSync(join(work, '1-fq-cycle'), { recursive: true });
    symlinkSync('/dev/full', join(work, '1-fq-cycle', 'disk.img'));
    // Act
    const r = await hibfuzz(['vm', 'run', CYCLE, '--kernel', kernel, '--work-dir', work, '--quiet'], lab.env);
    // Assert
    expect(r.code).toBe(2);
    expect(hibfuzzLines(r.err)).toHaveLength(1);
    expect(r.out).not.toMatch(/FINDING|PASS/);
    expect(fakeBoots(lab)).toEqual([]);
  }, 90_000);

  it.each([
    ['a clean cycle', CYCLE],
    ['an NBD fault scenario', IO_ERROR],
  ])(
    "a ',' in --work-dir with %s: exit 2 within seconds, the process ends, --json prints []",
    async (_what, file) => {
      // Arrange
      const { lab, kernel } = setup();
      // Act
      const r = await hibfuzz(
        ['vm', 'run', file, '--kernel', kernel, '--work-dir', lab.work('a,b'), '--json'],
        lab.env,
        {
          timeoutMs: 20_000,
        },
      );
      // Assert
      expect(r.signal).toBeNull();
      expect(r.code).toBe(2);
      expect(r.ms).toBeLessThan(20_000);
      expect(hibfuzzLines(r.err)).toEqual([expect.stringContaining("cannot contain ','")]);
      expect(JSON.parse(r.out)).toEqual([]);
    },
    30_000,
  );

  it.each([
    ['plain', false],
    ['fast', true],
  ])(
    'SIGKILL of hibfuzz while QEMU runs (%s mode): QEMU is gone within 2 s',
    async (_what, fast) => {
      // Arrange: the fake boots to init and then sleeps until it is killed
      const { lab, kernel, pidFile } = setup('hang', fast);
      let kill: () => void = () => {};
      // Act
      const run = hibfuzz(['vm', 'run', CYCLE, '--kernel', kernel, '--work-dir', lab.work('w'), '--quiet'], lab.env, {
        onSpawn: (c) => {
          kill = () => c.kill('SIGKILL');
        },
      });
      const t0 = Date.now();
      while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '') {
        if (Date.now() - t0 > 60_000) throw new Error('the fake QEMU never started');
        await sleep(50);
      }
      const pid = Number(readFileSync(pidFile, 'utf8'));
      await sleep(300);
      expect(gone(pid)).toBe(false);
      kill();
      const r = await run;
      const killedAt = Date.now();
      while (!gone(pid) && Date.now() - killedAt < 2000) await sleep(20);
      // Assert
      expect(r.signal).toBe('SIGKILL');
      const alive = !gone(pid);
      if (alive) process.kill(pid, 'SIGKILL'); // ours: never leave it behind
      expect(alive).toBe(false);
    },
    90_000,
  );

  // DEFECT (kept failing): vm/fast.ts saveSnapshot races the migration stream against sleep(30_000) and never
  // cancels that timer, so a run that saved a snapshot keeps the process alive ~30 s after its result: every cold
  // fast-mode `vm run`, and every `fuzz --target vm` run in fast mode that saves one.
  it('a fast-mode run that saves a snapshot exits within 5 s of printing its result', async () => {
    // Arrange
    const { lab, kernel } = setup('normal', true);
    let printedAt = 0;
    let stop: () => void = () => {};
    // Act: stopped 5 s after the result is on stdout, if it has not exited by then
    const r = await hibfuzz(['vm', 'run', CYCLE, '--kernel', kernel, '--work-dir', lab.work('w'), '--quiet'], lab.env, {
      onSpawn: (c) => {
        stop = () => c.kill('SIGKILL');
      },
      untilOutput: (out) => {
        if (printedAt === 0 && out.includes('artifacts: ')) {
          printedAt = Date.now();
          setTimeout(stop, 5_000).unref();
        }
        return false;
      },
    });
    // Assert
    expect(r.out).toContain(': PASS');
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
  }, 90_000);
});
