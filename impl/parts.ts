// The replaceable parts of the reference implementation. A planted bug (properties/__fixtures__/) swaps one part
// for a broken one; production code has no bug flags. Every part defaults to the faithful implementation.
import {
  type BlockDevice,
  type KResult,
  type Memory,
  OWNER,
  type Scenario,
  type SwapHeader,
  type SwsuspInfo,
  saveRegion,
} from '../spec/index.ts';
import {
  type CopyCounter,
  getBuffer,
  packPfns,
  type RestoreState,
  ramPages,
  restoreImage,
  saveableFrames,
  swsuspFree,
  unpackOrigPfns,
} from './power/snapshot.ts';
import {
  allocSwapdevBlock,
  flushSwapWriter,
  freeAllSwapPages,
  getSwapWriter,
  markSwapfiles,
  type SwapMapHandle,
  swapMapAtStart,
  swapWriterFinish,
  swsuspCheck,
} from './power/swap.ts';

export interface BootMachine {
  readonly memPages: number;
  readonly ramPages: number;
  readonly e820Checksum: number;
}

export interface Parts {
  /** snapshot.c saveable_page(): the frames to save, ascending */
  readonly saveableFrames: (mem: Memory) => Uint32Array;
  /** snapshot.c pack_pfns() */
  readonly packPfns: typeof packPfns;
  /** snapshot.c swsusp_free(): every frame hibernation allocated goes back to free, on every path out */
  readonly swsuspFree: (mem: Memory) => void;
  /** snapshot.c unpack_orig_pfns(): the image's PFN list into the loader's bitmap (-EFAULT on a frame it lacks) */
  readonly unpackOrigPfns: typeof unpackOrigPfns;
  /** get_num_physpages(): the RAM frames of a machine; the writer's header and the loader's check both count them */
  readonly ramPages: (mem: Pick<Memory, 'nr' | 'owner'>) => number;
  /** swap.c get_swap_writer(): the swap area must be swap (swsusp_swap_check: ENODEV over a kept image) */
  readonly getSwapWriter: typeof getSwapWriter;
  /** swap.c alloc_swapdev_block(): the next free slot of the swap area, never the header's nor one in use */
  readonly allocSwapdevBlock: typeof allocSwapdevBlock;
  /** swap.c swap_writer_finish() (swsusp order: sign, then flush the last map page); errors: freeAllSwapPages */
  readonly swapWriterFinish: typeof swapWriterFinish;
  /** the kexec save kernel's commit: flush everything, barrier, sign the header last */
  readonly kexecWriterFinish: (
    h: SwapMapHandle,
    fields: { sig: string; flags: number; crc32: number; epoch: number },
    error: KResult<void>,
  ) => KResult<void>;
  /** swap.c free_all_swap_pages() */
  readonly freeAllSwapPages: (dev: BlockDevice) => void;
  /** a kernel that starts holds no writer slot (swap_map lives in its memory) */
  readonly swapMapAtStart: (dev: BlockDevice) => void;
  /** swap.c swsusp_check(): find the image and reset the signature before loading */
  readonly swsuspCheck: (dev: BlockDevice, offset: number, sig: string) => KResult<SwapHeader>;
  /**
   * snapshot.c check_header(): check_image_kernel() first (on x86 the arch header: e820 checksum, "architecture
   * specific data"), then num_physpages ("memory size"). Any mismatch is -EPERM; returns the reason or undefined.
   */
  readonly checkHeader: (info: SwsuspInfo, boot: BootMachine) => 'memoryMapMismatch' | 'memorySizeMismatch' | undefined;
  /** integrity check after loading: the CRC of what was read against the header's */
  readonly crcMatches: (expected: number, actual: number) => boolean;
  /** kexec loader: the storage epoch in the header must equal the device's (no read-write boot since) */
  readonly epochMatches: (header: SwapHeader, dev: BlockDevice) => boolean;
  /** snapshot.c get_buffer(): where the next image page is loaded */
  readonly getBuffer: (st: RestoreState, pfn: number) => number;
  /** the arch restore loop over restore_pblist */
  readonly restoreImage: (st: RestoreState, counter: CopyCounter) => void;
  /** frames devices may still write after "stop devices" (a well-behaved set is empty) */
  readonly framesDmaAfterStop: (mem: Memory) => Uint32Array;
  /**
   * the save kernel's own working set inside its region [start, end): the frames it writes while it runs (the model
   * writes them). `mem` is the machine while the save kernel runs, for a variant whose save kernel writes otherwise
   * (the monitors read what changed in memory, not this list).
   */
  readonly saveKernelWorkingSet: (region: { start: number; end: number }, mem: Memory) => Uint32Array;
  /** kexec_load()'s placement of the save kernel's region (crashkernel= style); undefined: no room */
  readonly saveKernelRegion: (s: Scenario) => { start: number; end: number } | undefined;
  /**
   * kimage_alloc_page() for the exchange: `n` staging frames the region is swapped with (fewer: ENOMEM). The rule:
   * free frames of the original kernel outside the region, never a nosave frame.
   */
  readonly kimageStagingFrames: (mem: Memory, region: { start: number; end: number }, n: number) => Uint32Array;
  /** kexec jump back (abort): undo the region exchange and return; pages are already in place */
  readonly kexecJumpBack: (mem: Memory, exchange: ExchangeMap | undefined, counter: CopyCounter) => void;
  /** what a write error does in the save kernel / hibernate(): return to the original kernel (true) */
  readonly returnOnWriteError: boolean;
}

/** kexec jump's exchange of the save kernel region with staging frames (an involution: swap ∘ swap = id). */
export interface ExchangeMap {
  readonly region: { readonly start: number; readonly end: number };
  /** staging[i] holds what was at region.start + i while the save kernel runs */
  readonly staging: Uint32Array;
}

/** Swap the region with its staging frames (machine_kexec with preserve_context: swap_pages()). */
export function swapPages(mem: Memory, x: ExchangeMap, counter: CopyCounter): void {
  const c = mem.content;
  for (let i = 0; i < x.staging.length; i++) {
    const a = x.region.start + i;
    const b = x.staging[i] as number;
    const t = c[a] as number;
    c[a] = c[b] as number;
    c[b] = t;
  }
  counter.exchange += x.staging.length;
}

export const defaultParts: Parts = {
  saveableFrames,
  packPfns,
  swsuspFree,
  unpackOrigPfns,
  ramPages,
  getSwapWriter,
  allocSwapdevBlock,
  swapWriterFinish,
  kexecWriterFinish(h, fields, error) {
    let r = error;
    if (r.ok) {
      // Commit rule: every stream and map page is durable before the header is signed.
      r = flushSwapWriter(h);
      if (r.ok) r = markSwapfiles(h, fields);
    }
    return r;
  },
  freeAllSwapPages,
  swapMapAtStart,
  swsuspCheck,
  checkHeader(info, boot) {
    if (info.e820Checksum !== boot.e820Checksum) return 'memoryMapMismatch'; // "Image mismatch: architecture specific data"
    if (info.numPhyspages !== boot.ramPages) return 'memorySizeMismatch'; // "Image mismatch: memory size"
    return undefined;
  },
  crcMatches: (expected, actual) => expected === actual,
  epochMatches: (header, dev) => header.epoch === dev.epoch,
  getBuffer,
  restoreImage,
  framesDmaAfterStop: () => new Uint32Array(0),
  saveKernelWorkingSet(region) {
    const n = Math.min(8, region.end - region.start);
    return Uint32Array.from({ length: n }, (_, i) => region.start + i);
  },
  saveKernelRegion: saveRegion,
  kimageStagingFrames(mem, region, n) {
    const staging = new Uint32Array(n);
    let k = 0;
    for (let p = 0; p < mem.nr && k < n; p++) {
      if (mem.owner[p] === OWNER.FREE && (p < region.start || p >= region.end)) staging[k++] = p;
    }
    return staging.subarray(0, k);
  },
  kexecJumpBack(mem, exchange, counter) {
    if (exchange !== undefined) swapPages(mem, exchange, counter);
  },
  returnOnWriteError: true,
};
