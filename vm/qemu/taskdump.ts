// A hang ends with the guest's task dump: sysrq-t through QMP's send-key (every task's state and call trace, the
// kernel's show_state()), then the console gets SYSRQ_GRACE_MS to print it before QEMU is stopped. One mechanism for
// the swsusp runner (vm/boot.ts) and the kexec-jump runner (vm/kjump/run.ts); console/tasks.ts reads the dump.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Qmp } from './qmp.ts';

/** Time the console gets for the task dump before QEMU is stopped. */
export const SYSRQ_GRACE_MS = 20_000;
/** launchQemu's own timeout past the runner's (which asks for the dump first): only for a guest that ignores the kill. */
export const BACKSTOP_MS = SYSRQ_GRACE_MS + 10_000;
/** The line hibfuzz adds to a boot that reached its timeout: every hang gets a task dump. */
export const TIMEOUT_LINE = 'hibfuzz: the boot reached its timeout: sysrq-t sent, QEMU stopped';

let socketDir: string | undefined;
let socketSeq = 0;
/**
 * A UNIX socket path must fit sun_path (108 bytes), which a work dir under the cache need not: the QMP and NBD
 * sockets live in one short private directory per process (removed at exit), never in the work dir.
 */
export function socketPath(kind: 'nbd' | 'qmp'): string {
  if (socketDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    socketDir = dir;
  }
  return join(socketDir, `${++socketSeq}.${kind}`);
}

/**
 * Ask for the task dump through `qmp` (connected on first use by the caller's promise), then `kill` QEMU after the
 * grace. A failed send is logged, never thrown: the boot still ends, as a hang without a dump.
 */
export async function dumpTasksThenKill(qmp: Promise<Qmp>, kill: () => void, log: (line: string) => void) {
  try {
    await (await qmp).execute('send-key', { keys: ['alt', 'sysrq', 't'].map((k) => ({ type: 'qcode', data: k })) });
  } catch (e) {
    log(`sysrq-t not sent: ${e instanceof Error ? e.message : String(e)}`);
  }
  setTimeout(kill, SYSRQ_GRACE_MS).unref();
}
