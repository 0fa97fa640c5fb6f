// Guest initramfs builder: busybox + agent (musl static) + the kernel's virtio modules (+ a storage target's drivers and
// hibfused), as gzip'd cpio newc, cached by content hash.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { InfraError } from './errors.ts';
import type { Kernel } from './kernels.ts';
import { cacheRoot } from './kernels.ts';

const run = promisify(execFile);

/** Drivers the guest needs for its swap disk (`-drive if=virtio`); their dependencies come from modules.dep. */
export const GUEST_MODULE_ROOTS = ['virtio_pci', 'virtio_blk'] as const;
/** Loaded when the kernel has them as modules: lz4 (crypto API) for `hibernate.compressor=lz4` on 6.9+. */
export const OPTIONAL_MODULE_ROOTS = ['lz4'] as const;
/**
 * The swap-file target's filesystem (vm/swapfile.ts): ext4 (which mounts ext2) and the crc32c it asks the crypto API
 * for at mount (crc32c-intel needs SSE4.2, which TCG's CPU lacks). In their own directory, loaded by init.sh only
 * when the boot makes the filesystem, and removed from the rootfs after loading (their pages are freed).
 */
export const FS_MODULE_ROOTS = ['crc32c_generic', 'ext4'] as const;
/** The FUSE target's driver (a module on 6.1, built in on 6.12: skipped through modules.builtin). */
export const FUSE_MODULE_ROOTS = ['fuse'] as const;
/**
 * The dm-crypt target (image/dmcrypt.ts): device mapper, dm-crypt and the templates of its aes-xts-plain64 table:
 * xts over ecb(aes) (AES is built in on both Debian lines; ecb is a module on 6.1, built in on 6.12, xts a module on
 * both). There is no modprobe in the guest, so each is loaded before the table ("Error allocating crypto tfm
 * (-ENOENT)" otherwise, seen on 6.1).
 */
export const DMCRYPT_MODULE_ROOTS = ['dm_mod', 'dm_crypt', 'ecb', 'xts'] as const;

export interface InitramfsOptions {
  /** add the filesystem modules (FS_MODULE_ROOTS) under /modules-fs: another initramfs (its own hash) */
  readonly fs?: boolean;
  /** add /hibfused (guest/hibfused.c) and the fuse module (6.1: =m) under /modules-fs: the FUSE storage target */
  readonly fuse?: boolean;
  /** add dm-crypt (DMCRYPT_MODULE_ROOTS) under /modules-fs: the dm-crypt storage target */
  readonly dmCrypt?: boolean;
}

const AGENT_SRC = new URL('./guest/agent.c', import.meta.url).pathname;
const INIT_SRC = new URL('./guest/init.sh', import.meta.url).pathname;
const HIBFUSED_SRC = new URL('./guest/hibfused.c', import.meta.url).pathname;
const BUSYBOX = '/bin/busybox';

////////    pure: module order    ////////

/** Module name of a modules.dep path: kernel/drivers/virtio/virtio-pci.ko.xz -> virtio_pci */
export const moduleName = (path: string): string =>
  basename(path)
    .replace(/\.ko(\.[a-z]+)?$/, '')
    .replace(/-/g, '_');

/**
 * Load order for `roots`: each module after its dependencies. modules.dep lists a module's dependencies so that the
 * last one is loaded first (modprobe walks the list backwards), so we visit them in reverse. Built-in modules
 * (modules.builtin) and roots missing from both files are skipped; a missing root is returned in `missing`.
 */
export function moduleLoadOrder(
  modulesDep: string,
  modulesBuiltin: string,
  roots: readonly string[],
): { order: string[]; missing: string[] } {
  const deps = new Map<string, { path: string; deps: string[] }>();
  for (const line of modulesDep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const ds = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter((d) => d !== '');
    deps.set(moduleName(path), { path, deps: ds });
  }
  const builtin = new Set(
    modulesBuiltin
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(moduleName),
  );
  const order: string[] = [];
  const seen = new Set<string>();
  const missing: string[] = [];
  const visit = (name: string, stack: Set<string>): void => {
    if (seen.has(name) || builtin.has(name) || stack.has(name)) return;
    const m = deps.get(name);
    if (m === undefined) {
      missing.push(name);
      return;
    }
    stack.add(name);
    for (const d of [...m.deps].reverse()) visit(moduleName(d), stack);
    stack.delete(name);
    seen.add(name);
    order.push(m.path);
  };
  for (const r of roots) visit(r.replace(/-/g, '_'), new Set());
  return { order, missing };
}

////////    pure: cpio newc    ////////

export interface CpioEntry {
  readonly name: string;
  /** full st_mode (type and permission bits), e.g. 0o100755 for an executable file */
  readonly mode: number;
  readonly data?: Buffer;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
export const dirEntry = (name: string): CpioEntry => ({ name, mode: S_IFDIR | 0o755 });
export const fileEntry = (name: string, data: Buffer, perm = 0o644): CpioEntry => ({
  name,
  mode: S_IFREG | perm,
  data,
});
export const symlinkEntry = (name: string, target: string): CpioEntry => ({
  name,
  mode: S_IFLNK | 0o777,
  data: Buffer.from(target),
});

/**
 * SVR4 "newc" archive (magic 070701): per entry a 110-byte ASCII header of 13 eight-digit hex fields, the NUL-terminated
 * name padded to 4 bytes, the data padded to 4 bytes; ends with the TRAILER!!! entry. Deterministic: mtime 0, uid 0.
 */
export function writeNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  let ino = 1;
  const put = (name: string, mode: number, data: Buffer) => {
    const hex = (n: number) => n.toString(16).padStart(8, '0');
    const nameBuf = Buffer.from(`${name}\0`);
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBuf.length, 0];
    const header = Buffer.from(`070701${fields.map(hex).join('')}`, 'latin1');
    parts.push(header, nameBuf, pad4(header.length + nameBuf.length), data, pad4(data.length));
  };
  for (const e of entries) put(e.name, e.mode, e.data ?? Buffer.alloc(0));
  put('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

////////    I/O    ////////

/** Compile one guest program (static, musl) once per source hash: `<cache>/agent/<name>-<hash>`. */
async function buildGuestProgram(name: string, srcPath: string, cacheDir: string): Promise<string> {
  const src = readFileSync(srcPath);
  const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
  const out = join(cacheDir, 'agent', `${name}-${hash}`);
  if (existsSync(out)) return out;
  mkdirSync(join(cacheDir, 'agent'), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    await run('musl-gcc', ['-static', '-O2', '-Wall', '-o', tmp, srcPath]);
  } catch (e) {
    throw new InfraError(`building the guest ${name} failed (run vm/setup.sh): ${String(e).split('\n')[0]}`);
  }
  renameSync(tmp, out);
  return out;
}

/** Compile the agent (static, musl) once per source hash. */
export const buildAgent = (cacheDir = cacheRoot()): Promise<string> => buildGuestProgram('agent', AGENT_SRC, cacheDir);

/**
 * Compile hibfused (guest/hibfused.c: the FUSE server of one file backed by a block device range) once per source
 * hash; a static binary for any initramfs (the swsusp guest's /hibfused, the kexec save kernel's).
 * Usage in the guest: `hibfused [-f] BACKING OFFSET SIZE MOUNTPOINT [NAME]` (see the source's header).
 */
export const buildHibfused = (cacheDir = cacheRoot()): Promise<string> =>
  buildGuestProgram('hibfused', HIBFUSED_SRC, cacheDir);

async function readModule(path: string): Promise<Buffer> {
  if (path.endsWith('.ko')) return readFileSync(path);
  if (path.endsWith('.ko.gz')) return gunzipSync(readFileSync(path));
  const tool = path.endsWith('.ko.xz') ? 'xz' : path.endsWith('.ko.zst') ? 'zstd' : undefined;
  if (tool === undefined) throw new InfraError(`initramfs: unknown module compression: ${path}`);
  const r = await run(tool, ['-dc', path], { encoding: 'buffer', maxBuffer: 1 << 28 });
  return r.stdout;
}

/**
 * The initramfs for a kernel (its virtio modules), cached under `<cache>/initramfs/<hash>.cpio.gz` where the hash
 * covers every byte that goes in. Returns the path.
 */
export async function buildInitramfs(
  kernel: Kernel,
  cacheDir = cacheRoot(),
  opts: InitramfsOptions = {},
): Promise<string> {
  const agent = readFileSync(await buildAgent(cacheDir));
  if (!existsSync(BUSYBOX)) throw new InfraError(`initramfs: ${BUSYBOX} missing (run vm/setup.sh)`);
  const busybox = readFileSync(BUSYBOX);
  const init = readFileSync(INIT_SRC);
  const mods: { name: string; data: Buffer }[] = [];
  const fsMods: { name: string; data: Buffer }[] = [];
  if (kernel.modulesDir !== undefined) {
    const dep = readFileSync(join(kernel.modulesDir, 'modules.dep'), 'utf8');
    const builtinPath = join(kernel.modulesDir, 'modules.builtin');
    const builtin = existsSync(builtinPath) ? readFileSync(builtinPath, 'utf8') : '';
    const { order, missing } = moduleLoadOrder(dep, builtin, GUEST_MODULE_ROOTS);
    if (missing.length > 0) throw new InfraError(`initramfs: ${kernel.spec} lacks modules ${missing.join(', ')}`);
    const optional = moduleLoadOrder(dep, builtin, OPTIONAL_MODULE_ROOTS).order.filter((p) => !order.includes(p));
    order.push(...optional);
    for (const p of order)
      mods.push({ name: `${moduleName(p)}.ko`, data: await readModule(join(kernel.modulesDir, p)) });
    const fsRoots = [
      ...(opts.fs === true ? FS_MODULE_ROOTS : []),
      ...(opts.fuse === true ? FUSE_MODULE_ROOTS : []),
      ...(opts.dmCrypt === true ? DMCRYPT_MODULE_ROOTS : []),
    ];
    if (fsRoots.length > 0) {
      const fs = moduleLoadOrder(dep, builtin, fsRoots);
      if (fs.missing.length > 0)
        throw new InfraError(`initramfs: ${kernel.spec} lacks modules ${fs.missing.join(', ')}`);
      for (const p of fs.order.filter((q) => !order.includes(q)))
        fsMods.push({ name: `${moduleName(p)}.ko`, data: await readModule(join(kernel.modulesDir, p)) });
    }
  }
  // no modules tree: a storage target's drivers are built in (vm/backends.ts refuses a target whose driver the
  // kernel's .config has neither =y nor =m with modules available), and init loads none
  const hibfused = opts.fuse === true ? readFileSync(await buildHibfused(cacheDir)) : undefined;
  const h = createHash('sha256');
  for (const b of [agent, busybox, init]) h.update(b);
  for (const m of mods) h.update(m.name).update(m.data);
  for (const m of fsMods) h.update(`fs/${m.name}`).update(m.data);
  if (hibfused !== undefined) h.update('hibfused').update(hibfused);
  const hash = h.digest('hex').slice(0, 16);
  const out = join(cacheDir, 'initramfs', `${hash}.cpio.gz`);
  if (existsSync(out)) return out;
  mkdirSync(join(cacheDir, 'initramfs'), { recursive: true });
  const entries: CpioEntry[] = [
    dirEntry('bin'),
    dirEntry('dev'),
    dirEntry('modules'),
    fileEntry('bin/busybox', busybox, 0o755),
    symlinkEntry('bin/sh', 'busybox'),
    fileEntry('init', init, 0o755),
    fileEntry('agent', agent, 0o755),
    ...(hibfused === undefined ? [] : [fileEntry('hibfused', hibfused, 0o755)]),
    fileEntry('modules.order', Buffer.from(mods.map((m) => `${m.name}\n`).join(''))),
    ...mods.map((m) => fileEntry(`modules/${m.name}`, m.data)),
    ...(fsMods.length === 0
      ? []
      : [
          dirEntry('modules-fs'),
          fileEntry('modules-fs.order', Buffer.from(fsMods.map((m) => `${m.name}\n`).join(''))),
          ...fsMods.map((m) => fileEntry(`modules-fs/${m.name}`, m.data)),
        ]),
  ];
  const tmp = `${out}.tmp-${process.pid}`;
  writeFileSync(tmp, gzipSync(writeNewc(entries), { level: 1 }));
  renameSync(tmp, out);
  return out;
}
