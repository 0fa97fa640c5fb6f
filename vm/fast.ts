// Fast cycles: reuse a booted guest through a QEMU migration file instead of booting the kernel every time.
//
// A snapshot is taken where init waits for one console line (init.sh `hibfuzz.wait=1`): for the first boot after
// mkswap/swapon, before the agent starts; for the resume boot before it writes /sys/power/resume. Restoring it
// (`-incoming exec:cat <state>`) and typing the line continues from there. The VM state depends only on what the
// guest saw before the wait, which the key covers: kernel, initramfs, memory, CPUs, disk size, kernel parameters.
// The first-boot snapshot also keeps the disk as it was (the swap header mkswap wrote); the resume boot has read
// nothing of the swap area (swsusp reads it with bios after the wait), so it runs on the scenario's own disk.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InfraError } from './errors.ts';
import type { Qmp } from './qemu/qmp.ts';

export interface SnapshotKeyParts {
  readonly role: 'first' | 'resume';
  readonly bzImage: string;
  readonly initrd: string;
  readonly memMiB: number;
  readonly cpus: number;
  readonly diskPages: number;
  /** kernel command line of the boot (hibfuzz.wait=1 included) */
  readonly append: readonly string[];
  readonly qemuVersion: string;
}

/** Content key of a snapshot (the initrd and bzImage paths already carry content hashes / package versions). */
export function snapshotKey(p: SnapshotKeyParts): string {
  const h = createHash('sha256');
  h.update(JSON.stringify([p.role, p.bzImage, p.initrd, p.memMiB, p.cpus, p.diskPages, p.append, p.qemuVersion]));
  return `${p.role}-${h.digest('hex').slice(0, 16)}`;
}

export interface SnapshotPaths {
  readonly dir: string;
  readonly state: string;
  /** first-boot snapshots: the disk at snapshot time */
  readonly disk: string;
}

export function snapshotPaths(cacheDir: string, key: string): SnapshotPaths {
  const dir = join(cacheDir, 'snapshots', key);
  return { dir, state: join(dir, 'state.bin'), disk: join(dir, 'disk.img') };
}

export const snapshotExists = (p: SnapshotPaths): boolean => existsSync(p.state);

/** Poll QMP until the migration finished or failed. */
async function waitMigration(qmp: Qmp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = (await qmp.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
    if (r.status === 'completed') return;
    if (r.status === 'failed' || r.status === 'cancelled') {
      throw new InfraError(`migration to file ${r.status}: ${r['error-desc'] ?? ''}`);
    }
    if (Date.now() > deadline) throw new InfraError('migration to file timed out');
    await sleep(10);
  }
}

/**
 * Save the (waiting) guest to `paths.state`: stop, migrate to a file, then hand control back with `cont`.
 * `copyDisk` runs while the guest is stopped (first-boot snapshots keep the disk as the guest left it).
 */
export async function saveSnapshot(qmp: Qmp, paths: SnapshotPaths, copyDisk?: () => Promise<void>): Promise<void> {
  mkdirSync(paths.dir, { recursive: true });
  const tmp = `${paths.state}.tmp-${process.pid}`;
  if (/[\s'"]/.test(tmp)) throw new InfraError(`snapshot path ${tmp} must not contain spaces or quotes`);
  await qmp.execute('stop');
  await qmp.execute('migrate', { uri: `exec:cat > ${tmp}` });
  await waitMigration(qmp, 60_000);
  await copyDisk?.();
  renameSync(tmp, paths.state);
  await qmp.execute('cont');
}

/**
 * Wait until a VM started with -incoming has loaded its state, then run it: the state was saved stopped, so the
 * destination ends the migration paused and needs `cont`.
 */
export async function waitRunning(qmp: Qmp, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = (await qmp.execute('query-status')) as { status?: string };
    if (r.status === 'running') return;
    if (r.status === 'paused' || r.status === 'postmigrate') await qmp.execute('cont');
    else if (r.status !== 'inmigrate') throw new InfraError(`restored VM is ${r.status ?? '?'}`);
    if (Date.now() > deadline) throw new InfraError(`restored VM did not start (status ${r.status ?? '?'})`);
    await sleep(2);
  }
}

/** Copy keeping holes (a mostly empty swap disk stays small): `cp --sparse=always`. */
export async function copySparse(from: string, to: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile('cp', ['--sparse=always', from, to], (err) =>
      err ? reject(new InfraError(`cp ${from}: ${err.message}`)) : resolve(),
    );
  });
}

export function dropSnapshot(paths: SnapshotPaths): void {
  rmSync(paths.dir, { recursive: true, force: true });
}
