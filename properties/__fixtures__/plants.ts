// Planted bugs: each swaps ONE part of the reference implementation for a broken one (never a flag in production
// code), names the invariant that must catch it, and carries a witness scenario on which it shows. The fuzz CLI
// lists them (`hibfuzz plants`) and swaps them in (`hibfuzz fuzz --plant NAME`).
import { defaultParts, flushSwapWriter, markSwapfiles, type Parts } from '../../impl/index.ts';
import { type InvariantName, KIND, OWNER, type ScenarioInput } from '../../spec/index.ts';

export interface Plant {
  readonly name: string;
  readonly description: string;
  /** the invariant whose property must fail with this plant */
  readonly invariant: InvariantName;
  readonly parts: Parts;
  /** a scenario on which the bug shows (used as an explicit example in its property test) */
  readonly witness: ScenarioInput;
}

const W = {
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
  parts: { ...defaultParts, ...p.override },
});

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
    name: 'save-kernel-overruns-region',
    description: "the save kernel's working set runs 4 frames past the end of its region",
    invariant: 'SaveKernelStaysInItsBox',
    override: {
      saveKernelWorkingSet: (r) => Uint32Array.from({ length: 8 }, (_, i) => r.end - 4 + i),
    },
    witness: witness('w-box', { kind: 'kexec', reservation: 'bootReserved', saveKernelPages: 32 }, [
      { op: 'hibernate', abortAt: 'afterImageWritten' },
    ]),
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
