// Fast cycles: reuse a booted guest through a saved QEMU migration stream instead of booting the kernel every time.
//
// A snapshot is taken where init waits for one console line (init.sh `hibfuzz.wait=1`): for the first boot after
// mkswap/swapon, before the agent starts; for the resume boot before it writes /sys/power/resume. Restoring it and
// typing the line continues from there. The VM state depends only on what the guest saw before the wait, which the key
// covers: the contents of the kernel and the initramfs, QEMU's version and accelerator, memory, CPUs, disk size,
// kernel parameters. The first-boot snapshot also keeps the disk as it was (the swap header mkswap wrote); the resume
// boot has read nothing of the swap area (swsusp reads it with bios after the wait), so it runs on its own disk.
//
// No shell anywhere (QEMU 7.2 has no `file:` migration): saving, QEMU migrates to a `unix:` socket this process
// listens on (in a private directory under the system temp dir) and the stream is written to `state.bin.tmp-<pid>`,
// renamed to `state.bin` once QEMU reports the migration completed and the stream ended. Restoring, launchQemu opens
// state.bin and hands it to QEMU as a file descriptor (`QemuConfig.incoming: { stateFile }`, `-incoming fd:3`). The
// cache path never reaches a command line, so `;`, `$(...)`, `>` or spaces in HIBFUZZ_CACHE are only characters.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { InfraError } from './errors.ts';
import { fileSha256 } from './identity.ts';
import type { Accel } from './qemu/args.ts';
import type { Qmp } from './qemu/qmp.ts';

export interface SnapshotKeyParts {
  readonly role: 'first' | 'resume';
  /** hashed by content (a kernel rebuilt in place at the same path gets another key) */
  readonly bzImage: string;
  /** hashed by content */
  readonly initrd: string;
  readonly memMiB: number;
  readonly cpus: number;
  readonly diskPages: number;
  /** kernel command line of the boot (hibfuzz.wait=1 included) */
  readonly append: readonly string[];
  /** first line of `qemu-system-x86_64 --version` (launch.ts qemuVersionLine), with the accelerator unless `accel` */
  readonly qemuVersion: string;
  readonly accel?: Accel;
}

/**
 * Bump when the key's recipe or the machine's device set changes (a migration stream restores only into the same
 * devices): old snapshots are then never restored. 3: the agent channel, a second serial port (qemu/args.ts).
 */
const KEY_RECIPE = 3;

const contentHash = (what: string, path: string): string => {
  try {
    return fileSha256(path);
  } catch (e) {
    throw new InfraError(`snapshot key: cannot read ${what} ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
};

/**
 * Content key of a snapshot: sha256 of the bzImage and initramfs contents (memoised per file identity, vm/identity.ts
 * fileSha256), QEMU's version line and accelerator, memory, CPUs, disk size, kernel parameters. InfraError when a
 * file cannot be read.
 */
export function snapshotKey(p: SnapshotKeyParts): string {
  const h = createHash('sha256');
  h.update(
    JSON.stringify([
      KEY_RECIPE,
      p.role,
      contentHash('bzImage', p.bzImage),
      contentHash('initramfs', p.initrd),
      p.memMiB,
      p.cpus,
      p.diskPages,
      p.append,
      p.qemuVersion,
      p.accel ?? null,
    ]),
  );
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
      throw new InfraError(`migration to the snapshot file ${r.status}: ${r['error-desc'] ?? ''}`);
    }
    if (Date.now() > deadline) throw new InfraError('migration to the snapshot file timed out');
    await sleep(10);
  }
}

/** sun_path holds 108 bytes with the NUL; QEMU's `unix:` URI takes the rest of the string as the path. */
const MAX_SOCKET_PATH = 107;

/** A one-shot unix socket that writes the one connection's byte stream (QEMU's outgoing migration) into a file. */
export interface MigrationSink {
  /** the URI for QMP `migrate` */
  readonly uri: string;
  /** settles when the stream ended and the file is flushed: the number of bytes written */
  readonly done: Promise<number>;
  /** stop listening, drop a connection still open, close the file, remove the socket (idempotent) */
  close(): Promise<void>;
}

/** Listen for one migration stream into `file` (created or truncated now). InfraError when it cannot listen. */
export async function listenMigrationSink(file: string): Promise<MigrationSink> {
  const sockDir = mkdtempSync(join(tmpdir(), 'hibfuzz-mig-'));
  const socketPath = join(sockDir, 'migrate.sock');
  if (socketPath.length > MAX_SOCKET_PATH || socketPath.includes(',')) {
    rmSync(sockDir, { recursive: true, force: true });
    throw new InfraError(`migration socket ${socketPath}: too long or holds ',' (set TMPDIR)`);
  }
  const out = createWriteStream(file, { flush: true });
  let conn: Socket | undefined;
  let onConn: (s: Socket) => void = () => {};
  const connected = new Promise<Socket>((resolve) => {
    onConn = resolve;
  });
  const server = createServer((sock) => {
    if (conn !== undefined) {
      sock.destroy(); // one stream only
      return;
    }
    conn = sock;
    server.close();
    onConn(sock);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new InfraError(`migration socket ${socketPath}: ${e.message}`)));
    server.listen(socketPath, () => resolve());
  }).catch((e: unknown) => {
    out.destroy();
    rmSync(sockDir, { recursive: true, force: true });
    throw e;
  });
  const done = connected.then(async (sock) => {
    await pipeline(sock, out);
    return sock.bytesRead;
  });
  done.catch(() => {}); // observed by saveSnapshot; never an unhandled rejection
  return {
    uri: `unix:${socketPath}`,
    done,
    close: async () => {
      server.close();
      conn?.destroy();
      if (!out.closed) {
        const closed = new Promise<void>((resolve) => out.once('close', () => resolve())); // an error on the way is no news
        out.on('error', () => {});
        out.destroy();
        await closed;
      }
      rmSync(sockDir, { recursive: true, force: true });
    },
  };
}

/**
 * Save the (waiting) guest to `paths.state`: stop, migrate into a unix socket this process writes to a temp file,
 * then hand control back with `cont`. `copyDisk` runs while the guest is stopped (first-boot snapshots keep the disk
 * as the guest left it). The state file appears (atomic rename) only when the whole stream was written.
 */
export async function saveSnapshot(qmp: Qmp, paths: SnapshotPaths, copyDisk?: () => Promise<void>): Promise<void> {
  mkdirSync(paths.dir, { recursive: true });
  const tmp = `${paths.state}.tmp-${process.pid}`;
  const sink = await listenMigrationSink(tmp);
  try {
    await qmp.execute('stop');
    await qmp.execute('migrate', { uri: sink.uri });
    await waitMigration(qmp, 60_000);
    // the timer is cancelled once the stream ended: a pending one would keep the process alive 30 s
    const late = new AbortController();
    const timeout = sleep(30_000, undefined, { signal: late.signal }).then(() => {
      throw new InfraError('migration stream did not end after QEMU completed it');
    });
    timeout.catch(() => {}); // the race reports the timeout; an abort after the stream ended is no error
    const bytes = await Promise.race([sink.done, timeout]).finally(() => late.abort());
    if (bytes === 0) throw new InfraError('migration stream was empty');
    await copyDisk?.();
    renameSync(tmp, paths.state);
  } catch (e) {
    await sink.close();
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    await sink.close();
  }
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
