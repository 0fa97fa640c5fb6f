// One writer at a time in a corpus: campaigns (and merge) sharing a corpus directory take `.corpus.lock` around
// every save and count update, so a finding's three files always come from one writer and hit counts add up.
// The lock file holds `PID TOKEN`; a lock whose process is dead (SIGKILL mid-save), or that is older than
// STALE_MS, is taken over by renaming it away first (two takers cannot both remove it). Also: whether a process
// is alive, for sweeping the temp files of dead writers only.
import { closeSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { tempName } from './fsx.ts';

export const LOCK_FILE = '.corpus.lock' as const;
/** A lock held this long is stale whatever its pid says (a save takes milliseconds; a reused pid must not block). */
export const STALE_MS = 30_000;
/** Waiting longer than this for a live holder is an error. */
export const WAIT_MS = 120_000;

/** True when a process with this pid exists (EPERM: it exists and is someone else's). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(sleepCell, 0, 0, ms);

const readText = (p: string): string | undefined => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

/** Remove the lock at `lock` if its holder is gone; true when the caller should try to take it again. */
function reapStale(lock: string): boolean {
  const text = readText(lock);
  if (text === undefined) return true; // released meanwhile
  let age: number;
  try {
    age = Date.now() - statSync(lock).mtimeMs;
  } catch {
    return true;
  }
  const pid = Number(text.split(' ')[0]);
  // an empty lock: its writer died between create and write (or is writing it right now)
  const stale = text === '' ? age > 1000 : !isAlive(pid) || age > STALE_MS;
  if (!stale) return false;
  const aside = tempName(lock);
  try {
    renameSync(lock, aside);
  } catch {
    return true; // another taker moved it first
  }
  if (readText(aside) !== text) {
    // a live lock taken between our read and our rename: put it back unless someone holds the name again
    try {
      linkSync(aside, lock);
    } catch {
      // both now believe they hold it; documented residual race of three takers within microseconds
    }
  }
  rmSync(aside, { force: true });
  return true;
}

let tokens = 0;

/** Run `fn` holding the corpus lock of `dir`. */
export function withCorpusLock<T>(dir: string, fn: () => T): T {
  const lock = join(dir, LOCK_FILE);
  const mine = `${process.pid} ${Date.now()}.${tokens++}\n`;
  const deadline = Date.now() + WAIT_MS;
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    let fd: number | undefined;
    try {
      fd = openSync(lock, 'wx', 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (fd !== undefined) {
      try {
        writeSync(fd, mine);
      } finally {
        closeSync(fd);
      }
      break;
    }
    if (reapStale(lock)) continue;
    if (Date.now() > deadline) {
      throw new Error(`${lock}: held by process ${(readText(lock) ?? '?').split(' ')[0]} for over ${WAIT_MS / 1000} s`);
    }
    sleep(wait);
  }
  try {
    return fn();
  } finally {
    if (readText(lock) === mine) rmSync(lock, { force: true });
  }
}
