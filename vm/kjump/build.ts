// kjump kernel builder: Debian linux-source-6.12 (or a user tree) + config.fragment [+ gate.fragment] + patches ->
// cached bzImage. Cache: <cache>/kjump/<key>/{bzImage,config,build.json}, key = sha256(source version, sha256 of the
// fragment as applied (config.fragment, then gate.fragment with --gate), patch set sha256).
// CLI: tsx vm/kjump/build.ts [--gate] [--kernel-tree DIR] [--patch FILE]...   (prints build.json)
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { InfraError } from '../errors.ts';
import { cacheRoot } from '../kernels.ts';

const run = promisify(execFile);

export const FRAGMENT_PATH = new URL('./config.fragment', import.meta.url).pathname;
/** What the shipped swsusp scenarios need on top (PM_DEBUG, LZO/LZ4 built in, the snapshot device): `--gate`. */
export const GATE_FRAGMENT_PATH = new URL('./gate.fragment', import.meta.url).pathname;
export const BUILD_SCRIPT = new URL('./build-kernel.sh', import.meta.url).pathname;
export const JUMP_BACK_PATCH = new URL('./patches/jump-back-helper.patch', import.meta.url).pathname;
export const SOURCE_TARBALL = '/usr/src/linux-source-6.12.tar.xz';
export const SOURCE_PACKAGE = 'linux-source-6.12';

export interface KjumpBuildOptions {
  /** build this tree instead of the Debian source package (same fragment) */
  readonly kernelTree?: string;
  /** applied in order on top of the source (then reverted) */
  readonly patches?: readonly string[];
  /** add gate.fragment: a kernel that also runs the shipped swsusp scenarios */
  readonly gate?: boolean;
  readonly cacheDir?: string;
  /** build output goes here (default: the build log is kept in the cache entry) */
  readonly onLog?: (line: string) => void;
}

/** What build.json records next to the bzImage. */
export interface KjumpKernel {
  readonly bzImage: string;
  readonly key: string;
  /** Debian package version, or `tree:<path>@<kernelversion>` */
  readonly sourceVersion: string;
  /** sha256 of the fragment as applied (config.fragment, plus gate.fragment when gate) */
  readonly fragmentSha256: string;
  /** built with gate.fragment (absent in cache entries from before it existed: false) */
  readonly gate?: boolean;
  readonly patchSetSha256: string;
  readonly patches: readonly string[];
  /** seconds the build took (0 when it came from the cache) */
  readonly buildSeconds: number;
  readonly cached: boolean;
}

////////    pure    ////////

export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** Patch set hash: order matters (patches apply in sequence); the empty set hashes the empty string. */
export function patchSetSha256(patchContents: readonly Buffer[]): string {
  const h = createHash('sha256');
  for (const p of patchContents) h.update(sha256(p)).update('\n');
  return h.digest('hex');
}

/** Cache key: 16 hex digits of sha256("<sourceVersion>\n<fragmentSha>\n<patchSetSha>"), prefixed for humans. */
export function cacheKey(sourceVersion: string, fragmentSha: string, patchSha: string): string {
  const safe = sourceVersion.replace(/[^A-Za-z0-9.+-]/g, '_').slice(0, 40);
  return `${safe}-${sha256(`${sourceVersion}\n${fragmentSha}\n${patchSha}`).slice(0, 16)}`;
}

/** Fragment lines as the kernel's .config must contain them: `CONFIG_X=v` kept verbatim, `# CONFIG_X is not set` as unset. */
export function fragmentExpectations(fragment: string): { set: string[]; unset: string[] } {
  const set: string[] = [];
  const unset: string[] = [];
  for (const raw of fragment.split('\n')) {
    const line = raw.trim();
    const m = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line);
    if (m?.[1] !== undefined) unset.push(m[1]);
    else if (/^CONFIG_[A-Za-z0-9_]+=/.test(line)) set.push(line);
  }
  return { set, unset };
}

/** Fragment symbols that did not land in `.config` (the build script checks the same; this is the agent's re-check). */
export function missingSymbols(fragment: string, config: string): string[] {
  const lines = new Set(config.split('\n').map((l) => l.trim()));
  const { set, unset } = fragmentExpectations(fragment);
  const bad = set.filter((l) => !lines.has(l));
  for (const sym of unset) if ([...lines].some((l) => l.startsWith(`${sym}=`))) bad.push(`${sym} (should be unset)`);
  return bad;
}

/** The fragment as applied: config.fragment alone (its bytes: the plain kernel's key is unchanged), or then gate. */
export function joinFragments(base: string, gate: string | undefined): string {
  return gate === undefined ? base : `${base}${base.endsWith('\n') ? '' : '\n'}${gate}`;
}

////////    I/O    ////////

function appliedFragment(gate: boolean): string {
  return joinFragments(
    readFileSync(FRAGMENT_PATH, 'utf8'),
    gate ? readFileSync(GATE_FRAGMENT_PATH, 'utf8') : undefined,
  );
}

async function debianSourceVersion(): Promise<string> {
  try {
    const r = await run('dpkg-query', ['-W', `-f=\${Version}`, SOURCE_PACKAGE]);
    if (r.stdout.trim() === '') throw new Error('empty');
    return r.stdout.trim();
  } catch {
    throw new InfraError(`${SOURCE_PACKAGE} is not installed (run vm/kjump/setup-build.sh as root)`);
  }
}

/** The pristine Debian tree, unpacked once per package version under <cache>/kjump/src-<version>/. */
async function debianTree(root: string, version: string): Promise<string> {
  const dir = join(root, `src-${version.replace(/[^A-Za-z0-9.+-]/g, '_')}`);
  const tree = join(dir, 'linux-source-6.12');
  if (existsSync(join(tree, 'Makefile'))) return tree;
  if (!existsSync(SOURCE_TARBALL)) throw new InfraError(`${SOURCE_TARBALL} missing (run vm/kjump/setup-build.sh)`);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await run('tar', ['-C', tmp, '-xf', SOURCE_TARBALL]);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new InfraError(`unpacking ${SOURCE_TARBALL} failed: ${String(e).split('\n')[0]}`);
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return tree;
}

/** Run a build step with its output in `logFile` (and line by line to `onLog`); resolves to the exit code. */
export function runLogged(
  cmd: string,
  args: readonly string[],
  logFile: string,
  onLog?: (l: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    const p = spawn(cmd, [...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const take = (b: Buffer) => {
      chunks.push(b);
      if (onLog) for (const l of b.toString().split('\n')) if (l !== '') onLog(l);
    };
    p.stdout.on('data', take);
    p.stderr.on('data', take);
    p.on('error', rej);
    p.on('close', (code) => {
      writeFileSync(logFile, Buffer.concat(chunks));
      res(code ?? 1);
    });
  });
}

/** Build (or take from the cache) the kjump bzImage. Throws InfraError when the host cannot build it. */
export async function ensureKjumpKernel(opts: KjumpBuildOptions = {}): Promise<KjumpKernel> {
  const root = join(opts.cacheDir ?? cacheRoot(), 'kjump');
  mkdirSync(root, { recursive: true });
  const patches = (opts.patches ?? []).map((p) => resolve(p));
  for (const p of patches) if (!existsSync(p)) throw new InfraError(`patch not found: ${p}`);
  const fragment = appliedFragment(opts.gate === true);
  const fragmentSha = sha256(fragment);
  const patchSha = patchSetSha256(patches.map((p) => readFileSync(p)));
  let tree: string;
  let sourceVersion: string;
  if (opts.kernelTree !== undefined) {
    tree = resolve(opts.kernelTree);
    if (!existsSync(join(tree, 'Makefile'))) throw new InfraError(`--kernel-tree ${tree}: no Makefile`);
    const kv = await run('make', ['-s', '-C', tree, 'kernelversion']).catch(() => ({ stdout: 'unknown' }));
    sourceVersion = `tree:${tree}@${kv.stdout.trim()}`;
  } else {
    sourceVersion = await debianSourceVersion();
    tree = await debianTree(root, sourceVersion);
  }
  const key = cacheKey(sourceVersion, fragmentSha, patchSha);
  const out = join(root, key);
  const meta = join(out, 'build.json');
  if (existsSync(meta) && existsSync(join(out, 'bzImage'))) {
    const m = JSON.parse(readFileSync(meta, 'utf8')) as KjumpKernel;
    return { ...m, bzImage: join(out, 'bzImage'), cached: true, buildSeconds: 0 };
  }
  // One object directory per source tree: switching patch sets rebuilds only what the patches touch (~10 s).
  // The gate kernel gets its own object directory: alternating with the plain one would rebuild most of the tree.
  const obj = join(root, `obj-${sha256(tree).slice(0, 12)}${opts.gate === true ? '-gate' : ''}`);
  const tmpOut = `${out}.tmp-${process.pid}`;
  rmSync(tmpOut, { recursive: true, force: true });
  mkdirSync(tmpOut, { recursive: true });
  const t0 = performance.now();
  const logFile = join(root, `${key}.build.log`);
  const fragmentFile = join(tmpOut, 'fragment');
  writeFileSync(fragmentFile, fragment);
  const code = await runLogged(BUILD_SCRIPT, [tree, obj, fragmentFile, tmpOut, ...patches], logFile, opts.onLog);
  if (code !== 0) {
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-3).join(' | ') : '';
    throw new InfraError(`kjump kernel build failed (exit ${code}, log ${logFile}): ${tail}`);
  }
  const bad = missingSymbols(fragment, readFileSync(join(tmpOut, 'config'), 'utf8'));
  if (bad.length > 0) throw new InfraError(`kjump kernel config lacks: ${bad.join(', ')}`);
  const k: KjumpKernel = {
    bzImage: join(out, 'bzImage'),
    key,
    sourceVersion,
    fragmentSha256: fragmentSha,
    gate: opts.gate === true,
    patchSetSha256: patchSha,
    patches,
    buildSeconds: Math.round((performance.now() - t0) / 100) / 10,
    cached: false,
  };
  writeFileSync(join(tmpOut, 'build.json'), `${JSON.stringify(k, null, 2)}\n`);
  rmSync(out, { recursive: true, force: true });
  renameSync(tmpOut, out);
  return k;
}

/** `kjump-6.12 <version> <fragment sha[:12]> <patch set sha[:12]>`, the Observation's kernel string. */
export const kernelLabel = (k: KjumpKernel): string =>
  `kjump-6.12 ${k.sourceVersion} frag:${k.fragmentSha256.slice(0, 12)} patches:${k.patchSetSha256.slice(0, 12)}`;

async function main(argv: readonly string[]): Promise<number> {
  const patches: string[] = [];
  let kernelTree: string | undefined;
  let gate = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--gate') gate = true;
    else if (a === '--patch' && v !== undefined) {
      patches.push(v);
      i++;
    } else if (a === '--kernel-tree' && v !== undefined) {
      kernelTree = v;
      i++;
    } else {
      console.error(`usage: build.ts [--gate] [--kernel-tree DIR] [--patch FILE]...  (bad argument: ${a})`);
      return 2;
    }
  }
  try {
    const k = await ensureKjumpKernel({ patches, gate, ...(kernelTree !== undefined ? { kernelTree } : {}) });
    console.log(JSON.stringify(k, null, 2));
    return 0;
  } catch (e) {
    if (e instanceof InfraError) {
      console.error(`build.ts: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main(process.argv.slice(2));
