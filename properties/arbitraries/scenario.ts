// fast-check arbitraries for whole scenarios, biased toward the edges where hibernation bugs live: images that
// just fit or just overflow storage, memory near the half-of-RAM limit, loader footprints overlapping many image
// frames, faults at the first / last write and at the signature write, zero pages at the end of the image.
import fc from 'fast-check';
import type { ScenarioInput, Step } from '../../spec/index.ts';
import {
  KERNEL_LINES,
  KEXEC_ABORT_POINTS,
  KEXEC_HANDOFFS,
  KEXEC_RESERVATIONS,
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

/** Pages an image of `used` saveable pages writes: header, info, meta, data and map pages. */
export function estimateWrites(used: number): number {
  const stream = 1 + Math.ceil(used / 512) + used;
  return stream + Math.ceil(stream / 511) + 1;
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
        region: fc.constantFrom('data', 'meta', 'header', 'map') as fc.Arbitrary<'data' | 'meta' | 'header' | 'map'>,
        index: fc.nat(4096),
        bit: fc.integer({ min: 0, max: 31 }),
        abortIndex: fc.nat(),
        mismatch: fc.constantFrom('memory', 'e820', 'kernel'),
      }),
    })
    .map((g): ScenarioInput => {
      const mem = g.memPages;
      const used = Math.floor((mem * g.usedPermille) / 1000);
      const w = g.mix.map((x) => x + 1);
      const total = w.reduce((a, b) => a + b, 0);
      const share = (k: number) => Math.floor((used * (w[k] as number)) / total);
      const workload = {
        anon: share(0),
        zero: share(1),
        pageCacheClean: share(2),
        pageCacheDirty: share(3),
        slab: share(4),
        kernelText: Math.min(share(5), 64),
        dma: share(6),
      };
      const e820 = g.holes.map((h) => ({
        start: Math.min(mem - h.pages, Math.max(0, Math.floor(h.at * mem))),
        pages: h.pages,
        type: h.type,
      }));
      const writes = estimateWrites(used);
      const storagePages = Math.max(2, writes + g.storageSlack + g.offset + 1);
      const steps: Step[] = g.stepsSel.writesBefore.map((x) => ({
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
      const kexec = g.protocol.kind === 'kexec';
      const abortAt = kexec
        ? (KEXEC_ABORT_POINTS[s.abortIndex % KEXEC_ABORT_POINTS.length] as string)
        : (SWSUSP_ABORT_POINTS[s.abortIndex % SWSUSP_ABORT_POINTS.length] as string);
      const hib = (extra: object) => steps.push({ op: 'hibernate', ...extra } as Step);
      switch (s.fault) {
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
      if (s.fault === 'corrupt') steps.push({ op: 'corrupt', region: s.region, index: s.index, bit: s.bit });
      if (s.fault === 'stale') steps.push({ op: 'bootNoresume', writeStoragePages: s.index % 2 === 0 ? 0 : 4 });
      if (s.fault === 'mismatch') {
        steps.push(
          s.mismatch === 'memory'
            ? { op: 'resume', memPages: mem + 64, e820Changed: false }
            : s.mismatch === 'e820'
              ? { op: 'resume', e820Changed: true }
              : { op: 'resume', e820Changed: false, kernel: s.index % 2 === 0 ? '6.1' : '6.12' },
        );
      } else steps.push({ op: 'resume', e820Changed: false });
      if (s.fault === 'twice') steps.push({ op: 'resume', e820Changed: false });
      return {
        version: 1,
        id: `gen-${g.seed.toString(16)}`,
        seed: g.seed,
        machine: { memPages: mem, ...(e820.length > 0 ? { e820 } : {}), cpus: 1 },
        workload,
        protocol: g.protocol,
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
