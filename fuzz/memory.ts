// How much memory a scenario needs on the model, estimated before running it, and the limit it must stay under:
// a schema-valid scenario (16 Mi pages, 64 steps) needs tens of GiB, and the OOM killer says nothing. A scenario
// over the limit is refused with one line naming the limit and the flags that move it (--max-rss, --max-mem-pages).
//
// The estimate is an upper bound fitted to measured peak RSS (`/usr/bin/time -f %M hibfuzz replay F`, 2026-12-02;
// swsusp and kexec, 16 Ki to 2 Mi pages, 1 to 12 hibernate/resume cycles, 2 Mi-page machines and 4 Mi-page swap):
// about 105 MiB for node and the code, 28 B per page to build the machine, 26 B per storage page, and 25 to 30 B
// per page for each hibernate, resume or noresume boot (the monitors' snapshots of memory and storage, kept for the
// whole run; the reliability review measured 1.1 GB per cycle at 16 Mi pages). Each figure is rounded up.
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import type { Scenario } from '../spec/index.ts';
import { parseSize } from './args.ts';
import { value } from './cli-kit.ts';

const BASE_BYTES = 128 * 2 ** 20;
const MACHINE_BYTES_PER_PAGE = 32;
const STORAGE_BYTES_PER_PAGE = 32;
const SNAPSHOT_BYTES_PER_PAGE = 40;
/** Without --max-rss: this share of the machine's memory (or of the cgroup's limit, when lower). */
const DEFAULT_SHARE = 0.9;

/** Steps that make the model keep snapshots of memory and storage. */
const SNAPSHOT_OPS = new Set<Scenario['steps'][number]['op']>(['hibernate', 'resume', 'bootNoresume']);

export interface MemoryNeed {
  readonly bytes: number;
  readonly pages: number;
  readonly snapshotSteps: number;
}

/** Peak RSS of running `s` on the model, an upper bound. */
export function estimateMemory(s: Scenario): MemoryNeed {
  let pages = s.machine.memPages;
  for (const st of s.steps) if (st.op === 'resume' && st.memPages !== undefined) pages = Math.max(pages, st.memPages);
  const snapshotSteps = s.steps.filter((st) => SNAPSHOT_OPS.has(st.op)).length;
  return { bytes: memoryBytes(pages, s.storage.pages, snapshotSteps), pages, snapshotSteps };
}

/** The estimate itself: a machine of `pages`, swap of `storagePages`, `snapshotSteps` hibernate/resume steps. */
export function memoryBytes(pages: number, storagePages: number, snapshotSteps: number): number {
  return (
    BASE_BYTES +
    pages * (MACHINE_BYTES_PER_PAGE + SNAPSHOT_BYTES_PER_PAGE * snapshotSteps) +
    storagePages * STORAGE_BYTES_PER_PAGE
  );
}

export interface MemoryLimit {
  readonly bytes: number;
  /** where the limit comes from, for the refusal line */
  readonly source: string;
}

/** A byte count for people: MiB below 1 GiB, GiB with one decimal above. */
export const gib = (b: number): string =>
  b < 2 ** 30 ? `${Math.ceil(b / 2 ** 20)} MiB` : `${(b / 2 ** 30).toFixed(1)} GiB`;

/** The memory limits of this process's cgroups (v2 memory.max up the path, v1 memory.limit_in_bytes). */
function cgroupLimit(): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return undefined;
  }
  const limits: number[] = [];
  const add = (file: string) => {
    try {
      const v = Number(readFileSync(file, 'utf8').trim());
      if (Number.isFinite(v) && v > 0 && v < 2 ** 60) limits.push(v);
    } catch {
      // no such controller file: no limit there
    }
  };
  for (const line of text.split('\n')) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (path === undefined) continue;
    const parts = path.split('/').filter((x) => x !== '');
    for (let i = 0; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (controllers === '') add(`/sys/fs/cgroup/${dir}/memory.max`);
      else if (controllers?.split(',').includes('memory')) add(`/sys/fs/cgroup/memory/${dir}/memory.limit_in_bytes`);
    }
  }
  return limits.length > 0 ? Math.min(...limits) : undefined;
}

/** `--max-rss` when given, else 90% of the machine's memory or of the cgroup limit, whichever is lower. */
export function memoryLimit(maxRss: number | undefined): MemoryLimit {
  if (maxRss !== undefined) return { bytes: maxRss, source: '--max-rss' };
  const total = totalmem();
  const cg = cgroupLimit();
  const [bytes, what] =
    cg !== undefined && cg < total ? [cg, 'the cgroup memory limit'] : [total, "this machine's memory"];
  return { bytes: Math.floor(bytes * DEFAULT_SHARE), source: `${DEFAULT_SHARE * 100}% of ${what}, ${gib(bytes)}` };
}

/** The limit of a command's `--max-rss SIZE` flag (a bad size is a usage error). */
export const memoryLimitFlag = (maxRss: string | undefined): MemoryLimit =>
  memoryLimit(maxRss !== undefined ? value(parseSize('max-rss', maxRss)) : undefined);

/** One line when `s` would need more than the limit; undefined when it fits. */
export function memoryRefusal(s: Scenario, limit: MemoryLimit): string | undefined {
  const need = estimateMemory(s);
  if (need.bytes <= limit.bytes) return undefined;
  return (
    `needs about ${gib(need.bytes)} of memory on the model (${need.pages} pages, ${need.snapshotSteps} hibernate/resume steps), ` +
    `over the limit of ${gib(limit.bytes)} (${limit.source}): raise it with --max-rss SIZE or run a smaller machine`
  );
}
