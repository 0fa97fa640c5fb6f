// kjump guest initramfs: busybox + kexec-tools (with its shared libraries) + the static hibkj helper + /init;
// A's initrd also carries /boot/bzImage and /boot/initrd-b.gz (B boots the same kernel). Cached by content hash.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { InfraError } from '../errors.ts';
import { buildHibfused, type CpioEntry, dirEntry, fileEntry, symlinkEntry, writeNewc } from '../initramfs.ts';

const run = promisify(execFile);

const HIBKJ_SRC = new URL('./guest/hibkj.c', import.meta.url).pathname;
/** `hibkj target`: the swap file's extents or the dm-crypt volume as one device-mapper node (issue 11) */
const TARGET_SRC = new URL('./guest/target.c', import.meta.url).pathname;
const INIT_SRC = new URL('./guest/init.sh', import.meta.url).pathname;
const BUSYBOX = '/bin/busybox';
const KEXEC = '/sbin/kexec';

export interface KjumpInitrds {
  /** initrd for A (also carries B's kernel and initrd) */
  readonly a: string;
  /** initrd for B and for the cold-boot restore kernel C */
  readonly b: string;
}

/** Shared-library paths from `ldd` output (lines `name => /path (addr)` and `/lib64/ld-linux... (addr)`). */
export function parseLdd(out: string): string[] {
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)\s+\(/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1] !== undefined) libs.push(m[1]);
  }
  return libs;
}

const hashOf = (bufs: readonly Buffer[]): string => {
  const h = createHash('sha256');
  for (const b of bufs) h.update(createHash('sha256').update(b).digest());
  return h.digest('hex').slice(0, 16);
};

/** Compile hibkj (gcc -static against libc6-dev's libc.a), once per source hash. */
export async function buildHibkj(cacheDir: string): Promise<string> {
  const out = join(cacheDir, 'kjump', 'bin', `hibkj-${hashOf([readFileSync(HIBKJ_SRC), readFileSync(TARGET_SRC)])}`);
  if (existsSync(out)) return out;
  mkdirSync(join(cacheDir, 'kjump', 'bin'), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    await run('gcc', ['-O2', '-static', '-Wall', '-o', tmp, HIBKJ_SRC, TARGET_SRC]);
  } catch (e) {
    throw new InfraError(`building hibkj failed (run vm/kjump/setup-build.sh): ${String(e).split('\n')[0]}`);
  }
  renameSync(tmp, out);
  return out;
}

async function kexecFiles(): Promise<CpioEntry[]> {
  if (!existsSync(KEXEC)) throw new InfraError(`${KEXEC} missing (run vm/kjump/setup-build.sh)`);
  const r = await run('ldd', [KEXEC]).catch(() => ({ stdout: '' }));
  const entries: CpioEntry[] = [fileEntry('sbin/kexec', readFileSync(KEXEC), 0o755)];
  for (const lib of parseLdd(r.stdout)) {
    entries.push(fileEntry(lib.replace(/^\//, ''), readFileSync(realpathSync(lib)), 0o755));
  }
  return entries;
}

function cachedGzip(cacheDir: string, name: string, entries: readonly CpioEntry[]): string {
  const dir = join(cacheDir, 'kjump', 'initrd');
  mkdirSync(dir, { recursive: true });
  const hash = hashOf(
    entries.map((e) => Buffer.concat([Buffer.from(`${e.name}\0${e.mode}\0`), e.data ?? Buffer.alloc(0)])),
  );
  const out = join(dir, `${name}-${hash}.cpio.gz`);
  if (existsSync(out)) return out;
  const tmp = `${out}.tmp-${process.pid}`;
  writeFileSync(tmp, gzipSync(writeNewc(entries), { level: 6 }));
  renameSync(tmp, out);
  return out;
}

/**
 * Build (or reuse) the A and B initrds for a bzImage. `fuse`: with the project's FUSE server (vm/guest/hibfused.c) as
 * /bin/hibfused, for the fuseFile target (each of A, B and C runs its own instance over the disk).
 */
export async function buildKjumpInitrds(
  bzImage: string,
  cacheDir: string,
  opts: { readonly fuse?: boolean } = {},
): Promise<KjumpInitrds> {
  if (!existsSync(BUSYBOX)) throw new InfraError(`${BUSYBOX} missing (run vm/kjump/setup-build.sh)`);
  const hibkj = readFileSync(await buildHibkj(cacheDir));
  const fused =
    opts.fuse === true ? [fileEntry('bin/hibfused', readFileSync(await buildHibfused(cacheDir)), 0o755)] : [];
  const dirs = [
    'bin',
    'sbin',
    'dev',
    'proc',
    'sys',
    'tmp',
    'boot',
    'lib',
    'lib64',
    'lib/x86_64-linux-gnu',
    'usr',
    'usr/bin',
  ];
  const base: CpioEntry[] = [
    ...dirs.map(dirEntry),
    fileEntry('bin/busybox', readFileSync(BUSYBOX), 0o755),
    symlinkEntry('bin/sh', 'busybox'),
    fileEntry('init', readFileSync(INIT_SRC), 0o755),
    fileEntry('bin/hibkj', hibkj, 0o755),
    ...fused,
    ...(await kexecFiles()),
  ];
  const b = cachedGzip(cacheDir, 'b', base);
  const a = cachedGzip(cacheDir, 'a', [
    ...base,
    fileEntry('boot/bzImage', readFileSync(bzImage)),
    fileEntry('boot/initrd-b.gz', readFileSync(b)),
  ]);
  return { a, b };
}
