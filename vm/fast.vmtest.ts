// Fast-mode transports on real QEMU (HIBFUZZ_VM=1; ~15 s under TCG): boot debian-6.1 to init's wait point, save the
// guest through the unix-socket sink into a cache path no shell could take literally, restore it through fd 3 and
// see the agent start at once. Nothing in the path may be executed.
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseScenario, type Scenario } from '../spec/scenario/schema.ts';
import { copySparse, saveSnapshot, snapshotKey, snapshotPaths, waitRunning } from './fast.ts';
import { buildInitramfs } from './initramfs.ts';
import { resolveKernel } from './kernels.ts';
import { agentWords, kernelCmdline, memMiB } from './plan.ts';
import { launchQemu, qemuVersionLine } from './qemu/launch.ts';
import { Qmp } from './qemu/qmp.ts';

const base = mkdtempSync(join(tmpdir(), 'hibfuzz-fastvm-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const cache = join(base, 'cache;touch PWNED-a $(touch PWNED-b)>PWNED-c `touch PWNED-d`');
const work = join(base, 'work');

function scenario(): Scenario {
  const r = parseScenario(JSON.parse(readFileSync(new URL('./scenarios/clean-cycle.json', import.meta.url), 'utf8')));
  if (!r.ok) throw new Error(r.error);
  return r.scenario;
}

describe('fast mode on real QEMU', () => {
  it('saves at the wait point and restores to a running guest, shell-free', { timeout: 300_000 }, async () => {
    // Arrange
    const s = scenario();
    const kernel = await resolveKernel('debian-6.1');
    const initrd = await buildInitramfs(kernel);
    const append = kernelCmdline(s, 'first', { wait: true });
    const mem = memMiB(s.machine.memPages);
    const key = snapshotKey({
      role: 'first',
      bzImage: kernel.bzImage,
      initrd,
      memMiB: mem,
      cpus: s.machine.cpus,
      diskPages: s.storage.pages,
      append,
      qemuVersion: await qemuVersionLine(),
      accel: 'tcg',
    });
    const paths = snapshotPaths(cache, key);
    mkdirSync(work, { recursive: true });
    const boot = async (n: number, restore: boolean) => {
      const disk = join(work, `disk-${n}.img`);
      if (restore) await copySparse(paths.disk, disk);
      else {
        const fd = openSync(disk, 'w');
        ftruncateSync(fd, s.storage.pages * 4096);
        closeSync(fd);
      }
      let waiting = () => {};
      const atWait = new Promise<void>((r) => {
        waiting = r;
      });
      let started = () => {};
      const agent = new Promise<void>((r) => {
        started = r;
      });
      const t0 = Date.now();
      const b = launchQemu(
        {
          accel: 'tcg',
          memMiB: mem,
          cpus: s.machine.cpus,
          kernel: kernel.bzImage,
          initrd,
          append,
          disk: { path: disk },
          qmpSocket: join(work, `q${n}.sock`),
          ...(restore ? { incoming: { stateFile: paths.state } } : {}),
        },
        {
          logPath: join(work, `boot-${n}.log`),
          timeoutMs: 240_000,
          onLine: (l) => {
            if (l.text.includes('"ev":"waiting"')) waiting();
            if (l.text.includes('"ev":"agentStart"')) started();
          },
        },
      );
      const qmp = await Qmp.connect(join(work, `q${n}.sock`));
      if (restore) await waitRunning(qmp);
      else {
        await atWait;
        await saveSnapshot(qmp, paths, () => copySparse(disk, paths.disk));
      }
      b.send(`${agentWords(s).join(' ')}\n`);
      await Promise.race([agent, b.done]);
      const seconds = (Date.now() - t0) / 1000;
      b.kill();
      const r = await b.done;
      qmp.close();
      return { seconds, exit: r.exit };
    };
    // Act
    const first = await boot(1, false);
    const restored = await boot(2, true);
    // Assert
    expect(readdirSync(paths.dir).sort()).toEqual(['disk.img', 'state.bin']);
    expect(first.exit).toEqual({ kind: 'signal', signal: 'SIGKILL', byHost: true });
    expect(restored.exit).toEqual({ kind: 'signal', signal: 'SIGKILL', byHost: true });
    expect(restored.seconds).toBeLessThan(first.seconds / 2);
    const pwned = [base, cache, work, process.cwd()]
      .flatMap((d) => (existsSync(d) ? readdirSync(d) : []))
      .filter((f) => f.startsWith('PWNED'));
    expect(pwned).toEqual([]);
  });
});
