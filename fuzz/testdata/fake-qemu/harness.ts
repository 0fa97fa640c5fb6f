// Test harness around the fake QEMU: a PATH with it first, a fresh HIBFUZZ_CACHE, kernels given as a path (a
// synthetic x86 boot header with the fake's marker, and a .config next to it), and the real CLI as a child process.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kernelLineOf, syntheticBootHeader } from '../../../vm/identity.ts';
import { FAKE_GUEST_PAGES, FAKE_KERNEL_MARKER } from './guest.ts';

const HERE = new URL('.', import.meta.url).pathname;
export const ROOT = join(HERE, '..', '..', '..');
export const FAKE_QEMU = join(HERE, 'qemu-system-x86_64');
export const SCENARIOS = join(HERE, 'scenarios');

/** The initramfs builder packs the host's busybox (vm/initramfs.ts); without it no VM run gets to QEMU. */
export const HAS_BUSYBOX = existsSync('/bin/busybox');

export interface FakeLab {
  readonly dir: string;
  /** environment for the CLI: PATH with the fake first, HIBFUZZ_CACHE of its own, TCG, no fast mode */
  readonly env: NodeJS.ProcessEnv;
  readonly cache: string;
  readonly work: (name: string) => string;
}

/**
 * A fresh lab: the fake first on PATH, an empty cache holding a stand-in for the guest agent (the fake never runs
 * it, so musl-gcc is not needed), HIBFUZZ_VM_FAST=0 unless `fast`.
 */
const labs: string[] = [];

/** Remove every lab this process made (afterAll of each test file). */
export function removeLabs(): void {
  for (const d of labs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function fakeLab(opts: { readonly fast?: boolean; readonly env?: NodeJS.ProcessEnv } = {}): FakeLab {
  const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-fakeqemu-'));
  labs.push(dir);
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(FAKE_QEMU, join(bin, 'qemu-system-x86_64'));
  const cache = join(dir, 'cache');
  const agentSrc = readFileSync(join(ROOT, 'vm', 'guest', 'agent.c'));
  const agent = join(cache, 'agent', `agent-${createHash('sha256').update(agentSrc).digest('hex').slice(0, 16)}`);
  mkdirSync(join(cache, 'agent'), { recursive: true });
  writeFileSync(agent, '#!/bin/sh\n# stand-in for the guest agent: the fake QEMU plays its part\n', { mode: 0o755 });
  const env: NodeJS.ProcessEnv = {
    HOME: process.env.HOME,
    PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HIBFUZZ_CACHE: cache,
    HIBFUZZ_ACCEL: 'tcg',
    HIBFUZZ_VM_FAST: opts.fast === true ? '1' : '0',
    FAKE_QEMU_LOG: join(dir, 'fake-qemu.log'),
    ...opts.env,
  };
  return { dir, env, cache, work: (name) => join(dir, name) };
}

export const DEFAULT_CONFIG = [
  'CONFIG_HIBERNATION=y',
  'CONFIG_HIBERNATION_SNAPSHOT_DEV=y',
  'CONFIG_PM_DEBUG=y',
  'CONFIG_CRYPTO_LZO=y',
  'CONFIG_CRYPTO_LZ4=y',
  'CONFIG_MODULES=y',
];

/** What vm/baseline.ts measures for a kernel of this release through the fake (its calibration run). */
export function fakeBaseline(release: string): { slab: number; zero: number } {
  const g = FAKE_GUEST_PAGES[kernelLineOf(release)];
  return { slab: g.data, zero: g.zero };
}

/** Where vm/baseline.ts caches the measured baseline of a kernel given as a path (no modules tree). */
export const baselineFile = (cache: string, bzImage: string): string =>
  join(cache, 'baselines', `${createHash('sha256').update(readFileSync(bzImage)).digest('hex').slice(0, 16)}-none.json`);

/**
 * Record the kernel's guest baseline in the cache as its calibration run through the fake would (the control test
 * in falsepass.e2e.test.ts runs that calibration and checks it finds these figures): the kill and panic modes would
 * otherwise hit the calibration run instead of the scenario, and every test would pay one more 512 MiB hibernation.
 */
export function seedBaseline(cache: string, bzImage: string, release: string): void {
  const file = baselineFile(cache, bzImage);
  mkdirSync(join(cache, 'baselines'), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ ...fakeBaseline(release), source: 'seeded by the fake QEMU harness' })}\n`);
}

/**
 * A kernel given as a path: DIR/bzImage with an x86 boot header carrying `release`, the fake's marker and `salt`
 * (another salt: other content), and DIR/config-<release> with `config` (false: no .config). With `seed`, its guest
 * baseline is recorded in that cache (seedBaseline).
 */
export function fakeKernel(
  dir: string,
  release: string,
  opts: {
    readonly config?: readonly string[] | false;
    readonly salt?: string;
    readonly garbage?: boolean;
    readonly seed?: string;
  } = {},
): string {
  mkdirSync(dir, { recursive: true });
  const body = Buffer.from(`${opts.garbage === true ? 'not a kernel' : FAKE_KERNEL_MARKER} ${opts.salt ?? ''}\n`);
  const bz = join(dir, 'bzImage');
  writeFileSync(bz, Buffer.concat([syntheticBootHeader(`${release} (fake@hibfuzz) #1 SMP`), body]));
  if (opts.config !== false) {
    const version = /^(\d+\.\d+)/.exec(release)?.[1] ?? release;
    const lines = [`# Linux/x86 ${version}.0 Kernel Configuration`, ...(opts.config ?? DEFAULT_CONFIG)];
    writeFileSync(join(dir, `config-${release}`), `${lines.join('\n')}\n`);
  }
  if (opts.seed !== undefined) seedBaseline(opts.seed, bz, release);
  return bz;
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly out: string;
  readonly err: string;
  readonly ms: number;
  /** stopped (SIGKILL) by `untilOutput` once the output was complete */
  readonly stoppedAfterOutput: boolean;
}

/**
 * `node bin/hibfuzz.mjs ARGS` with `env`; SIGKILLed after `timeoutMs` (then code null, signal SIGKILL), or 200 ms
 * after `untilOutput(stdout so far)` first returns true.
 */
export function hibfuzz(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  opts: {
    readonly timeoutMs?: number;
    readonly onSpawn?: (c: ChildProcess) => void;
    readonly untilOutput?: (out: string) => boolean;
  } = {},
): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'hibfuzz.mjs'), ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    opts.onSpawn?.(child);
    let out = '';
    let err = '';
    let stopped = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!stopped && opts.untilOutput?.(out) === true) {
        stopped = true;
        setTimeout(() => child.kill('SIGKILL'), 200);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 75_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err, ms: Date.now() - t0, stoppedAfterOutput: stopped });
    });
  });
}

/** The `hibfuzz:` lines of a run's stderr (the CLI's one-line infrastructure report). */
export const hibfuzzLines = (err: string): string[] => err.split('\n').filter((l) => l.startsWith('hibfuzz: '));

/** The fake's log: one entry per boot (role, mode, whether it restored a snapshot, its argv). */
export function fakeBoots(lab: FakeLab): { role: string; mode: string; incoming: string | null; argv: string[] }[] {
  const f = lab.env.FAKE_QEMU_LOG;
  if (f === undefined || !existsSync(f)) return [];
  return readFileSync(f, 'utf8')
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { role: string; mode: string; incoming: string | null; argv: string[] });
}
