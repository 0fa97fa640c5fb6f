// The one scenario format (version 1): a zod schema that is the single source of truth; the JSON Schema in
// scenario.schema.json is generated from it (emit-json-schema.ts) and checked in CI.
//
// A scenario is what both targets run: the reference model (impl/) and a real kernel in QEMU (vm/).
// Units: memory and storage sizes are in 4 KiB pages; positions are PFNs (memory) or page indices (storage).
import { z } from 'zod';

export const SCENARIO_VERSION = 1 as const;

/** 64 pages (256 KiB) up to 1 TiB of simulated RAM (PFNs stay below the PFN list's zero flag, bit 31). */
export const MIN_MEM_PAGES = 64;
export const MAX_MEM_PAGES = 256 * 1024 * 1024;

// keep-sorted start
export const E820_TYPES = ['acpi', 'nvs', 'ram', 'reserved'] as const;
export const FAULT_REGIONS = ['data', 'header', 'map', 'meta'] as const;
export const KEXEC_ABORT_POINTS = ['afterImageWritten', 'afterJump', 'afterLoad', 'afterStopDevices'] as const;
export const KEXEC_HANDOFFS = ['bitmapPointers', 'pfnList'] as const;
export const KEXEC_RESERVATIONS = ['bootReserved', 'exchange', 'reclaimPageCache'] as const;
export const KERNEL_LINES = ['6.1', '6.12'] as const;
export const STORAGE_KINDS = ['dmCrypt', 'fuseFile', 'swapFile', 'swapPartition'] as const;
export const SWSUSP_ABORT_POINTS = ['core', 'devices', 'freezer', 'platform', 'processors', 'testResume'] as const;
export const SWSUSP_COMPRESSIONS = ['lz4', 'lzo', 'none'] as const;
export const SWSUSP_INTERFACES = ['sysfs', 'uswsusp'] as const;
export const WORKLOAD_KINDS = [
  'anon',
  'dma',
  'kernelText',
  'pageCacheClean',
  'pageCacheDirty',
  'slab',
  'zero',
] as const;
// keep-sorted end

export type E820Type = (typeof E820_TYPES)[number];
export type FaultRegion = (typeof FAULT_REGIONS)[number];
export type KexecAbortPoint = (typeof KEXEC_ABORT_POINTS)[number];
export type KexecHandoff = (typeof KEXEC_HANDOFFS)[number];
export type KexecReservation = (typeof KEXEC_RESERVATIONS)[number];
export type KernelLine = (typeof KERNEL_LINES)[number];
export type StorageKind = (typeof STORAGE_KINDS)[number];
export type SwsuspAbortPoint = (typeof SWSUSP_ABORT_POINTS)[number];
export type SwsuspCompression = (typeof SWSUSP_COMPRESSIONS)[number];
export type SwsuspInterface = (typeof SWSUSP_INTERFACES)[number];
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

const pages = (max = MAX_MEM_PAGES) => z.int().min(0).max(max);

export const E820EntrySchema = z
  .object({
    start: pages().describe('first PFN of the range'),
    pages: z.int().min(1).max(MAX_MEM_PAGES).describe('length of the range in pages'),
    type: z.enum(E820_TYPES).describe('the e820 type the firmware reports for the range'),
  })
  .strict();

export const MachineSchema = z
  .object({
    memPages: z.int().min(MIN_MEM_PAGES).max(MAX_MEM_PAGES).describe('physical memory in 4 KiB pages (64 .. 1 TiB)'),
    e820: z
      .array(E820EntrySchema)
      .max(64)
      .optional()
      .describe('non-RAM holes inside [0, memPages): reserved, ACPI or NVS ranges; everything else is RAM'),
    cpus: z.int().min(1).max(8).default(1).describe('CPUs of the machine'),
  })
  .strict();

/** Pages the workload puts in memory before the first step, by kind. Free memory is what remains. */
export const WorkloadSchema = z
  .object({
    anon: pages().default(0).describe('anonymous pages with distinct content (the agent: mlocked, tagged)'),
    zero: pages().default(0).describe('in-use pages whose content is all zero'),
    pageCacheClean: pages().default(0).describe('clean page cache: may be dropped instead of saved'),
    pageCacheDirty: pages().default(0).describe('dirty page cache: written back or saved, never dropped'),
    slab: pages().default(0).describe('kernel slab pages (saved like other in-use pages)'),
    kernelText: pages().default(0).describe('kernel text and data of the original kernel'),
    dma: pages().default(0).describe('DMA buffers of devices (saved like other in-use pages)'),
  })
  .strict();

export const KexecProtocolSchema = z
  .object({
    kind: z.literal('kexec').describe('the 2007 kexec-jump proposal: a save kernel writes the image'),
    reservation: z
      .enum(KEXEC_RESERVATIONS)
      .default('exchange')
      .describe(
        'where the save kernel lives: bootReserved (crashkernel-style), reclaimPageCache (region is page cache until hibernation), exchange (kexec jump swaps the region with staging pages)',
      ),
    handoff: z
      .enum(KEXEC_HANDOFFS)
      .default('pfnList')
      .describe('pfnList: list of PFNs whose address goes on the cmdline; bitmapPointers: pointers to the bitmaps'),
    saveKernelPages: z.int().min(1).max(MAX_MEM_PAGES).default(16).describe('size of the save kernel region'),
    saveKernelNeedPages: z
      .int()
      .min(1)
      .max(MAX_MEM_PAGES)
      .default(8)
      .describe('pages the save kernel needs in its region: kernel, initrd, working memory (kexec_load fails below)'),
    loaderPages: z.int().min(1).max(MAX_MEM_PAGES).default(16).describe('footprint of the resume (loader) kernel'),
    zeroElision: z.boolean().default(true).describe('zero pages flagged in the PFN list instead of stored'),
  })
  .strict();

export const SwsuspProtocolSchema = z
  .object({
    kind: z.literal('swsusp').describe('the in-kernel swsusp path of mainline Linux'),
    kernel: z.enum(KERNEL_LINES).default('6.12').describe('kernel line whose swsusp behaviour is modelled'),
    compression: z.enum(SWSUSP_COMPRESSIONS).default('lzo').describe('none = hibernate=nocompress (no CRC)'),
    interface: z.enum(SWSUSP_INTERFACES).default('sysfs').describe('sysfs: echo disk; uswsusp: /dev/snapshot'),
    imageSizePages: z.int().min(0).max(MAX_MEM_PAGES).optional().describe('/sys/power/image_size (default 2/5 RAM)'),
    pagesForIo: z.int().min(0).max(4096).optional().describe('PAGES_FOR_IO (kernel: 1024; default min(1024, mem/32))'),
  })
  .strict();

export const ProtocolSchema = z.discriminatedUnion('kind', [KexecProtocolSchema, SwsuspProtocolSchema]);

export const StorageSchema = z
  .object({
    kind: z
      .enum(STORAGE_KINDS)
      .default('swapPartition')
      .describe(
        'where the image goes: a swap partition, a swap file, swap inside dm-crypt, or a file on FUSE (freezing fails: EBUSY)',
      ),
    pages: z
      .int()
      .min(2)
      .max(2 * MAX_MEM_PAGES)
      .describe('capacity of the swap area in pages'),
    offset: z.int().min(0).max(MAX_MEM_PAGES).default(0).describe('swap header page index (resume_offset)'),
    keyAtResume: z.enum(['same', 'missing', 'wrong']).default('same').describe('dmCrypt: key available at resume'),
  })
  .strict();

// ---- steps ----------------------------------------------------------------------------------------------------

export const WriteStepSchema = z
  .object({
    op: z.literal('write').describe('user space writes pages (they join the workload)'),
    kind: z.enum(WORKLOAD_KINDS).default('anon').describe('which kind of page is written'),
    pages: z.int().min(1).max(MAX_MEM_PAGES).describe('user space writes this many pages of the kind'),
  })
  .strict();

export const HibernateStepSchema = z
  .object({
    op: z
      .literal('hibernate')
      .describe('hibernate: write the image and power off (or abort, or fail as the faults say)'),
    powerLossAfterWrite: z.int().min(0).optional().describe('power is lost after this many image writes'),
    ioErrorAtWrite: z.int().min(0).optional().describe('the storage returns EIO for this image write'),
    ioErrorAfterSignature: z
      .boolean()
      .optional()
      .describe('the storage returns EIO for the first image write after the header page is signed'),
    dmaAfterStopPages: z.int().min(0).max(MAX_MEM_PAGES).optional().describe('a device keeps DMA-ing after stop'),
    abortAt: z
      .union([z.enum(KEXEC_ABORT_POINTS), z.enum(SWSUSP_ABORT_POINTS)])
      .optional()
      .describe('abort (jump back / roll back) at this point instead of powering off'),
  })
  .strict();

export const CorruptStepSchema = z
  .object({
    op: z.literal('corrupt').describe('flip one bit of the stored image while the machine is off'),
    region: z
      .enum(FAULT_REGIONS)
      .describe('which part of the image: header page, map (PFN list) pages, metadata or data pages'),
    index: z.int().min(0).describe('which page of the region (taken modulo its length)'),
    bit: z
      .int()
      .min(0)
      .max(32767)
      .default(0)
      .describe(
        'bit of the 4 KiB page to flip (the model flips bit % 32 of its page token; in a map page, bits from 32704 ' +
          'flip next_swap, the link to the next map page)',
      ),
  })
  .strict();

export const BootNoresumeStepSchema = z
  .object({
    op: z.literal('bootNoresume').describe('boot with noresume: the image is not restored and may be overwritten'),
    writeStoragePages: z.int().min(0).default(0).describe('pages the fresh system writes to the swap area'),
  })
  .strict();

export const ResumeStepSchema = z
  .object({
    op: z.literal('resume').describe('boot and resume from the image'),
    memPages: z.int().min(MIN_MEM_PAGES).max(MAX_MEM_PAGES).optional().describe('resume on another memory size'),
    e820Changed: z.boolean().default(false).describe('firmware memory map differs at resume'),
    kernel: z.enum(KERNEL_LINES).optional().describe('resume with another kernel line'),
  })
  .strict();

export const StepSchema = z.discriminatedUnion('op', [
  WriteStepSchema,
  HibernateStepSchema,
  CorruptStepSchema,
  BootNoresumeStepSchema,
  ResumeStepSchema,
]);

export const ScenarioSchema = z
  .object({
    $schema: z
      .string()
      .optional()
      .describe('this JSON Schema (a path relative to the file, or a URL): editors validate and complete with it'),
    version: z.literal(SCENARIO_VERSION).describe('scenario format version (1)'),
    id: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9._-]+$/)
      .describe('name of the scenario in reports (letters, digits, dot, dash, underscore)'),
    description: z.string().max(4096).optional().describe('what the scenario exercises, for people'),
    seed: z.int().min(0).max(0xffffffff).default(1).describe('seeds page contents; runs are deterministic'),
    machine: MachineSchema.describe('the simulated machine: memory size, firmware memory map, CPUs'),
    workload: WorkloadSchema.default({
      anon: 0,
      zero: 0,
      pageCacheClean: 0,
      pageCacheDirty: 0,
      slab: 0,
      kernelText: 0,
      dma: 0,
    }).describe('pages in use before the first step, by kind; the rest of memory is free'),
    protocol: ProtocolSchema.describe('how the machine hibernates: the kexec proposal or swsusp, with its options'),
    storage: StorageSchema.describe('the swap area the image is written to'),
    steps: z.array(StepSchema).min(1).max(64).describe('what happens, in order (each step is one op)'),
  })
  .strict();

export type E820Entry = z.infer<typeof E820EntrySchema>;
export type Machine = z.infer<typeof MachineSchema>;
export type Workload = z.infer<typeof WorkloadSchema>;
export type KexecProtocol = z.infer<typeof KexecProtocolSchema>;
export type SwsuspProtocol = z.infer<typeof SwsuspProtocolSchema>;
export type Protocol = z.infer<typeof ProtocolSchema>;
export type Storage = z.infer<typeof StorageSchema>;
export type Step = z.infer<typeof StepSchema>;
export type HibernateStep = z.infer<typeof HibernateStepSchema>;
export type ResumeStep = z.infer<typeof ResumeStepSchema>;
export type CorruptStep = z.infer<typeof CorruptStepSchema>;
/** A parsed scenario (defaults filled in). */
export type Scenario = z.infer<typeof ScenarioSchema>;
/** A scenario as written in a file (defaults optional). */
export type ScenarioInput = z.input<typeof ScenarioSchema>;

export type ParseResult = { ok: true; scenario: Scenario } | { ok: false; error: string };

/**
 * Validate an unknown JSON value. On failure, one line naming the first problem and its path in the document
 * (e.g. `steps[2].op: Invalid input`), as the CLI prints it.
 */
export function parseScenario(value: unknown): ParseResult {
  if (typeof value === 'object' && value !== null && 'version' in value && value.version !== SCENARIO_VERSION) {
    return { ok: false, error: `version: unsupported scenario version ${JSON.stringify(value.version)} (expected 1)` };
  }
  const r = ScenarioSchema.safeParse(value);
  if (r.success) {
    const semantic = checkScenario(r.data);
    return semantic === undefined ? { ok: true, scenario: r.data } : { ok: false, error: semantic };
  }
  const issue = r.error.issues[0];
  if (issue === undefined) return { ok: false, error: 'invalid scenario' };
  return { ok: false, error: `${formatPath(issue.path)}: ${issue.message}` };
}

export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? String(p) : `.${String(p)}`;
  return s;
}

/** Cross-field rules zod's shape cannot say. Returns one line or undefined. */
function checkScenario(s: Scenario): string | undefined {
  const w = s.workload;
  const used = w.anon + w.zero + w.pageCacheClean + w.pageCacheDirty + w.slab + w.kernelText + w.dma;
  if (used > s.machine.memPages) return `workload: ${used} pages do not fit in machine.memPages ${s.machine.memPages}`;
  for (const [i, e] of (s.machine.e820 ?? []).entries()) {
    if (e.start + e.pages > s.machine.memPages) return `machine.e820[${i}]: range ends beyond machine.memPages`;
  }
  if (s.storage.offset >= s.storage.pages) return 'storage.offset: must be below storage.pages';
  for (const [i, st] of s.steps.entries()) {
    if (st.op !== 'hibernate' || st.abortAt === undefined) continue;
    const kexec = (KEXEC_ABORT_POINTS as readonly string[]).includes(st.abortAt);
    if (kexec !== (s.protocol.kind === 'kexec')) {
      return `steps[${i}].abortAt: '${st.abortAt}' is not an abort point of protocol ${s.protocol.kind}`;
    }
  }
  return undefined;
}
