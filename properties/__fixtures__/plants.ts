// Planted bugs: each swaps ONE part of the reference implementation for a broken one (never a flag in production
// code), names the invariant that must catch it, and carries a witness scenario on which it shows. The fuzz CLI
// lists them (`hibfuzz plants`) and swaps them in (`hibfuzz fuzz --plant NAME`).
import { defaultParts, flushSwapWriter, markSwapfiles, type Parts } from '../../impl/index.ts';
import { type InvariantName, KIND, type Memory, OWNER, type ScenarioInput, SIG, SLOT } from '../../spec/index.ts';
import type { FaultKind } from '../arbitraries/scenario.ts';

export interface Plant {
  readonly name: string;
  readonly description: string;
  /** the invariant whose property must fail with this plant */
  readonly invariant: InvariantName;
  readonly parts: Parts;
  /** a scenario on which the bug shows (used as an explicit example in its property test) */
  readonly witness: ScenarioInput;
  /**
   * the fault bias of the random search that must find it without the witness (default: its invariant suite's),
   * for a plant that only one fault kind reaches and a suite drawn over all of them meets too rarely
   */
  readonly faults?: readonly FaultKind[];
}

/** The workload of the witnesses (and of small fixture scenarios elsewhere). */
export const W = {
  anon: 300,
  zero: 40,
  pageCacheClean: 60,
  pageCacheDirty: 30,
  slab: 30,
  kernelText: 40,
  dma: 10,
};

function witness(id: string, protocol: ScenarioInput['protocol'], steps: ScenarioInput['steps']): ScenarioInput {
  return {
    version: 1,
    id,
    seed: 42,
    machine: { memPages: 2048 },
    workload: W,
    protocol,
    storage: { pages: 2048 },
    steps,
  };
}

const plant = (p: Omit<Plant, 'parts'> & { override: Partial<Parts> }): Plant => ({
  name: p.name,
  description: p.description,
  invariant: p.invariant,
  witness: p.witness,
  ...(p.faults === undefined ? {} : { faults: p.faults }),
  parts: { ...defaultParts, ...p.override },
});

/** A stray write: `tok` into the first frame owned by `owner`, walking from `from` by `step` (none found: none). */
function strayWrite(mem: Memory, owner: number, tok: number, from = 0, step = 1): void {
  for (let p = from; p >= 0 && p < mem.nr; p += step)
    if (mem.owner[p] === owner) {
      mem.content[p] = tok;
      return;
    }
}

const KEXEC = { kind: 'kexec' } as const;
const SWSUSP = { kind: 'swsusp' } as const;
const HR: ScenarioInput['steps'] = [{ op: 'hibernate' }, { op: 'resume' }];

// keep-sorted start
export const PLANTS: readonly Plant[] = [
  plant({
    name: 'crc-ignored',
    description: 'the loader never compares the image CRC',
    invariant: 'CorruptImageNeverResumed',
    override: { crcMatches: () => true },
    witness: witness('w-crc', KEXEC, [
      { op: 'hibernate' },
      { op: 'corrupt', region: 'data', index: 5 },
      { op: 'resume' },
    ]),
  }),
  plant({
    name: 'devices-not-quiesced',
    description: '"stop devices" leaves DMA engines running: DMA buffers change after the image is defined',
    invariant: 'QuiescedMemoryUnchanged',
    override: {
      framesDmaAfterStop: (mem) => {
        const out: number[] = [];
        for (let p = 0; p < mem.nr && out.length < 2; p++) {
          if (mem.owner[p] === OWNER.ORIG && mem.kind[p] === KIND.DMA) out.push(p);
        }
        return Uint32Array.from(out);
      },
    },
    witness: witness('w-dma', KEXEC, HR),
  }),
  plant({
    // Why this plant? It shows only when the stream is a multiple of 511 pages (a swap map page boundary), which
    // the scenario arbitrary met almost never before its edge scenarios.
    name: 'flush-skips-empty-map-page',
    description: 'the save kernel does not write an empty last swap map page: the full one before it points nowhere',
    invariant: 'ImageCommittedAtomically',
    override: {
      kexecWriterFinish: (h, fields, error) => {
        let r = error;
        if (r.ok && h.cur.count > 0) r = flushSwapWriter(h);
        return r.ok ? markSwapfiles(h, fields) : r;
      },
    },
    // 509 anonymous pages: info + 1 PFN page + 509 data pages = 511 stream pages, one full map page
    witness: { ...witness('w-map-edge', KEXEC, [{ op: 'hibernate' }]), workload: { anon: 509 } },
  }),
  plant({
    name: 'jump-back-forgets-exchange',
    description: 'kexec jump back returns without swapping the region back from its staging frames',
    invariant: 'AbortCopiesNothing',
    override: { kexecJumpBack: () => {} },
    witness: witness('w-jb', KEXEC, [{ op: 'hibernate', abortAt: 'afterJump' }]),
  }),
  plant({
    // Why this plant? It counts no copy: a monitor that read the implementation's copy counter saw zero.
    name: 'jump-back-bounce-copy',
    description: "kexec jump back goes through a copy of the original kernel's pages in free memory, counted nowhere",
    invariant: 'AbortCopiesNothing',
    override: {
      kexecJumpBack: (mem, exchange, counter) => {
        defaultParts.kexecJumpBack(mem, exchange, counter);
        let q = mem.nr - 1;
        for (let p = 0; p < mem.nr; p++) {
          if (mem.owner[p] !== OWNER.ORIG) continue;
          while (q >= 0 && mem.owner[q] !== OWNER.FREE) q--;
          if (q < 0) break;
          mem.content[q--] = mem.content[p] as number;
        }
      },
    },
    witness: witness('w-bounce', KEXEC, [{ op: 'hibernate', abortAt: 'afterJump' }]),
  }),
  plant({
    name: 'kexec-sign-before-flush',
    description: 'the save kernel signs the header without flushing the last swap map page',
    invariant: 'ImageCommittedAtomically',
    override: { kexecWriterFinish: (h, fields, error) => (error.ok ? markSwapfiles(h, fields) : error) },
    witness: witness('w-commit', KEXEC, [{ op: 'hibernate' }]),
  }),
  plant({
    name: 'leak-slots-on-error',
    description: 'the write error path forgets free_all_swap_pages()',
    invariant: 'SwapSlotsFreedOnError',
    override: { freeAllSwapPages: () => {} },
    witness: witness('w-leak', SWSUSP, [{ op: 'hibernate', ioErrorAtWrite: 5 }]),
  }),
  plant({
    name: 'no-epoch-check',
    description: 'the kexec loader does not compare the storage epoch (filesystems mounted since the image)',
    invariant: 'StaleImageNeverResumed',
    override: { epochMatches: () => true },
    witness: witness('w-stale', KEXEC, [{ op: 'hibernate' }, { op: 'bootNoresume' }, { op: 'resume' }]),
  }),
  plant({
    name: 'no-memsize-check',
    description: 'check_header() accepts any memory size and memory map',
    invariant: 'MismatchedImageRefused',
    override: { checkHeader: () => undefined },
    witness: witness('w-mem', SWSUSP, [{ op: 'hibernate' }, { op: 'resume', memPages: 4096 }]),
  }),
  plant({
    name: 'pack-pfns-drops-last',
    description: 'pack_pfns() stops one entry early: the highest saveable PFN is never saved',
    invariant: 'EveryPageSavedOnce',
    override: {
      packPfns: (pfns, contentOf, zero) =>
        defaultParts.packPfns(pfns.subarray(0, Math.max(0, pfns.length - 1)), contentOf, zero),
    },
    witness: witness('w-pack', SWSUSP, HR),
  }),
  plant({
    name: 'restore-skips-last-pbe',
    description: 'the final copy loop stops one PBE early: a relocated page never reaches its frame',
    invariant: 'ResumeRestoresIdenticalMemory',
    override: {
      restoreImage: (st, counter) => {
        const n = st.pbeCount;
        st.pbeCount = Math.max(0, n - 1);
        defaultParts.restoreImage(st, counter);
        st.pbeCount = n;
      },
    },
    witness: witness('w-pbe', SWSUSP, HR),
  }),
  plant({
    name: 'safe-page-ignores-unsafe',
    description: 'get_buffer() loads every page in place, also into frames the loader does not own',
    invariant: 'RestoreNeverClobbers',
    override: { getBuffer: (_st, pfn) => pfn },
    witness: witness('w-clobber', SWSUSP, HR),
  }),
  plant({
    // Why this plant? It marks the frame it writes as its own: a monitor that read the loader's `allocated` map saw a
    // clean load. The frame is the restore kernel's own (its text), as the owner tags at boot say.
    name: 'loader-claims-busy-frames',
    description:
      'get_buffer() loads busy destinations in place and marks them allocated: it overwrites the restore kernel',
    invariant: 'RestoreNeverClobbers',
    override: {
      getBuffer: (st, pfn) => {
        st.allocated[pfn] = 1;
        return pfn;
      },
    },
    witness: witness('w-claims', SWSUSP, HR),
  }),
  plant({
    // Why below the region? The region is the highest RAM run, often the top of memory: frames past its end do not
    // exist, and a monitor that trusted the reported list flagged writes that never happened.
    name: 'save-kernel-overruns-region',
    description: "the save kernel's working set starts 4 frames below its region (an off-by-4 base)",
    invariant: 'SaveKernelStaysInItsBox',
    override: {
      saveKernelWorkingSet: (r) => Uint32Array.from({ length: 8 }, (_, i) => r.start - 4 + i),
    },
    witness: witness('w-box', { kind: 'kexec', reservation: 'bootReserved', saveKernelPages: 32 }, [
      { op: 'hibernate', abortAt: 'afterImageWritten' },
    ]),
  }),
  plant({
    // Why this plant? The save kernel reports only its region's frames; a monitor that read that list saw nothing.
    name: 'save-kernel-scratch-outside',
    description: 'the save kernel keeps a scratch page in a free frame of the original kernel below its region',
    invariant: 'SaveKernelStaysInItsBox',
    override: {
      saveKernelWorkingSet: (r, mem) => {
        strayWrite(mem, OWNER.FREE, 0x5c7a7c4, r.start - 1, -1);
        return defaultParts.saveKernelWorkingSet(r, mem);
      },
    },
    witness: witness('w-box-scratch', { kind: 'kexec', reservation: 'bootReserved' }, [{ op: 'hibernate' }]),
  }),
  plant({
    // Why this plant? Nosave was checked in the image and the loader only; the save kernel's writes were not.
    name: 'save-kernel-scratch-in-hole',
    description: 'the save kernel keeps a scratch page in the first nosave frame (the legacy VGA hole at 0xa0000)',
    invariant: 'NosaveNeverSaved',
    override: {
      saveKernelWorkingSet: (r, mem) => {
        strayWrite(mem, OWNER.NOSAVE, 0x5c7a7c5);
        return defaultParts.saveKernelWorkingSet(r, mem);
      },
    },
    witness: witness('w-nosave-savek', KEXEC, [{ op: 'hibernate' }]),
  }),
  plant({
    name: 'staging-ignores-e820',
    description:
      'kimage_alloc_page() takes any frame the original kernel does not use for the exchange, nosave included',
    invariant: 'NosaveNeverSaved',
    override: {
      kimageStagingFrames: (mem, r, n) => {
        const out: number[] = [];
        for (let p = 0; p < mem.nr && out.length < n; p++)
          if (mem.owner[p] !== OWNER.ORIG && (p < r.start || p >= r.end)) out.push(p);
        return Uint32Array.from(out);
      },
    },
    // a region larger than the free frames below the legacy hole, so the staging frames reach it
    witness: witness('w-nosave-staging', { kind: 'kexec', reservation: 'exchange', saveKernelPages: 256 }, HR),
  }),
  plant({
    name: 'region-over-holes',
    description: 'kexec_load places the save kernel in the top frames of memory whatever the e820 map says',
    invariant: 'NosaveNeverSaved',
    override: {
      saveKernelRegion: (s) =>
        s.protocol.kind === 'kexec' && s.protocol.saveKernelPages <= s.machine.memPages
          ? { start: s.machine.memPages - s.protocol.saveKernelPages, end: s.machine.memPages }
          : undefined,
    },
    witness: {
      ...witness('w-nosave-region', { kind: 'kexec', reservation: 'bootReserved', saveKernelPages: 32 }, HR),
      machine: { memPages: 2048, e820: [{ start: 2040, pages: 8, type: 'reserved' }] },
    },
  }),
  plant({
    // Why this plant? The loader's write counts stop before the final copy; a write there was invisible.
    name: 'restore-pgtable-in-hole',
    description: 'the final copy builds its temporary page tables in the first nosave frame',
    invariant: 'NosaveNeverSaved',
    override: {
      restoreImage: (st, counter) => {
        strayWrite(st.mem, OWNER.NOSAVE, 0x9a6e7ab1);
        defaultParts.restoreImage(st, counter);
      },
    },
    witness: witness('w-nosave-restore', SWSUSP, HR),
  }),
  plant({
    name: 'saveable-includes-nosave',
    description: 'saveable_page() forgets pfn_is_nosave(): e820 holes end up in the image',
    invariant: 'NosaveNeverSaved',
    override: {
      saveableFrames: (mem) => {
        const out: number[] = [];
        for (let p = 0; p < mem.nr; p++) if (mem.owner[p] === OWNER.ORIG || mem.owner[p] === OWNER.NOSAVE) out.push(p);
        return Uint32Array.from(out);
      },
    },
    witness: witness('w-nosave', KEXEC, HR),
  }),
  plant({
    // Why this plant? Refusing a valid image violates no safety invariant; only the outcome oracle's liveness
    // ("a complete, valid, matching image resumes") sees it.
    name: 'memsize-counts-holes',
    description: 'check_header() compares num_physpages with every frame of the machine, holes included',
    invariant: 'OutcomeAllowed',
    override: {
      checkHeader: (info, boot) =>
        info.e820Checksum !== boot.e820Checksum
          ? 'memoryMapMismatch'
          : info.numPhyspages !== boot.memPages
            ? 'memorySizeMismatch'
            : undefined,
    },
    witness: witness('w-memsize-holes', SWSUSP, HR),
  }),
  plant({
    name: 'epoch-checked-after-mount',
    description:
      'the kexec loader mounts filesystems read-write before it compares the storage epoch: every image is stale',
    invariant: 'OutcomeAllowed',
    override: { epochMatches: (header, dev) => header.epoch === dev.epoch + 1 },
    witness: witness('w-epoch-mount', KEXEC, HR),
  }),
  plant({
    // Why this plant? Until 2026-12-03 the model itself kept a resumed image's slots allocated, and the abstract
    // protocol read the same map, so every second hibernation on storage sized for one image failed ENOSPC, "held".
    name: 'slots-outlive-kernel',
    description: 'the swap slots an image was written to stay allocated after its kernel is gone (resume, boot)',
    invariant: 'OutcomeAllowed',
    override: { swapMapAtStart: () => {} },
    witness: { ...witness('w-slots-outlive', KEXEC, [...HR, ...HR]), storage: { pages: 800 } },
  }),
  plant({
    // Why this plant? Mutation run 4 (docs/mutation.md): a swsusp_free() that does nothing passed every judge.
    name: 'hib-frames-leak',
    description: 'swsusp_free() gives nothing back: the copy frames stay allocated after an abort or a failure',
    invariant: 'AbortCopiesNothing',
    override: { swsuspFree: () => {} },
    witness: witness('w-hib-leak', SWSUSP, [{ op: 'hibernate', abortAt: 'core' }]),
  }),
  plant({
    // Why this plant? Mutation run 4 (docs/mutation.md): get_num_physpages() counting holes passed every judge, as
    // the writer's header and the loader's check agree on the same wrong number.
    name: 'physpages-counts-holes',
    description: "get_num_physpages() counts every frame, holes included: the header's num_physpages is not the RAM",
    invariant: 'EveryPageSavedOnce',
    override: { ramPages: (mem) => mem.nr },
    witness: witness('w-physpages-holes', SWSUSP, HR),
  }),
  plant({
    // Why this plant? Mutation run 4 (docs/mutation.md): counting duplicates in unpack_orig_pfns() passed every judge,
    // while a corrupt swsusp image was allowed any outcome; the oracle now predicts the refusal (spec/protocol/corrupt.ts).
    name: 'duplicate-pfns-loaded',
    description:
      'unpack_orig_pfns() counts a PFN listed twice as two, so an image whose list names a frame twice is loaded',
    invariant: 'OutcomeAllowed',
    override: {
      unpackOrigPfns: (entries, boot, zeroElision) => {
        const r = defaultParts.unpackOrigPfns(entries, boot, zeroElision);
        return r.ok ? { ...r, value: { ...r.value, distinct: entries.length } } : r;
      },
    },
    witness: witness('w-duplicate-pfns', { kind: 'swsusp', kernel: '6.1', compression: 'none' }, [
      { op: 'hibernate' },
      { op: 'corrupt', region: 'meta', index: 8, bit: 0 },
      { op: 'resume' },
    ]),
    // only a corrupt PFN list reaches it: over every fault kind, 6 of 6000 scenarios (seed 11) show it
    faults: ['corrupt'],
  }),
  plant({
    // Why this plant? Mutation run 5 (docs/mutation.md): an allocator that takes slots in use passed every judge, as
    // only a failed hibernation's overwrites were checked.
    name: 'swap-writer-takes-used-slots',
    description:
      "alloc_swapdev_block() hands out any slot not yet allocated by the writer, the running system's swap pages too",
    invariant: 'ImageCommittedAtomically',
    override: {
      allocSwapdevBlock: (h) => {
        const d = h.bio.dev;
        for (let i = h.cursor; i < d.nr; i++) {
          if (d.allocated[i] === 0 && d.slot[i] !== SLOT.SWAP_HEADER) {
            d.allocated[i] = 1;
            h.cursor = i + 1;
            return i;
          }
        }
        h.cursor = d.nr;
        return -1;
      },
    },
    witness: witness('w-used-slots', SWSUSP, [{ op: 'bootNoresume', writeStoragePages: 50 }, ...HR]),
  }),
  plant({
    // Why this plant? A hibernation in a noresume boot that kept its image failed with ENODEV all the same (mark_swapfiles
    // checks the signature too), so no outcome changed: only what it wrote over the kept image, which nothing compared.
    name: 'swap-writer-over-kept-image',
    description:
      'get_swap_writer() skips the swap check: over an image kept by a noresume boot it writes, then fails (ENODEV)',
    invariant: 'FailureLosesNothing',
    override: {
      getSwapWriter: (bio, offset, alloc) => {
        const hdr = bio.dev.header.get(offset);
        if (hdr === undefined) return defaultParts.getSwapWriter(bio, offset, alloc);
        // pretend the area is swap for the check, and hand back the real header afterwards
        bio.dev.header.set(offset, { ...hdr, sig: SIG.SWAPSPACE2 });
        const r = defaultParts.getSwapWriter(bio, offset, alloc);
        bio.dev.header.set(offset, hdr);
        return r;
      },
    },
    witness: witness('w-over-kept', { kind: 'swsusp', compression: 'lzo' }, [
      { op: 'hibernate' },
      { op: 'bootNoresume', writeStoragePages: 0 },
      ...HR,
    ]),
    faults: ['stale'],
  }),
  plant({
    // Why this plant? ImageCommittedAtomically used to be excused for any swsusp scenario with a write fault; the
    // torn-image limit holds only between signing the header and flushing the last map page (spec/limits.ts).
    name: 'swsusp-signs-after-error',
    description:
      'swap_writer_finish() signs the header even when a stream page failed to write (then reports the error)',
    invariant: 'ImageCommittedAtomically',
    override: {
      swapWriterFinish: (h, fields, error) => {
        const r = markSwapfiles(h, fields);
        flushSwapWriter(h);
        return error.ok ? r : error;
      },
    },
    witness: witness('w-sign-err', SWSUSP, [{ op: 'hibernate', ioErrorAtWrite: 5 }]),
  }),
  plant({
    name: 'check-keeps-signature',
    description: 'swsusp_check() finds the image but never resets the signature',
    invariant: 'ImageResumedAtMostOnce',
    override: {
      swsuspCheck: (dev, offset, sig) => {
        const h = dev.header.get(offset);
        return h !== undefined && h.sig === sig ? { ok: true, value: { ...h } } : { ok: false, errno: 'ENODATA' };
      },
    },
    witness: witness('w-twice', SWSUSP, [{ op: 'hibernate' }, { op: 'resume' }, { op: 'resume' }]),
  }),
  plant({
    name: 'write-error-powers-off',
    description: 'a write error powers the machine off instead of returning to the original kernel',
    invariant: 'FailureLosesNothing',
    override: { returnOnWriteError: false },
    witness: witness('w-fail', KEXEC, [{ op: 'hibernate', ioErrorAtWrite: 3 }]),
  }),
];
// keep-sorted end

export function plantByName(name: string): Plant | undefined {
  return PLANTS.find((p) => p.name === name);
}
