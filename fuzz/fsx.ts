// File-system edges of the CLI: one-line errno text, creating directories without Node's recursive mkdir (it spins
// forever on procfs), probing a directory for writability before any work, and writing a report to `-` (stdout), a
// non-regular file (a FIFO, a device, a symlink: written through, never replaced) or a regular file (atomically).
import {
  accessSync,
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** `no such file or directory (ENOENT)`: Node's strerror text and the code, without the syscall and path. */
export function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const msg = (err instanceof Error ? err.message : String(e)).split('\n')[0] ?? '';
  if (err.code === undefined) return msg;
  const m = /^[A-Z0-9_]+: ([^,]+)/.exec(msg);
  return `${m?.[1] ?? msg} (${err.code})`;
}

const statOrUndefined = (p: string, follow: boolean): Stats | undefined => {
  try {
    return follow ? statSync(p) : lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
};

/** `mkdir -p` that walks up by hand: one non-recursive mkdir per missing directory, a one-line error otherwise. */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  let p = resolve(dir);
  try {
    for (;;) {
      const st = statOrUndefined(p, true);
      if (st !== undefined) {
        if (!st.isDirectory()) throw new Error(`${p} is not a directory`);
        break;
      }
      missing.push(p);
      const up = dirname(p);
      if (up === p) break;
      p = up;
    }
    for (const m of missing.reverse()) {
      p = m;
      mkdirSync(m);
    }
  } catch (e) {
    const why = e instanceof Error && (e as NodeJS.ErrnoException).code === undefined ? e.message : errnoText(e);
    throw new Error(`cannot create directory ${dir}: ${why}`);
  }
}

let tmpCounter = 0;

/** A temp file name next to `path`: `.NAME.PID.N.tmp` (the pid tells a sweeper whether its writer is alive). */
export const tempName = (path: string): string =>
  join(dirname(path), `.${basename(path)}.${process.pid}.${tmpCounter++}.tmp`);

/** The writer pid of a temp file name, or undefined when the name is not one of ours. */
export function tempWriter(name: string): number | undefined {
  const m = /^\..*\.(\d+)\.\d+\.tmp$/.exec(name);
  return m === null ? undefined : Number(m[1]);
}

/** writeSync until every byte is written: one call may write less (a file size limit, a signal, a full disk). */
function writeAll(fd: number, data: string): void {
  const buf = Buffer.from(data);
  for (let at = 0; at < buf.length; ) {
    const n = writeSync(fd, buf, at);
    if (n <= 0) throw Object.assign(new Error('EIO: short write'), { code: 'EIO' });
    at += n;
  }
}

/**
 * Write `data` to `path` atomically and durably (temp, fsync, rename, fsync dir). A failure removes the temp file
 * and rethrows the error.
 */
export function atomicWrite(path: string, data: string): void {
  const tmp = tempName(path);
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    try {
      writeAll(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  const dfd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** Write, fsync and remove a small file in `dir`: undefined when it can be written, else the reason. */
export function probeDir(dir: string): string | undefined {
  const p = tempName(join(dir, 'probe'));
  let fd: number | undefined;
  try {
    fd = openSync(p, 'wx', 0o644);
    writeSync(fd, 'hibfuzz write probe\n');
    fsyncSync(fd);
    return undefined;
  } catch (e) {
    return errnoText(e);
  } finally {
    if (fd !== undefined) closeSync(fd);
    rmSync(p, { force: true });
  }
}

/** Writes to stdout: `-`. */
export const STDOUT = '-' as const;

/**
 * Check before any work that `path` (a report, `--svg`, `--out`) can be written: `-`; an existing non-regular file
 * we may write; or a regular or new file in an existing directory we can write. The one-line reason otherwise.
 */
export function outputPathProblem(path: string): string | undefined {
  if (path === STDOUT) return undefined;
  try {
    const l = statOrUndefined(path, false);
    const st = l?.isSymbolicLink() ? statOrUndefined(path, true) : l;
    if (st?.isDirectory()) return `${path} is a directory`;
    if (l !== undefined && !l.isFile() && st !== undefined) {
      accessSync(path, constants.W_OK);
      return undefined;
    }
    // a new file, a regular one, or the target a dangling symbolic link names
    const dir = dirname(
      st === undefined && l !== undefined ? resolve(dirname(path), readlinkSync(path)) : resolve(path),
    );
    const d = statOrUndefined(dir, true);
    if (d === undefined) return `directory ${dir} does not exist`;
    if (!d.isDirectory()) return `${dir} is not a directory`;
    const why = probeDir(dir);
    return why === undefined ? undefined : `cannot write in ${dir}: ${why}`;
  } catch (e) {
    return errnoText(e);
  }
}

/** True when `st` is the file open as descriptor `fd`. */
function isOpenAs(st: Stats, fd: number): boolean {
  try {
    const f = fstatSync(fd);
    return f.dev === st.dev && f.ino === st.ino;
  } catch {
    return false;
  }
}

/** Every report asked for (a path given), each through writeOutput; the text is made only for those. */
export function writeOutputs(
  reports: readonly (readonly [string | undefined, () => string])[],
  out: (t: string) => void,
): void {
  for (const [path, text] of reports) if (path !== undefined) writeOutput(path, text(), out);
}

/** Write a report: `-` to `out`, a non-regular file (FIFO, device, symlink) through, a regular file atomically. */
export function writeOutput(path: string, text: string, out: (t: string) => void): void {
  if (path === STDOUT) {
    out(text);
    return;
  }
  // /dev/stdout, /proc/self/fd/2, the file stdout is redirected to: written where that stream is, in its order
  const st = statOrUndefined(path, true);
  if (st !== undefined && isOpenAs(st, 1)) out(text);
  else if (st !== undefined && isOpenAs(st, 2)) writeAll(2, text);
  else if (statOrUndefined(path, false)?.isFile() === false) writeFileSync(path, text);
  else atomicWrite(path, text);
}
