// fast-check arbitraries for whole scenarios, biased toward the edges where hibernation bugs live: images that
// just fit or just overflow storage, memory near the half-of-RAM limit, loader footprints overlapping many image
// frames, faults at the first / last write and at the signature write, zero pages at the end of the image. One
// scenario in five is an edge scenario, one in three where kexec may be drawn (restore's safe frames have a branch of
// their own): exactly n-1, n or n+1 of a formula's boundary in impl/ (EDGE_KINDS).
import fc from 'fast-check';
import type { ScenarioInput, Step } from '../../spec/index.ts';
import {
  FAULT_REGIONS,
  KERNEL_LINES,
  KEXEC_ABORT_POINTS,
  KEXEC_HANDOFFS,
  KEXEC_RESERVATIONS,
  MAP_NEXT_BIT,
  MAP_PAGE_ENTRIES,
  nosaveMap,
  PFNS_PER_META,
  SWSUSP_ABORT_POINTS,
  SWSUSP_COMPRESSIONS,
  SWSUSP_INTERFACES,
} from '../../spec/index.ts';

// keep-sorted start
export const FAULT_KINDS = [
  'abort',
  'corrupt',
  'dma',
  'eio',
  'eioAfterSignature',
  'mismatch',
  'none',
  'powerLoss',
  'stale',
  'twice',
] as const;
// keep-sorted end
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface ScenarioArbOptions {
  /** largest simulated machine, in pages (default 4096: 16 MiB keeps properties fast) */
  readonly maxMemPages?: number;
  /** only this protocol */
  readonly protocol?: 'kexec' | 'swsusp';
  /** fault kinds to draw from (default: all, with no-fault twice as likely); false = none */
  readonly faults?: boolean | readonly FaultKind[];
}

/** Stream pages of an image of `saved` pages, all data: info page, PFN metadata pages, data pages. */
export const streamOf = (saved: number): number => 1 + Math.ceil(saved / PFNS_PER_META) + saved;
/** Map pages of a stream: a full map page chains the next one at once, so the last may be empty. */
export const mapPagesOf = (stream: number): number => Math.floor(stream / MAP_PAGE_ENTRIES) + 1;

/** Free slots past what an edge scenario's image needs, when the edge fits its storage to the page (else undefined). */
const storageFit = (edge: { kind: string; delta: number; storageDelta: number | undefined }): number | undefined =>
  edge.kind === 'storage' ? edge.delta : edge.kind === 'mapPage' ? edge.storageDelta : undefined;

/** Pages an image of `used` saveable pages writes: header, info, meta, data and map pages. */
export function estimateWrites(used: number): number {
  const stream = streamOf(used);
  return stream + mapPagesOf(stream) + 1;
}

/**
 * The boundaries of impl/'s formulas an edge scenario sits on (at n-1, n or n+1; fuzz/coverage.ts reports which a
 * campaign hit): metaPage saved pages = 512 k (nr_meta_pages), mapPage stream pages = 511 k (swap map pages),
 * halfOfRam saved pages = max_size of hibernate_preallocate_memory, storage free swap = what the image needs,
 * restoreSafe the safe frames the loader needs = those it has (restoreSafeEdge). halfOfRam and restoreSafe are each
 * one protocol's memory limit: drawn for the other protocol, one stands for the other (memoryLimitOf).
 */
// keep-sorted start
export const EDGE_KINDS = ['halfOfRam', 'mapPage', 'metaPage', 'restoreSafe', 'storage'] as const;
// keep-sorted end
export type EdgeKind = (typeof EDGE_KINDS)[number];

/**
 * Shapes beyond one hibernate/resume cycle: bootFirst (a noresume boot before the first hibernation), failThenRetry
 * (a hibernation failing on an EIO, then another in the same boot), twoCycles (after the first cycle, a write and a
 * second hibernate/resume).
 */
// keep-sorted start
export const CYCLE_SHAPES = ['bootFirst', 'failThenRetry', 'twoCycles'] as const;
// keep-sorted end

/** max_size of hibernate_preallocate_memory() before any reclaim, written from the kernel's formula. */
function halfOfRam(mem: number, nosave: number, pagesForIo: number): number {
  const bitmaps = 2 * Math.ceil(mem / 32768);
  return Math.floor((mem - nosave - (bitmaps + pagesForIo)) / 2) - 2 * Math.min(256, mem >> 6);
}

/** Saved pages whose stream is exactly `stream` pages (the nearest below when none is). */
function savedForStream(stream: number): number {
  let n = Math.max(1, stream - 1 - Math.ceil(stream / PFNS_PER_META));
  while (n > 1 && streamOf(n) > stream) n--;
  while (streamOf(n + 1) <= stream) n++;
  return n;
}

type KexecInput = Extract<ScenarioInput['protocol'], { kind: 'kexec' }>;
interface KexecEdge extends KexecInput {
  readonly reservation: (typeof KEXEC_RESERVATIONS)[number];
  readonly saveKernelPages: number;
  readonly loaderPages: number;
}

/** Faults after which a kexec resume still loads the image (the restoreSafe edge keeps only these). */
const LOADING_FAULTS: readonly FaultKind[] = ['dma', 'none', 'twice'];

/** x86-64 restore frames: the relocated restore code and the temporary PGD, PUD, PMD and PTE pages. */
const RESTORE_FRAMES = 5;

/**
 * The memory limit of each protocol: swsusp's is preallocation's half of RAM (its image never comes near the
 * restore bound), the kexec protocol's is restore's safe frames (it preallocates nothing).
 */
function memoryLimitOf(kind: EdgeKind, protocol: 'kexec' | 'swsusp'): EdgeKind {
  if (kind === 'halfOfRam' && protocol === 'kexec') return 'restoreSafe';
  return kind === 'restoreSafe' && protocol === 'swsusp' ? 'halfOfRam' : kind;
}

/**
 * The kexec protocol of a restoreSafe edge scenario: the drawn one with a restore kernel that fills the save
 * kernel's region (loaderPages >= saveKernelPages) and a save kernel that fits there. The PFN list handoff only
 * where its list pages fit into the few free frames the edge leaves (under 5 - delta).
 */
function restoreSafeEdge(drawn: KexecInput, seed: number, memPages: number, delta: number): KexecEdge {
  const region = drawn.saveKernelPages ?? 16;
  // one past the bound, half of the edges run out in get_buffer (exchange: the region holds image frames, so the
  // safe frames for the PBE list page and the restore code are found and a copy's frame is not), the others in
  // prepare_image (no image frame among the loader's frames)
  const reservation = delta > 0 && ((seed >>> 5) & 1) === 1 ? 'exchange' : (drawn.reservation ?? 'bootReserved');
  const listFits = reservation !== 'exchange' && Math.ceil(memPages / PFNS_PER_META) < 5 - delta;
  return {
    ...drawn,
    reservation,
    handoff: listFits ? (drawn.handoff ?? 'bitmapPointers') : 'bitmapPointers',
    saveKernelPages: region,
    saveKernelNeedPages: Math.min(region, drawn.saveKernelNeedPages ?? 8),
    loaderPages: region + ((seed >>> 11) % 9),
  };
}

/**
 * Saved (anonymous) pages that put restore `delta` safe frames past what the loader has (restoreShortfall in
 * spec/protocol/formulas.ts, written again here): the restore kernel occupies the whole region (R frames), safe
 * frames are RAM - R - (entries - busy), and it needs busy + ceil(busy / 170) + 5. Outside exchange the region
 * holds no image frame (busy 0); with exchange it holds original frames, between 1 and R <= 64 of them: one PBE
 * list page. So entries = RAM - R - 5 - (exchange ? 1 : 0) + delta.
 */
function restoreSafeUsed(e: KexecEdge, ram: number, delta: number): number {
  const pbeList = e.reservation === 'exchange' ? 1 : 0;
  return Math.max(1, ram - e.saveKernelPages - RESTORE_FRAMES - pbeList + delta);
}

const near = (x: number, spread: number): fc.Arbitrary<number> =>
  fc.integer({ min: Math.max(0, x - spread), max: x + spread });

const protocolArb = (only?: 'kexec' | 'swsusp') => {
  const kexec = fc.record({
    kind: fc.constant('kexec' as const),
    reservation: fc.constantFrom(...KEXEC_RESERVATIONS),
    handoff: fc.constantFrom(...KEXEC_HANDOFFS),
    saveKernelPages: fc.integer({ min: 4, max: 64 }),
    saveKernelNeedPages: fc.integer({ min: 1, max: 24 }),
    loaderPages: fc.integer({ min: 1, max: 96 }),
    zeroElision: fc.boolean(),
  });
  const swsusp = fc.record(
    {
      kind: fc.constant('swsusp' as const),
      kernel: fc.constantFrom(...KERNEL_LINES),
      compression: fc.constantFrom(...SWSUSP_COMPRESSIONS),
      interface: fc.constantFrom(...SWSUSP_INTERFACES),
      imageSizePages: fc.integer({ min: 0, max: 4096 }),
      pagesForIo: fc.integer({ min: 0, max: 64 }),
    },
    { requiredKeys: ['kind', 'kernel', 'compression', 'interface'] },
  );
  if (only === 'kexec') return kexec;
  if (only === 'swsusp') return swsusp;
  return fc.oneof(kexec, swsusp);
};

/** A whole scenario, schema-valid by construction (GeneratedScenariosAreValid checks it). */
export function scenarioArb(opts: ScenarioArbOptions = {}): fc.Arbitrary<ScenarioInput> {
  const maxMem = opts.maxMemPages ?? 4096;
  return fc
    .record({
      memPages: fc.oneof(
        { weight: 1, arbitrary: fc.integer({ min: 64, max: 511 }) },
        { weight: 4, arbitrary: fc.integer({ min: 512, max: Math.max(512, maxMem) }) },
      ),
      protocol: protocolArb(opts.protocol),
      edge: fc.oneof(
        { weight: 4, arbitrary: fc.constant(undefined) },
        {
          weight: 1,
          arbitrary: fc.record({
            kind: fc.constantFrom(...EDGE_KINDS),
            k: fc.integer({ min: 1, max: 3 }),
            delta: fc.integer({ min: -1, max: 1 }),
            // four in five mapPage edges also fit their storage to the page, one short most often: a full swap
            // map page whose next map page finds no slot (save_image's ENOSPC between two map pages)
            storageDelta: fc.constantFrom(undefined, -1, -1, 0, 1),
          }),
        },
        // restore's safe frames once more (where kexec may be drawn): its two failure paths (prepare_image,
        // get_buffer) at n-1, n, n+1 each, so a run of 60 kexec scenarios meets every one
        ...(opts.protocol === 'swsusp'
          ? []
          : [
              {
                weight: 1,
                arbitrary: fc.record({
                  kind: fc.constant<EdgeKind>('restoreSafe'),
                  k: fc.constant(1),
                  delta: fc.constantFrom(1, 0, -1),
                  storageDelta: fc.constant(undefined),
                }),
              },
            ]),
      ),
      // fraction of RAM in use, per mille; biased around the swsusp half-of-RAM limit
      usedPermille: fc.oneof(fc.integer({ min: 0, max: 700 }), near(450, 60)),
      mix: fc.array(fc.nat(100), { minLength: 7, maxLength: 7 }),
      seed: fc.nat(),
      holes: fc.array(
        fc.record({
          at: fc.double({ min: 0, max: 1, noNaN: true }),
          pages: fc.integer({ min: 1, max: 8 }),
          type: fc.constantFrom('reserved', 'nvs', 'acpi') as fc.Arbitrary<'reserved' | 'nvs' | 'acpi'>,
        }),
        { maxLength: 3 },
      ),
      storageSlack: fc.oneof(near(0, 3), fc.integer({ min: -50, max: 2000 })),
      storageKind: fc.oneof(
        { weight: 6, arbitrary: fc.constant('swapPartition' as const) },
        { weight: 1, arbitrary: fc.constant('swapFile' as const) },
        { weight: 1, arbitrary: fc.constant('dmCrypt' as const) },
        { weight: 1, arbitrary: fc.constant('fuseFile' as const) },
      ),
      keyAtResume: fc.oneof(
        { weight: 8, arbitrary: fc.constant('same' as const) },
        { weight: 1, arbitrary: fc.constantFrom('missing' as const, 'wrong' as const) },
      ),
      offset: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 64 })),
      stepsSel: fc.record({
        writesBefore: fc.array(
          fc.record({
            kind: fc.constantFrom('anon', 'zero', 'pageCacheDirty', 'slab', 'dma') as fc.Arbitrary<'anon'>,
            pages: fc.integer({ min: 1, max: 64 }),
          }),
          { maxLength: 2 },
        ),
        fault:
          opts.faults === false
            ? fc.constant<FaultKind>('none')
            : Array.isArray(opts.faults)
              ? fc.constantFrom<FaultKind>(...(opts.faults as readonly FaultKind[]))
              : fc.constantFrom<FaultKind>('none', ...FAULT_KINDS),
        faultAt: fc.oneof(
          fc.constantFrom(0, 1, 2),
          fc.integer({ min: -3, max: 3 }),
          fc.double({ min: 0, max: 1, noNaN: true }),
        ),
        region: fc.constantFrom(...FAULT_REGIONS),
        index: fc.nat(4096),
        bit: fc.integer({ min: 0, max: 31 }),
        // two in three map flips hit next_swap, the link to the next map page: bits that turn 0, 513 or 1025 (the
        // links of a chain from offset 0) back to slot 1 (a cycle), low bits (another slot), any (past the device)
        linkBit: fc.option(
          fc.oneof(fc.constantFrom(0, 9, 10), fc.integer({ min: 0, max: 11 }), fc.integer({ min: 0, max: 63 })),
          { freq: 3 },
        ),
        abortIndex: fc.nat(),
        mismatch: fc.constantFrom('memory', 'e820', 'kernel'),
        // several cycles per scenario: state carried across them (epoch, image ids, signatures, slots)
        cycles: fc.oneof(
          { weight: 6, arbitrary: fc.constant('one' as const) },
          { weight: 1, arbitrary: fc.constantFrom(...CYCLE_SHAPES) },
        ),
      }),
    })
    .map((g): ScenarioInput => {
      const edge = g.edge === undefined ? undefined : { ...g.edge, kind: memoryLimitOf(g.edge.kind, g.protocol.kind) };
      const safeEdge =
        edge?.kind === 'restoreSafe' && g.protocol.kind === 'kexec'
          ? restoreSafeEdge(g.protocol, g.seed, g.memPages, edge.delta)
          : undefined;
      const proto = safeEdge ?? g.protocol;
      // an edge scenario grows the machine until its saved pages fit below the half-of-RAM limit
      // k-th boundary, k as large as maxMemPages allows (at least the first)
      const k = edge === undefined ? 0 : 1 + ((edge.k - 1) % Math.max(1, Math.floor((maxMem - 128) / (2.6 * 512))));
      const want =
        edge?.kind === 'metaPage'
          ? PFNS_PER_META * k + edge.delta
          : edge?.kind === 'mapPage'
            ? savedForStream(MAP_PAGE_ENTRIES * k + edge.delta)
            : 0;
      const mem = Math.max(
        g.memPages,
        Math.ceil(want * 2.6) + 128,
        safeEdge === undefined ? 0 : 4 * safeEdge.loaderPages + 64,
      );
      const e820 = g.holes.map((h) => ({
        start: Math.min(mem - h.pages, Math.max(0, Math.floor(h.at * mem))),
        pages: h.pages,
        type: h.type,
      }));
      const io =
        proto.kind === 'swsusp' && proto.pagesForIo !== undefined ? proto.pagesForIo : Math.min(1024, mem >> 5);
      let used = Math.floor((mem * g.usedPermille) / 1000);
      if (edge !== undefined) {
        const nosave = nosaveMap(mem, e820).reduce((a, b) => a + b, 0);
        used =
          edge.kind === 'halfOfRam'
            ? Math.max(1, halfOfRam(mem, nosave, io) + edge.delta)
            : edge.kind === 'storage'
              ? Math.max(1, Math.min(used, halfOfRam(mem, nosave, io)))
              : safeEdge !== undefined
                ? restoreSafeUsed(safeEdge, mem - nosave, edge.delta)
                : want;
      }
      const w = g.mix.map((x) => x + 1);
      const total = w.reduce((a, b) => a + b, 0);
      const share = (k: number) => Math.floor((used * (w[k] as number)) / total);
      // an edge scenario saves exactly `used` data pages: anonymous memory only (no zero page, no reclaim)
      const workload =
        edge !== undefined
          ? { anon: used }
          : {
              anon: share(0),
              zero: share(1),
              pageCacheClean: share(2),
              pageCacheDirty: share(3),
              slab: share(4),
              kernelText: Math.min(share(5), 64),
              dma: share(6),
            };
      const writes = estimateWrites(used);
      const offset = g.storageKind === 'swapFile' ? g.offset : 0;
      // free slots after get_swap_writer(): all but the header and the first map page; what the image needs of them
      const stream = streamOf(used);
      const nocompress = proto.kind === 'swsusp' && proto.compression === 'none';
      const need = nocompress ? io + stream + 1 : stream + mapPagesOf(stream) - 1;
      // a third of the noresume boots before the first hibernation use their swap (mkswap, swapon, pages swapped
      // out): slots in use that the writer must step over. Those inside the swap area are added to it, so an edge
      // keeps its free slots (impl/steps.ts writes the device's first pages, the header skipped).
      const bootSwap = g.stepsSel.cycles === 'bootFirst' && g.stepsSel.index % 3 === 0 ? 8 : 0;
      const storagePages =
        Math.max(0, bootSwap - offset) +
        (edge === undefined
          ? Math.max(2, writes + g.storageSlack + g.offset + 1)
          : offset + 2 + need + (storageFit(edge) ?? 64 + Math.max(0, g.storageSlack)));
      const steps: Step[] = (edge !== undefined ? [] : g.stepsSel.writesBefore).map((x) => ({
        op: 'write' as const,
        kind: x.kind,
        pages: x.pages,
      }));
      const s = g.stepsSel;
      const at =
        typeof s.faultAt === 'number' && Number.isInteger(s.faultAt)
          ? s.faultAt < 0
            ? Math.max(0, writes + s.faultAt)
            : s.faultAt
          : Math.floor((s.faultAt as number) * writes);
      const kexec = proto.kind === 'kexec';
      const abortAt = kexec
        ? (KEXEC_ABORT_POINTS[s.abortIndex % KEXEC_ABORT_POINTS.length] as string)
        : (SWSUSP_ABORT_POINTS[s.abortIndex % SWSUSP_ABORT_POINTS.length] as string);
      const hib = (extra: object) => steps.push({ op: 'hibernate', ...extra } as Step);
      // a restoreSafe edge keeps only the faults after which restore still loads the image (when 'none' may be drawn)
      const noneAllowed = !Array.isArray(opts.faults) || (opts.faults as readonly FaultKind[]).includes('none');
      const fault = safeEdge !== undefined && noneAllowed && !LOADING_FAULTS.includes(s.fault) ? 'none' : s.fault;
      switch (fault) {
        case 'powerLoss':
          hib({ powerLossAfterWrite: at });
          break;
        case 'eio':
          hib({ ioErrorAtWrite: at });
          break;
        case 'eioAfterSignature':
          hib({ ioErrorAfterSignature: true });
          break;
        case 'abort':
          hib({ abortAt });
          steps.push({ op: 'write', kind: 'anon', pages: 3 });
          break;
        case 'dma':
          hib({ dmaAfterStopPages: 1 + (s.index % 4) });
          break;
        default:
          hib({});
      }
      if (fault === 'corrupt') {
        const bit = s.region === 'map' && s.linkBit !== null ? MAP_NEXT_BIT + s.linkBit : s.bit;
        steps.push({ op: 'corrupt', region: s.region, index: s.index, bit });
      }
      if (fault === 'stale') {
        steps.push({ op: 'bootNoresume', writeStoragePages: s.index % 2 === 0 ? 0 : 4 });
        // and hibernate again in that boot (a third): over the kept image the swap area is no swap (ENODEV); after
        // mkswap it takes a new image
        if (s.index % 3 === 0) steps.push({ op: 'hibernate' });
      }
      if (fault === 'mismatch') {
        steps.push(
          s.mismatch === 'memory'
            ? { op: 'resume', memPages: mem + 64, e820Changed: false }
            : s.mismatch === 'e820'
              ? { op: 'resume', e820Changed: true }
              : { op: 'resume', e820Changed: false, kernel: s.index % 2 === 0 ? '6.1' : '6.12' },
        );
      } else steps.push({ op: 'resume', e820Changed: false });
      if (fault === 'twice') steps.push({ op: 'resume', e820Changed: false });
      const first = steps.findIndex((st) => st.op === 'hibernate');
      if (s.cycles === 'bootFirst') steps.unshift({ op: 'bootNoresume', writeStoragePages: bootSwap });
      if (s.cycles === 'failThenRetry') steps.splice(first, 0, { op: 'hibernate', ioErrorAtWrite: 1 + (s.index % 8) });
      if (s.cycles === 'twoCycles')
        steps.push(
          { op: 'write', kind: 'anon', pages: 1 + (s.index % 16) },
          { op: 'hibernate' },
          { op: 'resume', e820Changed: false },
        );
      return {
        version: 1,
        id: `gen-${g.seed.toString(16)}`,
        seed: g.seed,
        machine: { memPages: mem, ...(e820.length > 0 ? { e820 } : {}), cpus: 1 },
        workload,
        protocol: proto,
        storage: {
          kind: g.storageKind,
          pages: storagePages,
          offset: g.storageKind === 'swapFile' ? Math.min(g.offset, storagePages - 1) : 0,
          keyAtResume: g.storageKind === 'dmCrypt' ? g.keyAtResume : 'same',
        },
        steps,
      };
    });
}
