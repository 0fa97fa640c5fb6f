// kjump run planning: scenario -> guest plan (or the reason it cannot run as written), kernel command lines.
// Pure; run.ts does the I/O.
import { PAGE_SIZE } from '../../spec/brand.ts';
import type { HibernateStep, KexecProtocol, Scenario, Step } from '../../spec/scenario/schema.ts';
import { pcMemoryRefusal } from '../qemu/args.ts';
import { AREC_PAGES } from './image.ts';
import { restoreTargetWords, type TargetPlan, targetPlan, targetWords } from './target.ts';

export const MIN_MEM_MIB = 256;
const MIB = 1024 * 1024;
/**
 * What the kjump save kernel (kernel, initrd, working memory) measurably needs in its region: kexec-tools refuses
 * 24, 28 and 32 MiB and places it in 36 MiB (RESULTS.md). The model's protocol.saveKernelNeedPages for this kernel.
 */
export const KJUMP_SAVE_KERNEL_NEED_PAGES = (36 * MIB) / PAGE_SIZE;

export type SaveMode = 'abort' | 'poweroff';
export type HelperKind = 'own' | 'stock';

export interface PlanHibernate {
  readonly kind: 'hibernate';
  readonly index: number;
  readonly mode: SaveMode;
  /** EIO at this stream write (info page, meta pages, data pages, counted from 0) */
  readonly eioAt?: number;
  /** power is lost after this many stream writes */
  readonly powerLossAt?: number;
}

export type PlanStep =
  | { readonly kind: 'write'; readonly index: number; readonly pages: number }
  | PlanHibernate
  | {
      readonly kind: 'corrupt';
      readonly index: number;
      readonly region: 'data' | 'header' | 'meta';
      readonly page: number;
      readonly bit: number;
    }
  | { readonly kind: 'resume'; readonly index: number };

export interface KjumpPlan {
  readonly memMiB: number;
  readonly cpus: number;
  readonly taggedPages: number;
  /** mlocked all-zero pages A lists (workload.zero + zero writes) */
  readonly zeroPages: number;
  /** flag zero pages in the PFN list instead of storing them (protocol.zeroElision) */
  readonly zeroElision: boolean;
  readonly seed: number;
  /** kexec --mem-max: B's region is [0x1000, memMax] */
  readonly memMax: number;
  /** pages of the target (the raw disk, the swap file or the dm-crypt volume): the container and A's record */
  readonly diskPages: number;
  /** what the image is written to, and the virtio disk's size */
  readonly target: TargetPlan;
  /** list all of A's RAM (needed to resume from a cold boot), not only the tagged pages */
  readonly full: boolean;
  readonly hibernate: PlanHibernate;
  readonly steps: readonly PlanStep[];
}

export type PlanResult = { ok: true; plan: KjumpPlan } | { ok: false; error: string };

/**
 * Scenario features outside the steps that the kjump run cannot do as written, each with its reason (the reason
 * becomes "unsupported"; nothing runs on a substitute). protocol.saveKernelNeedPages and loaderPages describe the
 * kernel, not the machine: the real kernel needs what it needs (KJUMP_SAVE_KERNEL_NEED_PAGES), the model is told so.
 */
function machineRefusal(s: Scenario, proto: KexecProtocol): string | undefined {
  const mem = pcMemoryRefusal('machine.memPages', s.machine.memPages);
  if (mem !== undefined) return mem;
  if (s.machine.memPages * PAGE_SIZE < MIN_MEM_MIB * MIB) {
    return `machine.memPages: kjump needs at least ${MIN_MEM_MIB} MiB`;
  }
  if ((s.machine.e820 ?? []).length > 0) return "machine.e820: QEMU's firmware memory map cannot be set per scenario";
  const w = s.workload;
  for (const k of ['pageCacheClean', 'pageCacheDirty', 'slab', 'kernelText', 'dma'] as const) {
    if (w[k] > 0) return `workload.${k}: A only holds tagged (anon) and all-zero pages`;
  }
  if (proto.reservation !== 'exchange') {
    return `protocol.reservation: '${proto.reservation}' is not implemented; kexec jump exchanges the region (KEXEC_PRESERVE_CONTEXT)`;
  }
  if (proto.handoff !== 'pfnList') {
    return `protocol.handoff: '${proto.handoff}' is not implemented; A hands B a PFN list (hibkj.list=)`;
  }
  if (s.storage.offset !== 0) return 'storage.offset: the container header is at page 0 of the target';
  return undefined;
}

function hibernateRefusal(st: HibernateStep): string | undefined {
  if (st.abortAt !== undefined && st.abortAt !== 'afterImageWritten') {
    return `abortAt: kjump supports 'afterImageWritten' only, not '${st.abortAt}'`;
  }
  if ((st.dmaAfterStopPages ?? 0) > 0) return 'dmaAfterStopPages: no device keeps DMA-ing in the kjump guest';
  if (st.ioErrorAfterSignature === true) {
    return 'ioErrorAfterSignature: the container header is written last, no write follows the signature';
  }
  return undefined;
}

type Phase = 'before' | 'saved' | 'resumed';

/** The plan step for one scenario step, or the reason it cannot run as written. */
function planStep(st: Step, index: number, phase: Phase): PlanStep | string {
  switch (st.op) {
    case 'write':
      if (phase !== 'before') return 'writes after hibernate are not supported';
      if (st.kind !== 'anon' && st.kind !== 'zero') return `write kind '${st.kind}': A writes anon and zero pages only`;
      return { kind: 'write', index, pages: st.pages };
    case 'hibernate': {
      if (phase !== 'before') return 'one hibernate step only';
      const why = hibernateRefusal(st);
      if (why !== undefined) return why;
      return {
        kind: 'hibernate',
        index,
        mode: st.abortAt === undefined ? 'poweroff' : 'abort',
        ...(st.ioErrorAtWrite !== undefined ? { eioAt: st.ioErrorAtWrite } : {}),
        ...(st.powerLossAfterWrite !== undefined ? { powerLossAt: st.powerLossAfterWrite } : {}),
      };
    }
    case 'corrupt':
      if (phase !== 'saved') return 'corrupt only between hibernate and resume';
      if (st.region === 'map') return "region 'map': the kexec container has no swap map pages";
      return { kind: 'corrupt', index, region: st.region, page: st.index, bit: st.bit };
    case 'resume':
      if (phase !== 'saved') return 'one resume, after the hibernate step';
      if (st.memPages !== undefined || st.e820Changed || st.kernel !== undefined) {
        return 'kjump resumes on the same machine and kernel only';
      }
      return { kind: 'resume', index };
    case 'bootNoresume':
      return "op 'bootNoresume' is not supported by kjump";
  }
}

/**
 * Supported shape: write* hibernate corrupt* resume?. The hibernate step aborts (jump back) when abortAt is
 * 'afterImageWritten', and powers off otherwise; a resume step boots a restore kernel cold. B's region is
 * [0x1000, saveKernelPages pages) as written: a region too small for B fails to load, as on any kernel.
 */
export function planScenario(s: Scenario): PlanResult {
  const proto = s.protocol;
  if (proto.kind !== 'kexec') return { ok: false, error: 'protocol.kind: kjump runs only kexec scenarios' };
  const why = machineRefusal(s, proto);
  if (why !== undefined) return { ok: false, error: why };
  const steps: PlanStep[] = [];
  let phase: Phase = 'before';
  for (const [index, st] of s.steps.entries()) {
    const p = planStep(st, index, phase);
    if (typeof p === 'string') return { ok: false, error: `steps[${index}]: ${p}` };
    steps.push(p);
    if (p.kind === 'hibernate') phase = 'saved';
    if (p.kind === 'resume') phase = 'resumed';
  }
  const hibernate = steps.find((p): p is PlanHibernate => p.kind === 'hibernate');
  if (hibernate === undefined) return { ok: false, error: 'steps: kjump needs a hibernate step' };
  const writes = (kind: 'anon' | 'zero') =>
    s.steps.reduce((n, st) => n + (st.op === 'write' && st.kind === kind ? st.pages : 0), 0);
  const tagged = s.workload.anon + writes('anon');
  if (tagged === 0) return { ok: false, error: 'workload.anon: A needs at least one tagged page to check' };
  const diskPages = s.storage.pages + AREC_PAGES;
  const target = targetPlan(s, diskPages);
  return {
    ok: true,
    plan: {
      memMiB: (s.machine.memPages * PAGE_SIZE) / MIB,
      cpus: s.machine.cpus,
      taggedPages: tagged,
      zeroPages: s.workload.zero + writes('zero'),
      zeroElision: proto.zeroElision,
      seed: s.seed,
      memMax: proto.saveKernelPages * PAGE_SIZE - 1,
      diskPages,
      target,
      full: steps.some((p) => p.kind === 'resume'),
      hibernate,
      steps,
    },
  };
}

/** Kernel command line of A, as words (the hibernate step's faults and mode come from the plan). */
export function aCmdline(p: KjumpPlan, helper: HelperKind, jumpBackSegment?: number): string[] {
  const h = p.hibernate;
  const w = [
    'console=ttyS0',
    'panic=-1',
    'hibkj.role=a',
    `hibkj.pages=${p.taggedPages}`,
    `hibkj.seed=${p.seed}`,
    'hibkj.gen=1',
    `hibkj.memmax=0x${p.memMax.toString(16)}`,
    `hibkj.full=${p.full ? 1 : 0}`,
    `hibkj.mode=${h.mode}`,
    `hibkj.helper=${helper}`,
    `hibkj.zeropages=${p.zeroPages}`,
    `hibkj.zero=${p.zeroElision ? 1 : 0}`,
  ];
  if (h.eioAt !== undefined) w.push(`hibkj.eioat=${h.eioAt}`);
  if (h.powerLossAt !== undefined) w.push(`hibkj.plat=${h.powerLossAt}`);
  if (jumpBackSegment !== undefined) w.push(`hibkj.jbseg=0x${jumpBackSegment.toString(16)}`);
  return [...w, ...targetWords(p.target, p.diskPages)];
}

/**
 * Restore kernel C, as words: confined to B's RAM (the memmap= words and acpi_rsdp of B's command line), and the
 * target with the key C is given (keyAtResume).
 */
export function cCmdline(bCmdline: string, p: KjumpPlan): string[] {
  const keep = bCmdline.split(/\s+/).filter((w) => w.startsWith('memmap=') || w.startsWith('acpi_rsdp='));
  const target = restoreTargetWords(p.target, p.diskPages);
  return ['console=ttyS0', 'panic=-1', 'hibkj.role=c', ...keep, ...target];
}
