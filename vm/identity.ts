// Kernel identity: what a bzImage is (its release, read from the x86 boot header; content hashes of the bzImage, the
// modules tree and the .config), what it can do (capabilities read from its .config) and which swsusp behaviour line
// the model predicts for it. Without a .config nothing is guessed: the capabilities are left to a probe.
import { createHash } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { KernelLine } from '../spec/index.ts';
import type { Capability, CapabilitySource } from './backend.ts';
import { InfraError } from './errors.ts';
import { cacheRoot } from './kernels.ts';

////////    pure: the x86 boot header (Documentation/arch/x86/boot.rst, "THE REAL-MODE KERNEL HEADER")    ////////

const SECTOR = 512;
/** setup_sects (u8): size of the setup code in 512-byte sectors; 0 means 4 */
const HDR_SETUP_SECTS = 0x1f1;
/** boot_flag (u16) 0xAA55 */
const HDR_BOOT_FLAG = 0x1fe;
/** header (u32): the magic "HdrS" */
const HDR_MAGIC = 0x202;
/** version (u16): boot protocol version; kernel_version exists from 2.00 on */
const HDR_VERSION = 0x206;
/** kernel_version (u16): pointer to a NUL-terminated version string, less 0x200 */
const HDR_KERNEL_VERSION = 0x20e;
/** bytes of a bzImage the header and the version string can lie in (setup_sects is at most 255 + the boot sector) */
export const BOOT_HEADER_BYTES = 256 * SECTOR;

/** Why `head` (the first BOOT_HEADER_BYTES of a file) is not an x86 bzImage, or undefined. */
export function bootHeaderProblem(head: Uint8Array): string | undefined {
  if (head.length < HDR_KERNEL_VERSION + 2) return 'too short for an x86 boot header';
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.toString('latin1', HDR_MAGIC, HDR_MAGIC + 4) !== 'HdrS') return 'no HdrS boot header';
  if (b.readUInt16LE(HDR_BOOT_FLAG) !== 0xaa55) return 'no 0xAA55 boot flag';
  if (b.readUInt16LE(HDR_VERSION) < 0x0200) return 'boot protocol older than 2.00';
  return undefined;
}

/**
 * `uname -r` of a bzImage: the first word of the kernel_version string ("6.1.0-57-amd64 (debian-kernel@...) #1 SMP
 * ..."), or undefined when the header has none or it is not a version string.
 */
export function kernelReleaseFromHeader(head: Uint8Array): string | undefined {
  if (bootHeaderProblem(head) !== undefined) return undefined;
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const ptr = b.readUInt16LE(HDR_KERNEL_VERSION);
  const sects = b[HDR_SETUP_SECTS] === 0 ? 4 : (b[HDR_SETUP_SECTS] ?? 4);
  const at = ptr + 0x200;
  if (ptr === 0 || at >= Math.min(b.length, (sects + 1) * SECTOR)) return undefined;
  const end = b.indexOf(0, at);
  const text = b.toString('latin1', at, end < 0 ? Math.min(b.length, at + 256) : end);
  const release = text.split(' ')[0] ?? '';
  return /^\d+\.\d+[\x21-\x7e]*$/.test(release) ? release : undefined;
}

/**
 * The inverse of kernelReleaseFromHeader, for tests and fixtures: a boot sector + setup header (protocol 2.15, three
 * setup sectors) whose kernel_version string is `version`, at `ptr` + 0x200. Not bootable.
 */
export function syntheticBootHeader(version: string, opts: { magic?: string; ptr?: number } = {}): Buffer {
  const b = Buffer.alloc(16 * SECTOR);
  b[HDR_SETUP_SECTS] = 3;
  b.writeUInt16LE(0xaa55, HDR_BOOT_FLAG);
  b.write(opts.magic ?? 'HdrS', HDR_MAGIC, 'latin1');
  b.writeUInt16LE(0x020f, HDR_VERSION);
  const ptr = opts.ptr ?? 0x300;
  b.writeUInt16LE(ptr, HDR_KERNEL_VERSION);
  b.write(`${version}\0`, ptr + 0x200, 'latin1');
  return b;
}

////////    pure: kernel line and capabilities    ////////

/**
 * The swsusp behaviour the model predicts for a kernel release: '6.1' before 6.6, '6.12' from 6.6 on. 6.6 added the
 * zero-page flag: commit 005e8dddd497 "PM: hibernate: don't store zero pages in the image file" (Brian Geffon, merged
 * for v6.6; the v6.6-rc3 fix threads cite it) marks all-zero pages in a `zero_bm` bitmap in copy_data_pages() and
 * writes them as PFNs with ENCODED_PFN_ZERO_FLAG (the top bit) instead of storing their data (kernel/power/snapshot.c
 * in linux-source-6.12: `static struct memory_bitmap zero_bm;`, `#define ENCODED_PFN_ZERO_FLAG`). 6.1 has neither.
 */
export function kernelLineOf(release: string): KernelLine {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (m === null) throw new InfraError(`kernel release ${JSON.stringify(release)}: not MAJOR.MINOR...`);
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major > 6 || (major === 6 && minor >= 6) ? '6.12' : '6.1';
}

/** @deprecated the same function under the name vm/backends.ts imports; use kernelLineOf */
export const lineOfRelease = kernelLineOf;

/** `CONFIG_X=value` and `# CONFIG_X is not set` (value 'n') lines of a kernel .config. */
export function parseKernelConfig(text: string): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const set = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (set?.[1] !== undefined) out.set(set[1], set[2] ?? '');
    const unset = /^# (CONFIG_\w+) is not set$/.exec(line);
    if (unset?.[1] !== undefined) out.set(unset[1], 'n');
  }
  return out;
}

/** The Linux version a .config was written for ("# Linux/x86 6.12.117 Kernel Configuration"), or undefined. */
export const configKernelVersion = (text: string): string | undefined =>
  /^# Linux\/\S+ (\d+\.\d+\S*) Kernel Configuration$/m.exec(text)?.[1];

export const looksLikeKernelConfig = (text: string): boolean =>
  configKernelVersion(text) !== undefined || /^CONFIG_\w+=/m.test(text);

/** The config option behind each capability. */
export const CAPABILITY_CONFIG = {
  dmCrypt: 'CONFIG_DM_CRYPT',
  ext4: 'CONFIG_EXT4_FS',
  fuse: 'CONFIG_FUSE_FS',
  hibernation: 'CONFIG_HIBERNATION',
  hibernationSnapshotDev: 'CONFIG_HIBERNATION_SNAPSHOT_DEV',
  kallsyms: 'CONFIG_KALLSYMS',
  kexecJump: 'CONFIG_KEXEC_JUMP',
  lz4: 'CONFIG_CRYPTO_LZ4',
  lzo: 'CONFIG_CRYPTO_LZO',
  modules: 'CONFIG_MODULES',
  pmDebug: 'CONFIG_PM_DEBUG',
} as const satisfies Record<Capability, string>;

/**
 * Capabilities a .config declares. `=y` counts; `=m` counts only when modules can be loaded (CONFIG_MODULES=y and the
 * kernel comes with its modules tree); `modules` itself needs both.
 */
export function capabilitiesFromConfig(
  cfg: ReadonlyMap<string, string>,
  opts: { readonly modulesAvailable: boolean },
): Capability[] {
  const modules = cfg.get(CAPABILITY_CONFIG.modules) === 'y' && opts.modulesAvailable;
  const caps: Capability[] = [];
  for (const [cap, option] of Object.entries(CAPABILITY_CONFIG) as [Capability, string][]) {
    const v = cfg.get(option);
    if (cap === 'modules' ? modules : v === 'y' || (v === 'm' && modules)) caps.push(cap);
  }
  return caps.sort();
}

/** Major.minor of a release or version string ("6.1.0-57-amd64" -> "6.1"). */
const majorMinor = (v: string): string | undefined => /^(\d+\.\d+)/.exec(v)?.[1];

/** Why this .config text does not belong to `release` (another major.minor in its header), or undefined. */
export function configMismatch(text: string, release: string): string | undefined {
  const v = configKernelVersion(text);
  if (v === undefined || majorMinor(v) === majorMinor(release)) return undefined;
  return `written for Linux ${v}, the kernel is ${release}`;
}

////////    I/O: hashes (memoised per file identity), the release of a file, the .config    ////////

interface Stamp {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly ino: number;
}
const sameStamp = (a: Stamp, b: Stamp): boolean =>
  a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
const stampOf = (path: string): Stamp => {
  const s = statSync(path);
  return { size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, ino: s.ino };
};

const fileHashes = new Map<string, Stamp & { readonly sha256: string }>();

/**
 * sha256 (hex) of a file's contents, memoised per (path, size, mtimeMs, ctimeMs, inode): a file rewritten in place
 * is hashed again, an unchanged 10 MB bzImage only once per process.
 */
export function fileSha256(path: string): string {
  const stamp = stampOf(path);
  const memo = fileHashes.get(path);
  if (memo !== undefined && sameStamp(memo, stamp)) return memo.sha256;
  const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
  // the file may have changed while it was read: remember the hash only under the stamp it still has
  if (sameStamp(stampOf(path), stamp)) fileHashes.set(path, { ...stamp, sha256 });
  return sha256;
}

interface TreeEntry {
  readonly rel: string;
  readonly kind: 'd' | 'f' | 'l';
  readonly stampLine: string;
}

function listTree(dir: string): TreeEntry[] {
  const out: TreeEntry[] = [];
  const walk = (rel: string): void => {
    const names = readdirSync(join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of names) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      const p = join(dir, r);
      if (e.isDirectory()) {
        out.push({ rel: r, kind: 'd', stampLine: `d ${r}` });
        walk(r);
      } else if (e.isSymbolicLink()) out.push({ rel: r, kind: 'l', stampLine: `l ${r} ${readlinkSync(p)}` });
      else if (e.isFile()) {
        const s = stampOf(p);
        out.push({ rel: r, kind: 'f', stampLine: `f ${r} ${s.size} ${s.mtimeMs} ${s.ctimeMs} ${s.ino}` });
      }
    }
  };
  walk('');
  return out;
}

const treeHashes = new Map<string, { readonly stamp: string; readonly sha256: string }>();

/**
 * sha256 over a directory tree: every entry's relative path, in order, with its file hash or link target. Memoised
 * by the stamps of all entries (path, size, mtimeMs, ctimeMs, inode), in this process and, with `memoDir`, on disk:
 * Debian's 400 MB modules tree is hashed once (~8 s), then only listed (~0.1 s).
 */
export function treeSha256(dir: string, memoDir?: string): string {
  const entries = listTree(dir);
  const stamp = createHash('sha256')
    .update(entries.map((e) => e.stampLine).join('\n'))
    .digest('hex');
  const memoFile =
    memoDir === undefined
      ? undefined
      : join(memoDir, `tree-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}.json`);
  const known = treeHashes.get(dir) ?? readMemo(memoFile);
  if (known?.stamp === stamp) return known.sha256;
  const h = createHash('sha256');
  for (const e of entries) {
    h.update(e.kind === 'f' ? `f ${e.rel} ${fileSha256(join(dir, e.rel))}\n` : `${e.stampLine}\n`);
  }
  const sha256 = h.digest('hex');
  treeHashes.set(dir, { stamp, sha256 });
  if (memoFile !== undefined) writeMemo(memoFile, { stamp, sha256 });
  return sha256;
}

function readMemo(file: string | undefined): { stamp: string; sha256: string } | undefined {
  if (file === undefined) return undefined;
  try {
    const m = JSON.parse(readFileSync(file, 'utf8')) as { stamp?: unknown; sha256?: unknown };
    return typeof m.stamp === 'string' && typeof m.sha256 === 'string'
      ? { stamp: m.stamp, sha256: m.sha256 }
      : undefined;
  } catch {
    return undefined;
  }
}

function writeMemo(file: string, m: { stamp: string; sha256: string }): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(m)}\n`);
    renameSync(tmp, file);
  } catch {
    // a memo is an optimisation: a read-only cache only costs time
  }
}

/** The first BOOT_HEADER_BYTES of a file. */
function readHead(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(BOOT_HEADER_BYTES);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0));
  } finally {
    closeSync(fd);
  }
}

/** `uname -r` of a bzImage file. InfraError (naming the file) when it is not an x86 bzImage or carries no version. */
export function readKernelRelease(bzImage: string): string {
  let head: Buffer;
  try {
    head = readHead(bzImage);
  } catch (e) {
    throw new InfraError(`kernel: cannot read ${bzImage}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const problem = bootHeaderProblem(head);
  if (problem !== undefined) throw new InfraError(`kernel: ${bzImage} is not an x86 bzImage (${problem})`);
  const release = kernelReleaseFromHeader(head);
  if (release === undefined) throw new InfraError(`kernel: ${bzImage} carries no kernel version string`);
  return release;
}

const readConfig = (path: string): string | undefined => {
  try {
    if (!statSync(path).isFile()) return undefined;
    const text = readFileSync(path, 'latin1');
    return looksLikeKernelConfig(text) ? text : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The .config of a kernel: `config` when given (InfraError if it is not a kernel config or belongs to another major.
 * minor), else the first of: config-<release> next to the bzImage (Debian's boot/, a kernel hibfuzz built), .config or
 * config next to it, and for a build tree (arch/x86/boot/bzImage) the tree's .config. Undefined when none fits.
 */
export function findKernelConfig(bzImage: string, release: string, config?: string): string | undefined {
  if (config !== undefined) {
    const text = readConfig(config);
    if (text === undefined) throw new InfraError(`--config ${config}: not a kernel .config`);
    const bad = configMismatch(text, release);
    if (bad !== undefined) throw new InfraError(`--config ${config}: ${bad}`);
    return config;
  }
  const dir = dirname(bzImage);
  const candidates = [join(dir, `config-${release}`), join(dir, '.config'), join(dir, 'config')];
  if (basename(bzImage) === 'bzImage' && /\/arch\/x86(_64)?\/boot$/.test(dir)) {
    candidates.push(join(dir, '..', '..', '..', '.config'));
  }
  return candidates.find((c) => {
    const text = readConfig(c);
    return text !== undefined && configMismatch(text, release) === undefined;
  });
}

/** What hibfuzz knows of a kernel from its files (vm/backend.ts KernelIdentity without spec, version, protocol). */
export interface KernelFacts {
  readonly release: string;
  readonly bzImageSha256: string;
  readonly modulesSha256?: string;
  /** the .config the capabilities were read from */
  readonly configPath?: string;
  readonly configSha256?: string;
  readonly capabilities: readonly Capability[];
  readonly capabilitySource: CapabilitySource;
}

/**
 * Facts of a kernel: release from the bzImage header, content hashes (the modules tree's memoised in `memoDir`,
 * default $HIBFUZZ_CACHE/hashes), capabilities from its .config (`config`, or found by findKernelConfig). Without a .config: `capabilitySource: 'probe'` and no capabilities, never a guess.
 */
export async function kernelFacts(
  bzImage: string,
  modulesDir: string | undefined,
  opts: { readonly config?: string; readonly memoDir?: string } = {},
): Promise<KernelFacts> {
  const release = readKernelRelease(bzImage);
  const configPath = findKernelConfig(bzImage, release, opts.config);
  const base = {
    release,
    bzImageSha256: fileSha256(bzImage),
    ...(modulesDir === undefined
      ? {}
      : { modulesSha256: treeSha256(modulesDir, opts.memoDir ?? join(cacheRoot(), 'hashes')) }),
  };
  if (configPath === undefined) return { ...base, capabilities: [], capabilitySource: 'probe' };
  const cfg = parseKernelConfig(readFileSync(configPath, 'latin1'));
  return {
    ...base,
    configPath,
    configSha256: fileSha256(configPath),
    capabilities: capabilitiesFromConfig(cfg, { modulesAvailable: modulesDir !== undefined }),
    capabilitySource: 'config',
  };
}
