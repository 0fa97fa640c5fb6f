// The swap-file storage target of the swsusp runner (scenario storage.kind swapFile): the guest's filesystem layout,
// its kernel parameters and the swap file the guest reports. Pure.
//
// At the first boot the guest (guest/init.sh) makes an ext2 filesystem over the whole virtio disk with busybox
// mke2fs (-b 4096 -m 0 -i 67108864: a block per page, nothing reserved, few inodes) and mounts it (noatime,
// nodelalloc) with the ext4 driver (Debian's ext4 module, initramfs.ts FS_MODULE_ROOTS);
// the agent writes the swap file as the filesystem's first file and reports its extents (FIEMAP); mkswap + swapon;
// /sys/power/resume_offset gets the header's page before /sys/power/resume, in every boot.
//
// Where the header lands is the filesystem's choice, not ours: with these mke2fs parameters (one inode table block
// per group: superblock 0, descriptors 1, bitmaps 2-3, inode table 4, root and lost+found 5-9) the first free block
// is 10 for every disk of 20 000 to 300 000 pages (measured with the same busybox binary and dumpe2fs), and ext4
// mounted nodelalloc puts the first block of the first file there, with the same extents on 6.1.192 and 6.12.117
// for 40 000 and 65 536 pages. (With delayed allocation each line's allocator chose its own place: 6.1 page 10,
// 6.12 page 2048.) So a swap file's header is at page
// SWAPFILE_OFFSET: a scenario asking for another offset is refused (plan.ts), and the guest's report is checked
// against the scenario (run.ts): a header anywhere else is the runner's trouble (InfraError), never a substitute.
//
// The model's device is `storage.pages` pages with the header at `storage.offset` and the swap area after it: the
// swap file has pages - offset pages (the same capacity). ext4 spreads it over several extents and puts indirect
// blocks and group metadata between them, so the disk is larger than the model's device (swapFileDiskPages): the
// image is read from the physical disk (map entries are device pages) and its pages must all lie in the file.
import { z } from 'zod';
import { lineSum } from './console/events.ts';
import { type Extent, parseExtents } from './image/extents.ts';

/** The page of the swap file's header on the disk: the filesystem's first free block (see above). */
export const SWAPFILE_OFFSET = 10;
/** Smallest swap file mkswap takes (10 pages), plus the header. */
export const SWAPFILE_MIN_PAGES = 11;

/** Pages of the swap file for a scenario's storage: the header and the swap area after it. */
export const swapFilePages = (storage: { readonly pages: number; readonly offset: number }): number =>
  storage.pages - storage.offset;

/**
 * Disk size for a swap file of the scenario's storage: the model's device, plus room for what ext4 puts between the
 * file's extents (an indirect block per 1024 pages, a few per group) and the allocator's gaps.
 */
export const swapFileDiskPages = (storagePages: number): number => storagePages + Math.ceil(storagePages / 128) + 1024;

/** What the guest reported of its swap file (agent.c swapfile_main: event `swapFile`). */
export interface SwapFileReport {
  readonly path: string;
  readonly pages: number;
  /** disk page of the file's page 0 (the swap header) */
  readonly header: number;
  readonly extents: readonly Extent[];
}

const SwapFileEvent = z.object({
  ev: z.literal('swapFile'),
  path: z.string(),
  pages: z.number().int().nonnegative(),
  header: z.number().int().nonnegative(),
  extents: z.string(),
});

const PREFIX = 'HIBFUZZ ';

/**
 * The swapFile event of a boot's console (the last whole one): JSON with a matching checksum, extents that parse.
 * undefined when there is none (or it was torn).
 */
export function swapFileReport(console: string): SwapFileReport | undefined {
  let found: SwapFileReport | undefined;
  for (const line of console.split('\n')) {
    const at = line.indexOf(`${PREFIX}{"ev":"swapFile"`);
    if (at < 0) continue;
    const m = /^(\{.*\}) #([0-9a-f]{8})\s*$/.exec(line.slice(at + PREFIX.length));
    if (m === null || Number.parseInt(m[2] ?? '', 16) !== lineSum(m[1] ?? '')) continue;
    let json: unknown;
    try {
      json = JSON.parse(m[1] ?? '');
    } catch {
      continue;
    }
    const e = SwapFileEvent.safeParse(json);
    if (!e.success) continue;
    const extents = parseExtents(e.data.extents);
    if (extents === undefined) continue;
    found = { path: e.data.path, pages: e.data.pages, header: e.data.header, extents };
  }
  return found;
}

/** Why the reported swap file is not the scenario's (header page, size, the extents covering it), or undefined. */
export function swapFileMismatch(
  r: SwapFileReport,
  storage: { readonly pages: number; readonly offset: number },
): string | undefined {
  const want = swapFilePages(storage);
  if (r.header !== storage.offset)
    return `the guest's swap file header is at disk page ${r.header}, not storage.offset ${storage.offset}`;
  if (r.pages !== want) return `the guest's swap file has ${r.pages} pages, not ${want}`;
  const mapped = r.extents.reduce((n, e) => n + e.pages, 0);
  if (mapped !== want) return `the guest's swap file extents map ${mapped} pages, not ${want}`;
  const first = r.extents[0];
  if (first === undefined || first.logical !== 0 || first.physical !== r.header)
    return "the swap file's first extent does not start at its header";
  return undefined;
}
