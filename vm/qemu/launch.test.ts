// launchQemu against a fake "QEMU" (a shell script that records its pid and sleeps): the process handling, not QEMU.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { InfraError } from '../errors.ts';
import type { QemuConfig } from './args.ts';
import { findExecutable, launchQemu } from './launch.ts';

const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-launch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fake QEMU: writes its pid next to itself, copies fd 3 when given `-incoming`, then sleeps (exec: same pid). */
function fakeQemu(name: string): string {
  const d = join(dir, name);
  const p = join(d, 'qemu');
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  writeFileSync(
    p,
    [
      '#!/bin/sh',
      'd=$(dirname "$0")',
      'case " $* " in *" -incoming "*) cat <&3 > "$d/incoming.out" ;; esac',
      'echo "console up"',
      'case " $* " in *" -chardev socket,id=agent,fd=4,"*) echo "agent up" >&4 ;; esac',
      'echo $$ > "$d/pid.tmp" && mv "$d/pid.tmp" "$d/pid"',
      'exec sleep 30',
      '',
    ].join('\n'),
  );
  chmodSync(p, 0o755);
  return p;
}
const config = (binary: string, extra: Partial<QemuConfig> = {}): QemuConfig => ({
  binary,
  accel: 'tcg',
  memMiB: 64,
  cpus: 1,
  kernel: '/k/bzImage',
  initrd: '/k/initrd',
  append: ['console=ttyS0'],
  disk: { path: '/w/disk.img' },
  ...extra,
});

async function waitFor<T>(f: () => T | undefined, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(20);
  }
}

/** Gone: no such process, or a zombie nobody reaped yet (a container's pid 1 may not reap). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const readPid = (fake: string): number | undefined => {
  const p = join(fake, '..', 'pid');
  return existsSync(p) ? Number(readFileSync(p, 'utf8')) : undefined;
};

/** A node process (tsx loader) that launches the fake QEMU and waits. */
function hibfuzzChild(fake: string): ChildProcess {
  const script = join(dir, `child-${Date.now()}.mts`);
  const launch = resolve(import.meta.dirname, 'launch.ts');
  writeFileSync(
    script,
    `import { launchQemu } from ${JSON.stringify(launch)};
const b = launchQemu(${JSON.stringify(config(fake))}, { logPath: ${JSON.stringify(join(dir, 'child.log'))}, timeoutMs: 60000 });
await b.done;
`,
  );
  return spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: resolve(import.meta.dirname, '..', '..'),
    stdio: 'ignore',
  });
}

describe.skipIf(findExecutable('setpriv') === undefined)('QEMU dies with hibfuzz', () => {
  it.each(['SIGKILL', 'SIGTERM'] as const)('%s of hibfuzz ends QEMU within 2 s', async (sig) => {
    // Arrange
    const fake = fakeQemu(`die-${sig}`);
    const child = hibfuzzChild(fake);
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, s) => r(s)));
    const pid = await waitFor(() => readPid(fake), 20_000);
    expect(alive(pid)).toBe(true);
    // Act
    child.kill(sig);
    // Assert
    expect(await exited).toBe(sig);
    const t0 = Date.now();
    await waitFor(() => (alive(pid) ? undefined : true), 2_000);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });
});

describe('launchQemu exit info', () => {
  it('says byHost when launchQemu killed QEMU, and not when someone else did', async () => {
    const fake = fakeQemu('byhost');
    const mine = launchQemu(config(fake), { logPath: join(dir, 'a.log'), timeoutMs: 60_000 });
    await waitFor(() => readPid(fake), 10_000);
    mine.kill();
    expect((await mine.done).exit).toEqual({ kind: 'signal', signal: 'SIGKILL', byHost: true });

    rmSync(join(fake, '..', 'pid'));
    const theirs = launchQemu(config(fake), { logPath: join(dir, 'b.log'), timeoutMs: 60_000 });
    const pid = await waitFor(() => readPid(fake), 10_000);
    process.kill(pid, 'SIGKILL');
    const r = await theirs.done;
    expect(r.exit).toEqual({ kind: 'signal', signal: 'SIGKILL', byHost: false });
    expect(r.log).toContain('console up');
    expect(r.args[0]).toBe(fake);
  });

  it('reports a timeout as such', async () => {
    const fake = fakeQemu('timeout');
    const r = await launchQemu(config(fake), { logPath: join(dir, 'c.log'), timeoutMs: 300 }).done;
    expect(r.exit).toEqual({ kind: 'timeout' });
  });

  it('hands the incoming state to QEMU as fd 3, whatever its path holds', async () => {
    const fake = fakeQemu('incoming');
    const stateFile = join(dir, 'a b;touch x$(touch y)>z', 'state.bin');
    mkdirSync(join(stateFile, '..'), { recursive: true });
    writeFileSync(stateFile, 'QEVM migration stream\n');
    const b = launchQemu(config(fake, { incoming: { stateFile } }), { logPath: join(dir, 'd.log'), timeoutMs: 60_000 });
    await waitFor(() => readPid(fake), 10_000);
    b.kill();
    await b.done;
    expect(readFileSync(join(fake, '..', 'incoming.out'), 'utf8')).toBe('QEVM migration stream\n');
    expect(existsSync(join(dir, 'x'))).toBe(false);
    expect(existsSync('y')).toBe(false);
  });

  it('reads the agent channel (fd 4, the guest ttyS1) as well as the console, into one log', async () => {
    const fake = fakeQemu('agent');
    const logPath = join(dir, 'agent.log');
    const b = launchQemu(config(fake), { logPath, timeoutMs: 60_000 });
    await waitFor(() => readPid(fake), 10_000);
    b.kill();
    const r = await b.done;
    expect(r.lines.map((l) => l.text)).toEqual(expect.arrayContaining(['console up', 'agent up']));
    expect(readFileSync(logPath, 'utf8')).toContain('agent up\n');
  });

  it('throws InfraError for a missing QEMU or a missing incoming state', () => {
    expect(() => launchQemu(config(join(dir, 'nope')), { logPath: join(dir, 'e.log'), timeoutMs: 1000 })).toThrow(
      InfraError,
    );
    const fake = fakeQemu('nostate');
    expect(() =>
      launchQemu(config(fake, { incoming: { stateFile: join(dir, 'missing.bin') } }), {
        logPath: join(dir, 'f.log'),
        timeoutMs: 1000,
      }),
    ).toThrow(/missing\.bin/);
  });
});
