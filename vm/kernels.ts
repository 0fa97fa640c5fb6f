// Kernel provider: Debian kernel lines (newest linux-image-<line>*-amd64-unsigned, fetched once and cached) or a user path.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { InfraError } from './errors.ts';
import { findKernelConfig, readKernelRelease } from './identity.ts';

const run = promisify(execFile);

/** How long the answer "newest package of a line" is reused before asking apt again (HIBFUZZ_KERNEL_REFRESH=1: now). */
export const RESOLVE_TTL_MS = 12 * 3600 * 1000;

// keep-sorted start
export const DEBIAN_LINES = ['debian-6.1', 'debian-6.12'] as const;
// keep-sorted end
export type DebianLine = (typeof DEBIAN_LINES)[number];

export const isDebianLine = (s: string): s is DebianLine => (DEBIAN_LINES as readonly string[]).includes(s);

/** A kernel ready to boot: bzImage plus the module tree it loads from the initramfs. */
export interface Kernel {
  /** what the caller asked for: a Debian line or a path */
  readonly spec: string;
  /** exact version: the Debian package version (e.g. 6.1.192-2), or the release for a user kernel */
  readonly version: string;
  /** `uname -r` of the kernel (the lib/modules directory name) */
  readonly release: string;
  readonly bzImage: string;
  /** lib/modules/<release> with modules.dep, or undefined when every driver is built in */
  readonly modulesDir: string | undefined;
  /** Debian package name, for Debian lines */
  readonly packageName?: string;
  /** the kernel's .config when known (Debian: boot/config-<release>; a user kernel: --config or found next to it) */
  readonly config?: string;
}

/** `${HIBFUZZ_CACHE:-$HOME/.cache/hibfuzz}` */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const c = env.HIBFUZZ_CACHE;
  return c !== undefined && c !== '' ? c : join(homedir(), '.cache', 'hibfuzz');
}

////////    pure: Debian package names and versions    ////////

/** Package names of a line: 6.1.0-56-amd64 (bookworm ABI names) or 6.12.117+deb12-amd64 (backports/trixie names). */
export function linePackageRegex(line: DebianLine): RegExp {
  const v = line.slice('debian-'.length).replace('.', '\\.');
  return new RegExp(`^linux-image-${v}(?:\\.0-\\d+|\\.\\d+\\+deb\\d+)-amd64-unsigned$`);
}

/** Debian version ordering (deb-version(7)): epoch, then upstream and revision compared with the dpkg algorithm. */
export function compareDebianVersions(a: string, b: string): number {
  const split = (v: string): [number, string, string] => {
    const colon = v.indexOf(':');
    const epoch = colon >= 0 ? Number(v.slice(0, colon)) : 0;
    const rest = colon >= 0 ? v.slice(colon + 1) : v;
    const dash = rest.lastIndexOf('-');
    return dash >= 0 ? [epoch, rest.slice(0, dash), rest.slice(dash + 1)] : [epoch, rest, '0'];
  };
  const [ea, ua, ra] = split(a);
  const [eb, ub, rb] = split(b);
  if (ea !== eb) return ea < eb ? -1 : 1;
  return comparePart(ua, ub) || comparePart(ra, rb);
}

// dpkg's order for non-digit runs: '~' sorts before everything (even the end), letters before non-letters.
function charOrder(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

function comparePart(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !/\d/.test(a[i] ?? '')) || (j < b.length && !/\d/.test(b[j] ?? ''))) {
      const ca = i < a.length && !/\d/.test(a[i] ?? '') ? a[i] : undefined;
      const cb = j < b.length && !/\d/.test(b[j] ?? '') ? b[j] : undefined;
      const d = charOrder(ca) - charOrder(cb);
      if (d !== 0) return d < 0 ? -1 : 1;
      i++;
      j++;
    }
    let na = '';
    while (i < a.length && /\d/.test(a[i] ?? '')) na += a[i++];
    let nb = '';
    while (j < b.length && /\d/.test(b[j] ?? '')) nb += b[j++];
    const d = Number(na || '0') - Number(nb || '0');
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** Candidate versions from `apt-cache policy p1 p2 …` output; '(none)' means not installable here. */
export function parseAptCachePolicy(text: string): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  let pkg: string | undefined;
  for (const line of text.split('\n')) {
    const head = /^(\S+):$/.exec(line);
    if (head?.[1] !== undefined) {
      pkg = head[1];
      out.set(pkg, undefined);
      continue;
    }
    const cand = /^\s+Candidate:\s+(\S+)/.exec(line);
    if (cand?.[1] !== undefined && pkg !== undefined) out.set(pkg, cand[1] === '(none)' ? undefined : cand[1]);
  }
  return out;
}

/** Newest installable package of a line, or undefined. */
export function pickNewestPackage(
  line: DebianLine,
  candidates: ReadonlyMap<string, string | undefined>,
): { pkg: string; version: string } | undefined {
  const re = linePackageRegex(line);
  let best: { pkg: string; version: string } | undefined;
  for (const [pkg, version] of candidates) {
    if (version === undefined || !re.test(pkg)) continue;
    if (best === undefined || compareDebianVersions(version, best.version) > 0) best = { pkg, version };
  }
  return best;
}

/** Cache directory name of one package version (`~`, `+` and `:` kept out of paths). */
export const kernelCacheName = (pkg: string, version: string): string =>
  `${pkg}_${version}`.replace(/[^A-Za-z0-9._-]/g, '_');

////////    I/O    ////////

interface CachedKernelMeta {
  readonly packageName: string;
  readonly version: string;
  readonly release: string;
}

function readCached(dir: string, spec: string): Kernel | undefined {
  const metaPath = join(dir, 'kernel.json');
  if (!existsSync(metaPath)) return undefined;
  const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as CachedKernelMeta;
  const config = join(dir, 'boot', `config-${meta.release}`);
  return {
    spec,
    version: meta.version,
    release: meta.release,
    bzImage: join(dir, 'boot', `vmlinuz-${meta.release}`),
    modulesDir: join(dir, 'lib', 'modules', meta.release),
    packageName: meta.packageName,
    ...(existsSync(config) ? { config } : {}),
  };
}

/** Newest kernel of the line already in the cache (used when apt cannot answer). */
function newestCached(root: string, line: DebianLine): Kernel | undefined {
  if (!existsSync(root)) return undefined;
  const re = linePackageRegex(line);
  let best: Kernel | undefined;
  for (const name of readdirSync(root)) {
    const k = readCached(join(root, name), line);
    if (k?.packageName === undefined || !re.test(k.packageName)) continue;
    if (best === undefined || compareDebianVersions(k.version, best.version) > 0) best = k;
  }
  return best;
}

async function aptCandidates(line: DebianLine): Promise<Map<string, string | undefined>> {
  const re = linePackageRegex(line);
  // apt-cache takes POSIX regexes: search broadly, filter with the exact pattern
  const prefix = `^linux-image-${line.slice('debian-'.length).replace('.', '\\.')}\\.`;
  const search = await run('apt-cache', ['search', '--names-only', prefix], { maxBuffer: 1 << 24 });
  const pkgs = search.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((p) => re.test(p));
  if (pkgs.length === 0) return new Map();
  const policy = await run('apt-cache', ['policy', ...pkgs], { maxBuffer: 1 << 24 });
  return parseAptCachePolicy(policy.stdout);
}

async function fetchDebianKernel(root: string, line: DebianLine, pkg: string, version: string): Promise<Kernel> {
  const final = join(root, kernelCacheName(pkg, version));
  const tmp = `${final}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await run('apt-get', ['download', `${pkg}=${version}`], { cwd: tmp, maxBuffer: 1 << 24 });
    const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (deb === undefined) throw new InfraError(`apt-get download ${pkg}=${version} produced no .deb`);
    await run('dpkg-deb', ['-x', join(tmp, deb), tmp]);
    rmSync(join(tmp, deb));
    const releases = readdirSync(join(tmp, 'lib', 'modules'));
    const release = releases[0];
    if (release === undefined || releases.length !== 1)
      throw new InfraError(`${pkg}: expected one lib/modules/<release>`);
    await run('depmod', ['-b', tmp, release]);
    rmSync(join(tmp, 'usr'), { recursive: true, force: true });
    const meta: CachedKernelMeta = { packageName: pkg, version, release };
    writeFileSync(join(tmp, 'kernel.json'), `${JSON.stringify(meta)}\n`);
    try {
      renameSync(tmp, final);
    } catch {
      // another process finished the same package first; keep its copy
      rmSync(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof InfraError) throw e;
    throw new InfraError(`fetching ${pkg}=${version} for ${line} failed: ${firstLine(e)}`);
  }
  const k = readCached(final, line);
  if (k === undefined) throw new InfraError(`kernel cache ${final} is incomplete`);
  return k;
}

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

/** Options for a kernel given as a path. */
export interface UserKernelOptions {
  /** lib/modules/<release> (holding modules.dep), or a root that holds lib/modules/<release> */
  readonly modules?: string;
  /** the kernel's .config (else looked up next to the bzImage: vm/identity.ts findKernelConfig) */
  readonly config?: string;
}

/**
 * A user kernel: a bzImage file, or a directory holding bzImage (or vmlinuz*) and optionally lib/modules/<release>/.
 * Everything is checked before anything is created: an x86 bzImage with a version string (its release is the
 * modules' directory name), modules that match it, a .config of the same major.minor. Creates no file.
 */
export function userKernel(spec: string, opts: UserKernelOptions = {}): Kernel {
  if (!existsSync(spec)) throw new InfraError(`kernel: no such file or directory: ${spec}`);
  const isDir = statSync(spec).isDirectory();
  const dir = isDir ? spec : dirname(spec);
  let bzImage = spec;
  if (isDir) {
    const names = readdirSync(spec);
    const b = ['bzImage', ...names.filter((n) => n.startsWith('vmlinuz'))].find((n) => names.includes(n));
    if (b === undefined) throw new InfraError(`kernel: ${spec} holds no bzImage or vmlinuz*`);
    bzImage = join(spec, b);
  }
  // the x86 boot header (HdrS) and the release from its kernel_version string: InfraError naming the file
  const release = readKernelRelease(bzImage);
  const modulesDir = userModules(dir, release, opts.modules);
  const config = findKernelConfig(bzImage, release, opts.config);
  return { spec, version: release, release, bzImage, modulesDir, ...(config === undefined ? {} : { config }) };
}

/** The modules tree of a user kernel: `--modules` or lib/modules/<release> next to it; undefined when there is none. */
function userModules(dir: string, release: string, given: string | undefined): string | undefined {
  const candidates = given !== undefined ? [given, join(given, 'lib', 'modules', release), join(given, release)] : [];
  const found = candidates.find((c) => existsSync(join(c, 'modules.dep')));
  if (given !== undefined) {
    if (found === undefined) throw new InfraError(`--modules ${given}: no modules.dep (run depmod)`);
    if (basename(found) !== release) {
      throw new InfraError(`--modules ${given}: ${found} is not for the kernel's release ${release}`);
    }
    return found;
  }
  const modRoot = join(dir, 'lib', 'modules');
  const releases = existsSync(modRoot) ? readdirSync(modRoot) : [];
  if (releases.length === 0) return undefined;
  if (!releases.includes(release)) {
    throw new InfraError(`kernel: ${modRoot} holds ${releases.join(', ')}, not the kernel's release ${release}`);
  }
  const modulesDir = join(modRoot, release);
  if (!existsSync(join(modulesDir, 'modules.dep'))) {
    throw new InfraError(`kernel: ${modulesDir} has no modules.dep (run depmod -b ${dir} ${release})`);
  }
  return modulesDir;
}

/**
 * Resolve a kernel spec: `debian-6.1` / `debian-6.12` (newest installable package, fetched once into the cache), or
 * a path (userKernel: checked before anything is created). Throws InfraError (one line) when it cannot.
 */
export async function resolveKernel(
  spec: string,
  opts: { cacheDir?: string; log?: (l: string) => void } & UserKernelOptions = {},
): Promise<Kernel> {
  if (!isDebianLine(spec)) return userKernel(spec, opts);
  if (opts.modules !== undefined || opts.config !== undefined) {
    throw new InfraError(`kernel ${spec}: --modules and --config apply to a kernel given as a path`);
  }
  const root = join(opts.cacheDir ?? cacheRoot(), 'kernels');
  mkdirSync(root, { recursive: true });
  // the newest package of a line is looked up in apt at most every RESOLVE_TTL_MS (apt-cache costs ~1 s)
  const memo = join(root, `${spec}.resolved.json`);
  if (process.env.HIBFUZZ_KERNEL_REFRESH !== '1' && existsSync(memo)) {
    const m = JSON.parse(readFileSync(memo, 'utf8')) as { pkg: string; version: string; at: number };
    const k = readCached(join(root, kernelCacheName(m.pkg, m.version)), spec);
    if (k !== undefined && Date.now() - m.at < RESOLVE_TTL_MS) return k;
  }
  const remember = (k: Kernel): Kernel => {
    if (k.packageName !== undefined) {
      writeFileSync(memo, `${JSON.stringify({ pkg: k.packageName, version: k.version, at: Date.now() })}\n`);
    }
    return k;
  };
  let newest: { pkg: string; version: string } | undefined;
  try {
    newest = pickNewestPackage(spec, await aptCandidates(spec));
  } catch (e) {
    opts.log?.(`apt-cache failed (${firstLine(e)}); using the cache`);
  }
  if (newest === undefined) {
    const cached = newestCached(root, spec);
    if (cached !== undefined) return cached;
    throw new InfraError(`kernel ${spec}: no installable linux-image package found (run apt-get update)`);
  }
  const cached = readCached(join(root, kernelCacheName(newest.pkg, newest.version)), spec);
  if (cached !== undefined) return remember(cached);
  opts.log?.(`fetching ${newest.pkg}=${newest.version}`);
  try {
    return remember(await fetchDebianKernel(root, spec, newest.pkg, newest.version));
  } catch (e) {
    const older = newestCached(root, spec);
    if (older === undefined) throw e;
    opts.log?.(`${firstLine(e)}; using cached ${older.packageName ?? ''} ${older.version}`);
    return older;
  }
}
