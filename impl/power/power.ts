// Constants and kernel profiles of the reference implementation. Mirrors kernel/power/power.h (SF_* flags,
// PAGES_FOR_IO, MAP_PAGE_ENTRIES) and records the 6.1 / 6.12 differences as named profiles.
import { PAGES_FOR_IO } from '../../spec/brand.ts';
import type { Scenario } from '../../spec/index.ts';

/** Swap map entries per map page (PAGE_SIZE / sizeof(sector_t) - 1) and PFNs per metadata page (PAGE_SIZE /
 * sizeof(unsigned long)): the on-storage layout, defined once in spec/. */
export { MAP_PAGE_ENTRIES, PFNS_PER_META } from '../../spec/index.ts';
/** PBEs per linked page: (PAGE_SIZE - sizeof(void *)) / sizeof(struct pbe). */
export const PBES_PER_LINKED_PAGE = 170;
/** Safe frames the arch restore needs besides PBE pages: relocated code + temporary page tables (x86-64). */
export const RESTORE_CODE_FRAMES = 5;
/** Kernel's PAGES_FOR_IO: 4 MiB, defined once in spec/ (the real-kernel prediction uses it too). */
export { PAGES_FOR_IO };
/** Kernel's SPARE_PAGES (reserved_size default 1 MiB). */
export const SPARE_PAGES = 256;

/** swsusp_header.flags: on-storage layout, defined once in spec/ (the independent image reader reads them). */
export {
  KF_CRC_ALL,
  SF_COMPRESSION_ALG_LZ4,
  SF_CRC32_MODE,
  SF_HW_SIG,
  SF_NOCOMPRESS_MODE,
  SF_PLATFORM_MODE,
} from '../../spec/index.ts';

/** Kernel behaviour profiles: one per difference the model predicts. */
export interface KernelProfile {
  readonly name: string;
  /** 6.6+: all-zero pages flagged in the PFN list (bit 63), no data page (005e8dddd497) */
  readonly zeroElision: boolean;
  /** 6.9+: hibernate.compressor=lz4 and SF_COMPRESSION_ALG_LZ4 */
  readonly lz4: boolean;
  /** 6.12: a wakeup during platform S4 entry unmarks the image and rolls back */
  readonly wakeupRollback: boolean;
  /** 6.12.118: snapshot_write_finalize drains trailing zero pages on the /dev/snapshot path (734eba62cd32) */
  readonly drainsTrailingZeros: boolean;
}

// keep-sorted start
export const PROFILES = {
  'kexec-2007': { name: 'kexec-2007', zeroElision: true, lz4: true, wakeupRollback: true, drainsTrailingZeros: true },
  'swsusp-6.1': {
    name: 'swsusp-6.1',
    zeroElision: false,
    lz4: false,
    wakeupRollback: false,
    drainsTrailingZeros: false,
  },
  'swsusp-6.12': { name: 'swsusp-6.12', zeroElision: true, lz4: true, wakeupRollback: true, drainsTrailingZeros: true },
} as const satisfies Record<string, KernelProfile>;
// keep-sorted end
export type ProfileName = keyof typeof PROFILES;

export function profileOf(s: Scenario, line?: '6.1' | '6.12'): KernelProfile {
  if (s.protocol.kind === 'kexec') return PROFILES['kexec-2007'];
  return (line ?? s.protocol.kernel) === '6.1' ? PROFILES['swsusp-6.1'] : PROFILES['swsusp-6.12'];
}

/** PAGES_FOR_IO scaled for small simulated machines: min(1024, mem/32) unless the scenario sets it. */
export function pagesForIo(s: Scenario): number {
  if (s.protocol.kind === 'swsusp' && s.protocol.pagesForIo !== undefined) return s.protocol.pagesForIo;
  return Math.min(PAGES_FOR_IO, s.machine.memPages >> 5);
}

/** reserved_size in pages, scaled the same way: min(SPARE_PAGES, mem/64). */
export function reservedPages(s: Scenario): number {
  return Math.min(SPARE_PAGES, s.machine.memPages >> 6);
}
