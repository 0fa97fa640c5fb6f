// kjump storage targets (issue 11): what the save kernel B writes the image to, and how the host reads it back
// independently of the guest. Pure: run.ts does the I/O (debugfs, the disk file).
//
//   swapPartition  raw       the virtio disk itself (the container header at page 0)
//   swapFile       file      a file on an ext4 filesystem A makes on the disk (busybox mke2fs, the swsusp runner's
//                            parameters) and keeps mounted; A writes its record through the file, B and C mount the
//                            filesystem read-only, take the file's extents (FIEMAP) and write and read those blocks
//                            through a device-mapper linear table (guest/target.c): the filesystem's metadata is
//                            never written outside A. The host reads the file's blocks from its own reading of the
//                            filesystem (Debian's debugfs `stat`), not from the guest's report.
//   dmCrypt        crypt     a plain dm-crypt volume over the whole disk, the swsusp runner's format and key
//                            (vm/image/dmcrypt.ts: aes-xts-plain64, 4 KiB sectors, the scenario's 512-bit key),
//                            opened by A, B (the key handed over on its command line) and C (the key per
//                            keyAtResume: same, wrong = another key, missing = none: C refuses, keyUnavailable).
//                            The host decrypts with vm/image/dmcrypt.ts (node:crypto), page by page.
//   fuseFile       fuse      a file on a FUSE filesystem served by the project's own server (vm/guest/hibfused.c) over
//                            bytes [0, container) of the disk. A's server is frozen with A when A jumps, so B runs its
//                            own instance on the same backing store (the proposal: the save kernel re-initializes what
//                            it needs), and so does C; every read and write goes through the FUSE file (direct I/O).
//                            The host reads the backing range of the disk, which the file is by construction.
import type { Scenario } from '../../spec/scenario/schema.ts';
import { DMCRYPT_CIPHER, decryptPage, dmCryptKey, encryptPage } from '../image/dmcrypt.ts';
import type { Extent } from '../image/extents.ts';
import { swapFileDiskPages } from '../swapfile.ts';

const PG = 4096;

export const TARGET_OF = {
  dmCrypt: 'crypt',
  fuseFile: 'fuse',
  swapFile: 'file',
  swapPartition: 'raw',
} as const satisfies Record<Scenario['storage']['kind'], string>;
export type TargetKind = (typeof TARGET_OF)[keyof typeof TARGET_OF];

/** The swap file's path inside A's filesystem (mounted at /mnt in every role). */
export const TARGET_FILE = '/hibkj.img';

/** What a kjump run needs to know about its target. */
export interface TargetPlan {
  readonly kind: TargetKind;
  /** pages of the virtio disk QEMU gets (the filesystem around the file: more than the container) */
  readonly physicalPages: number;
  /** dm-crypt: the 512-bit key in hex (A and B), and the key C is given (undefined: none) */
  readonly key?: string;
  readonly keyAtResume?: string;
}

/** The scenario's dm-crypt key in hex (vm/image/dmcrypt.ts dmCryptKey; wrong: another key of the same scenario). */
export const cryptKey = (s: Pick<Scenario, 'id' | 'seed'>, wrong = false): string =>
  dmCryptKey(s.id, s.seed, wrong ? 'wrong' : 'right').toString('hex');

/** The target of a scenario whose container is `containerPages` pages. */
export function targetPlan(s: Scenario, containerPages: number): TargetPlan {
  const kind = TARGET_OF[s.storage.kind];
  if (kind === 'file') return { kind, physicalPages: swapFileDiskPages(containerPages) };
  if (kind === 'raw' || kind === 'fuse') return { kind, physicalPages: containerPages };
  const key = cryptKey(s);
  const atResume = s.storage.keyAtResume;
  return {
    kind,
    physicalPages: containerPages,
    key,
    ...(atResume === 'missing' ? {} : { keyAtResume: atResume === 'wrong' ? cryptKey(s, true) : key }),
  };
}

/** Kernel command-line words of A (B inherits every hibkj.* word) for the target. */
export function targetWords(t: TargetPlan, containerPages: number): string[] {
  if (t.kind === 'raw') return [];
  const w = [`hibkj.target=${t.kind}`, `hibkj.tpages=${containerPages}`];
  return t.key === undefined ? w : [...w, `hibkj.key=${t.key}`];
}

/** C's words: the same target, with the key it is given at resume (none when missing). */
export function restoreTargetWords(t: TargetPlan, containerPages: number): string[] {
  if (t.kind === 'raw') return [];
  const w = [`hibkj.target=${t.kind}`, `hibkj.tpages=${containerPages}`];
  return t.kind === 'crypt' && t.keyAtResume !== undefined ? [...w, `hibkj.key=${t.keyAtResume}`] : w;
}

/**
 * A file's data blocks from debugfs `stat` output ("BLOCKS:" then "(0-11):48-59, (IND):60, (12):61, ..."; one block
 * is one page with mke2fs -b 4096), as merged extents; metadata blocks ((IND), (DIND), (TIND), (ETB...)) are skipped.
 * undefined when there is no BLOCKS section or an entry does not parse.
 */
export function parseDebugfsBlocks(stat: string): Extent[] | undefined {
  const m = /(?:^|\n)BLOCKS:\n([\s\S]*?)(?:\nTOTAL: \d+|\n*$)/.exec(stat);
  if (m?.[1] === undefined) return undefined;
  const out: Extent[] = [];
  for (const raw of m[1].split(/,\s*/)) {
    const part = raw.trim();
    if (part === '') continue;
    if (/^\([A-Z][A-Z0-9]*\):\d+(-\d+)?$/.test(part)) continue; // (IND):60, (ETB0):1234
    const e = /^\((\d+)(?:-(\d+))?\):(\d+)(?:-(\d+))?$/.exec(part);
    if (e === null) return undefined;
    const l0 = Number(e[1]);
    const l1 = e[2] === undefined ? l0 : Number(e[2]);
    const p0 = Number(e[3]);
    const p1 = e[4] === undefined ? p0 : Number(e[4]);
    if (l1 - l0 !== p1 - p0 || l1 < l0) return undefined;
    const last = out[out.length - 1];
    if (last !== undefined && last.logical + last.pages === l0 && last.physical + last.pages === p0) {
      out[out.length - 1] = { ...last, pages: last.pages + l1 - l0 + 1 };
    } else out.push({ logical: l0, physical: p0, pages: l1 - l0 + 1 });
  }
  return out;
}

/** Pages [0, n) of the file that its extents do not cover (the first one), or undefined when all are. */
export function firstUncovered(extents: readonly Extent[], n: number): number | undefined {
  let covered = 0;
  for (const e of [...extents].sort((a, b) => a.logical - b.logical)) {
    if (e.logical > covered) break;
    covered = Math.max(covered, e.logical + e.pages);
  }
  return covered >= n ? undefined : covered;
}

/** Read `count` pages of a physical device starting at `page`. */
export type Pages = (page: number, count: number) => Buffer;

/** The disk page of file page `page` and how many pages of its extent follow it (itself included). */
export function physicalRun(extents: readonly Extent[], page: number): { at: number; run: number } | undefined {
  const e = extents.find((x) => page >= x.logical && page < x.logical + x.pages);
  return e === undefined ? undefined : { at: e.physical + page - e.logical, run: e.logical + e.pages - page };
}

/** The file's pages through its extents (each read split at extent boundaries). Throws on a page outside them. */
export function throughExtents(disk: Pages, extents: readonly Extent[]): Pages {
  return (page, count) => {
    const parts: Buffer[] = [];
    for (let p = page; p < page + count; ) {
      const r = physicalRun(extents, p);
      if (r === undefined) throw new RangeError(`file page ${p} is in no extent`);
      const n = Math.min(r.run, page + count - p);
      parts.push(disk(r.at, n));
      p += n;
    }
    return Buffer.concat(parts);
  };
}

/** The guest's dm-crypt table parameters over `disk` (guest/target.c loads them): the swsusp runner's format. */
export const cryptTableFormat = `${DMCRYPT_CIPHER} KEY 0 DISK 0 1 sector_size:4096`;

/** One page of the volume, encrypted as the kernel's mapping writes it (`page` is its index on the volume). */
export const encryptedPage = (key: string, page: number, data: Buffer): Buffer =>
  Buffer.from(encryptPage(Buffer.from(key, 'hex'), page, data));

/** The decrypted pages of the plain dm-crypt volume over the whole disk. */
export function throughCrypt(disk: Pages, key: string): Pages {
  const k = Buffer.from(key, 'hex');
  return (page, count) => {
    const raw = disk(page, count);
    const parts: Buffer[] = [];
    for (let i = 0; i < count; i++)
      parts.push(Buffer.from(decryptPage(k, page + i, raw.subarray(i * PG, (i + 1) * PG))));
    return Buffer.concat(parts);
  };
}
