// Gate work trees (slots): a private copy of the source per running gate, patched and reverted there, its object
// directory kept between builds (seeded from a finished one of the same tree when new). See gate-build.ts.
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { InfraError } from '../vm/errors.ts';
import { missingSymbols } from '../vm/kjump/build.ts';
import { patchFailures } from './gate-classify.ts';

const run = promisify(execFile);

/** A build that failed: the message is one line; the tail and the log path go to the report. */
export class GateBuildError extends InfraError {
  readonly tail: readonly string[];
  readonly log: string | undefined;
  constructor(message: string, tail: readonly string[] = [], log?: string) {
    super(message);
    this.tail = tail;
    this.log = log;
  }
}

export async function sh(cmd: string, args: readonly string[], cwd?: string): Promise<string> {
  try {
    const r = await run(cmd, [...args], { maxBuffer: 64 << 20, ...(cwd !== undefined ? { cwd } : {}) });
    return r.stdout;
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message?: string };
    const text = `${err.stdout ?? ''}${err.stderr ?? ''}`.trim() || (err.message ?? String(e));
    throw new InfraError(`${cmd} ${args.slice(0, 3).join(' ')}: ${text.split('\n').slice(-1)[0]}`);
  }
}

/** The pristine Debian tree of linux-source-<line>, unpacked once under <cache>/kjump/src-<version>/ (as build.ts). */
export async function debianTree(root: string, line: string): Promise<{ tree: string; version: string }> {
  const pkg = `linux-source-${line}`;
  const version = (await sh('dpkg-query', ['-W', `-f=\${Version}`, pkg]).catch(() => '')).trim();
  if (version === '') throw new InfraError(`${pkg} is not installed (apt-get install ${pkg}; vm/kjump/setup-build.sh)`);
  const dir = join(root, `src-${version.replace(/[^A-Za-z0-9.+-]/g, '_')}`);
  const tree = join(dir, pkg);
  if (existsSync(join(tree, 'Makefile'))) return { tree, version };
  const tarball = `/usr/src/${pkg}.tar.xz`;
  if (!existsSync(tarball)) throw new InfraError(`${tarball} missing (reinstall ${pkg})`);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await sh('tar', ['-C', tmp, '-xf', tarball]);
  if (existsSync(join(dir, pkg, 'Makefile'))) rmSync(tmp, { recursive: true, force: true });
  else {
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  }
  return { tree, version };
}

////////    slots    ////////

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Take the first free slot of this source (a lock directory holding our pid; a dead holder's lock is taken over). */
export async function withSlot<T>(base: string, f: (slot: string) => Promise<T>): Promise<T> {
  for (let n = 0; n < 8; n++) {
    const slot = `${base}-${n}`;
    const lock = `${slot}.lock`;
    mkdirSync(dirname(slot), { recursive: true });
    try {
      mkdirSync(lock);
    } catch {
      const pid = Number(readFileSync(join(lock, 'pid'), 'utf8').trim() || '0');
      if (pid !== 0 && (pid === process.pid || alive(pid))) continue;
      rmSync(lock, { recursive: true, force: true });
      try {
        mkdirSync(lock);
      } catch {
        continue;
      }
    }
    writeFileSync(join(lock, 'pid'), `${process.pid}\n`);
    try {
      return await f(slot);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  throw new InfraError(`no free gate work tree under ${dirname(base)} (8 gates running?)`);
}

export interface SlotState {
  /** the pristine tree (debian) or the repository (tree) src was made from */
  readonly source: string;
  /** files the current patches touched (debian): copied back from the pristine tree before the next set */
  readonly touched: readonly string[];
  readonly configKey?: string;
}

export const readState = (slot: string): SlotState | undefined => {
  try {
    return JSON.parse(readFileSync(join(slot, 'state.json'), 'utf8')) as SlotState;
  } catch {
    return undefined;
  }
};
export const writeState = (slot: string, s: SlotState) =>
  writeFileSync(join(slot, 'state.json'), `${JSON.stringify(s)}\n`);

/** Put the slot's src back to the pristine tree: the touched files copied (not linked) back, new files removed. */
export function revertTouched(src: string, pristine: string, touched: readonly string[]): void {
  for (const f of touched) {
    const dst = join(src, f);
    rmSync(dst, { force: true });
    const orig = join(pristine, f);
    if (existsSync(orig)) {
      mkdirSync(dirname(dst), { recursive: true });
      copyFileSync(orig, dst);
    }
  }
}

// --fuzz=0: the context must match exactly, as with git apply: what is gated is the patch as posted
const patchArgs = (src: string, p: string) => [
  '-d',
  src,
  '-p1',
  '-N',
  '-t',
  '--fuzz=0',
  '--no-backup-if-mismatch',
  '-r',
  '-',
  '-i',
  p,
];

/** `patch --dry-run`: undefined when it applies, else why not (the file and the hunk). Writes nothing. */
export async function patchProblem(src: string, p: string): Promise<string | undefined> {
  const dry = await new Promise<{ code: number; out: string }>((res) => {
    execFile('patch', ['--dry-run', ...patchArgs(src, p)], (err, stdout, stderr) =>
      res({ code: err === null ? 0 : 1, out: `${stdout}${stderr}` }),
    );
  });
  if (dry.code === 0) return undefined;
  const why = patchFailures(dry.out);
  return `patch does not apply: ${p}: ${why.length > 0 ? why.join('; ') : (dry.out.trim().split('\n').pop() ?? '')}`;
}

/**
 * Before any work tree is taken: each patch whose files no earlier patch touches must apply to the pristine tree
 * (a dry run writes nothing). A series that patches the same file again is checked in the work tree.
 */
export async function checkPatches(pristine: string, patches: readonly { path: string; files: readonly string[] }[]) {
  const seen = new Set<string>();
  for (const p of patches) {
    if (p.files.every((f) => !seen.has(f))) {
      const why = await patchProblem(pristine, p.path);
      if (why !== undefined) throw new GateBuildError(why);
    }
    for (const f of p.files) seen.add(f);
  }
}

/** Apply patches in order; a patch that does not apply names the file and the hunk. */
export async function applyPatches(src: string, patches: readonly string[]): Promise<void> {
  for (const p of patches) {
    const why = await patchProblem(src, p);
    if (why !== undefined) throw new GateBuildError(why);
    await sh('patch', ['-s', ...patchArgs(src, p)]);
  }
}

////////    seeding a new work tree's objects    ////////

/**
 * A finished object directory of the same pristine tree and configuration (vm/kjump/build.ts --gate's, or another
 * slot's), to start a new slot from instead of a full build: its `source` link names the tree it was built from.
 */
export interface Donor {
  readonly obj: string;
  readonly src: string;
  /** files its tree had patched (another slot's): rebuilt here from the pristine tree */
  readonly touched: readonly string[];
}

export function findDonor(root: string, slotsDir: string, tree: string, fragment: string): Donor | undefined {
  const dirs = [
    ...(existsSync(root)
      ? readdirSync(root)
          .filter((d) => /^obj-.*-gate$/.test(d))
          .map((d) => join(root, d))
      : []),
    ...(existsSync(slotsDir) ? readdirSync(slotsDir).map((d) => join(slotsDir, d, 'obj')) : []),
  ];
  for (const obj of dirs) {
    try {
      const src = readlinkSync(join(obj, 'source'));
      const slot = src === tree ? undefined : readState(dirname(obj));
      if (src !== tree && slot?.source !== tree) continue;
      if (!existsSync(join(obj, 'vmlinux')) || !existsSync(join(obj, 'arch/x86/boot/bzImage'))) continue;
      if (missingSymbols(fragment, readFileSync(join(obj, '.config'), 'utf8')).length > 0) continue;
      return { obj, src, touched: slot?.touched ?? [] };
    } catch {}
  }
  return undefined;
}

/**
 * Copy the donor's objects (times kept) and point every path of its source tree and of its object directory (the
 * tools/ build records absolute object paths) at ours: kbuild then finds the
 * same commands and older sources, and rebuilds only what the patches touch. Anything it does not recognise it
 * rebuilds, so the worst case is a full build.
 */
export async function seedObjects(donor: Donor, obj: string, src: string): Promise<void> {
  await sh('cp', ['-a', donor.obj, `${obj}.tmp`]);
  const grep = ['-rlIF', '-e', donor.src, '-e', donor.obj, `${obj}.tmp`];
  const files = (await sh('grep', grep).catch(() => '')).split('\n').filter((f) => f !== '');
  for (const f of files) {
    const st = statSync(f);
    const text = readFileSync(f, 'latin1').split(donor.src).join(src).split(donor.obj).join(obj);
    writeFileSync(f, text, 'latin1');
    utimesSync(f, st.atime, st.mtime);
  }
  rmSync(join(`${obj}.tmp`, 'source'), { force: true });
  symlinkSync(src, join(`${obj}.tmp`, 'source'));
  renameSync(`${obj}.tmp`, obj);
}
