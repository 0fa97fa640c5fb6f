// The outcome oracle for an image altered at rest (swsusp): which resumes a bit flip allows, from the image as it was
// on storage before the flip and the loader rules of kernel/power/snapshot.c (unpack_orig_pfns, check_header) and
// swap.c (the CRC32 of compressed images), written independently of impl/. Only the flips whose effect the rules
// fix are predicted; the rest stay '*' (any resume outcome), as before.
//
// The resume must run on the machine and kernel line that wrote the image (abstract.ts checks that first):
//   meta, the entry's PFN past the machine's last frame        -> refused EFAULT (pfn_valid / memory_bm_pfn_present)
//   meta, an unflagged PFN renamed to another unflagged listed -> refused EFAULT (one distinct PFN fewer than counted)
//   meta, a data entry flagged zero (6.12)                     -> refused EFAULT (one data page more than the bitmap)
//   meta, anything else, with the CRC (compressed)             -> refused (the CRC, unless safe frames ran out first)
//   data, with the CRC                                         -> refused ENODATA (crcMismatch), EINVAL (a real disk's
//                                                                 flip fails to decompress) or ENOMEM
//   map, an entry flipped to 0                                 -> refused EFAULT (swap_read_page: no offset)
//   map, an entry past the device                              -> refused (the read fails)
//   map, another slot, with the CRC                            -> refused, or resumed intact if the slot holds the
//                                                                 same page content
//   map, next_swap cut to 0                                    -> refused EINVAL (no map left); resumed intact (or
//                                                                 ENOMEM) if the pages kept cover the stream
//   map, next_swap past the device                             -> refused EIO (the read fails)
//   map, next_swap back into the chain                         -> refused ENOMEM (no cycle check: it allocates a
//                                                                 page per link until that fails; seen on 6.1 and
//                                                                 6.12, vm/scenarios/corrupt-map-link.json)
//   map, next_swap to another slot, with the CRC               -> refused, or resumed intact
//   header num_physpages                                       -> refused EPERM ("Image mismatch: memory size")
//   header e820 digest                                         -> refused EPERM (the arch header's memory map)
// A PFN renamed into a hole of the machine is not predicted: whether the loader takes it depends on the kernel's
// bitmaps, which cover a zone's span with its holes.
import {
  decodeSnapshot,
  flipLink,
  flipPage,
  flipWord,
  INFO_FIELDS,
  mapLinkBit,
  metaFlipWord,
  PFNS_PER_META,
  SF_CRC32_MODE,
} from '../model/image.ts';
import { type BlockDevice, type MapPage, PFN_ZERO_FLAG, SLOT } from '../model/state.ts';
import type { CorruptStep } from '../scenario/schema.ts';

type Pattern = Readonly<Record<string, unknown>>;

const refused = { op: 'resume', result: 'refused' } as const;
const efault = { ...refused, errno: 'EFAULT' } as const;
const intact = { op: 'resume', result: 'resumed', pagesCorrupt: 0 } as const;
// an image the flip leaves readable still needs its safe frames
const enomem = { ...refused, reason: 'outOfMemory', errno: 'ENOMEM' } as const;
const crcRefused = { ...refused, reason: 'crcMismatch', errno: 'ENODATA' } as const;
const decompressRefused = { ...refused, reason: 'decompressFailed', errno: 'EINVAL' } as const;

/** The loader's verdict on a swsusp image that `st` altered on `dev` (as it was before the flip). */
export function predictCorruptSwsusp(
  dev: BlockDevice,
  offset: number,
  st: CorruptStep,
  machine: { readonly memPages: number; readonly zeroElision: boolean },
): readonly Pattern[] | '*' {
  const d = decodeSnapshot(dev, offset);
  if (!d.ok) return '*';
  const { entries, header } = d.image;
  const crc = (header.flags & SF_CRC32_MODE) !== 0;
  const bit = (1 << (st.bit % 32)) >>> 0;
  switch (st.region) {
    case 'data':
      // the stream's CRC32 at the end ("Invalid image CRC32!", -ENODATA); on a real disk the flip lands in the
      // compressed bytes, which may fail to decompress first (-EINVAL); safe frames may run out before either
      return crc ? [crcRefused, decompressRefused, enomem] : '*';
    case 'header': {
      const field = INFO_FIELDS[st.index % INFO_FIELDS.length];
      if (field === 'numPhyspages') return [{ ...refused, reason: 'memorySizeMismatch', errno: 'EPERM' }];
      if (field === 'e820Checksum') return [{ ...refused, reason: 'memoryMapMismatch', errno: 'EPERM' }];
      return '*';
    }
    case 'map': {
      const maps = [...d.image.pagesUsed].filter((p) => dev.slot[p] === SLOT.MAP);
      const j = flipPage(st.index, maps.length);
      const mp = dev.maps.get(maps[j] ?? -1);
      const link = mapLinkBit(st.bit);
      if (mp !== undefined && link !== undefined)
        return predictLinkFlip(dev, maps, j, mp, d.image.info.pages, link, crc);
      if (mp === undefined || mp.count === 0) return '*';
      const slot = ((mp.entries[flipWord(st.index, mp.count)] as number) ^ bit) >>> 0;
      if (slot === 0) return [{ ...efault, reason: 'truncatedImage' }];
      // past the device the read fails; another slot is read in place of the page, which the CRC catches unless
      // that slot holds the same page content (then the image resumes intact)
      if (slot >= dev.nr) return [refused];
      return crc ? [refused, { op: 'resume', result: 'resumed', pagesCorrupt: 0 }] : '*';
    }
    case 'meta': {
      const at = metaFlipWord(Math.ceil(entries.length / PFNS_PER_META), entries.length, st.index).entry;
      if (at === undefined) return '*';
      const was = entries[at] as number;
      const now = (was ^ bit) >>> 0;
      const pfnOf = (e: number) => (machine.zeroElision ? (e & ~PFN_ZERO_FLAG) >>> 0 : e);
      const flagged = (e: number) => machine.zeroElision && (e & PFN_ZERO_FLAG) !== 0;
      const pfn = pfnOf(now);
      if (pfn >= machine.memPages) return [{ ...efault, reason: 'pfnInvalid' }];
      if (pfn === pfnOf(was)) return flagged(now) ? [efault] : crc ? [refused] : '*';
      const other = entries.findIndex((e, i) => i !== at && pfnOf(e) === pfn);
      if (other >= 0) return !flagged(now) && !flagged(entries[other] as number) ? [efault] : '*';
      return crc ? [refused] : '*';
    }
  }
}

/**
 * next_swap of map page `j` (`mp`, of the chain `maps`) flipped. get_swap_reader() reads the whole chain before the first
 * stream page, and swap_read_page() fails (-EINVAL) once the chain is used up. A link cut to 0 resumes only if the
 * pages kept still cover the stream (only a trailing empty map page, of a stream of 511·k pages, was dropped); a link
 * past the device fails its read (-EIO); a link back into the chain never ends (-ENOMEM once allocation fails).
 * Another slot is read as a map page: its entries are what that slot holds, so only the CRC (or a stream already
 * covered) fixes the outcome.
 */
function predictLinkFlip(
  dev: BlockDevice,
  maps: readonly number[],
  j: number,
  mp: MapPage,
  streamPages: number,
  bit: number,
  crc: boolean,
): readonly Pattern[] | '*' {
  const next = flipLink(mp.next, bit);
  let covered = 0;
  for (let i = 0; i <= j; i++) covered += dev.maps.get(maps[i] ?? -1)?.count ?? 0;
  if (next === 0) return covered >= streamPages ? [intact, enomem] : [{ ...refused, errno: 'EINVAL' }];
  if (next >= dev.nr) return [{ ...refused, errno: 'EIO' }];
  const back = maps.indexOf(next);
  if (back >= 0 && back <= j) return [enomem];
  return covered >= streamPages || crc ? [refused, intact] : '*';
}
