// kjump run planning and reading: scenario -> guest plan, console -> events, events -> phase timings and outcome class.
// Pure; run.ts does the I/O.
import type { Scenario } from '../../spec/scenario/schema.ts';
import { AREC_PAGES } from './image.ts';

/** Default save-kernel region when the scenario's saveKernelPages is a model-sized toy (< 16 MiB): 80 MiB. */
export const DEFAULT_REGION_BYTES = 80 * 1024 * 1024;
export const MIN_REGION_PAGES = 4096;
export const MIN_MEM_MIB = 256;

export type SaveMode = 'abort' | 'poweroff';
export type HelperKind = 'own' | 'stock';

export type PlanStep =
  | { readonly kind: 'write'; readonly index: number; readonly pages: number }
  | {
      readonly kind: 'hibernate';
      readonly index: number;
      readonly mode: SaveMode;
      readonly eioAt?: number;
      readonly powerLossAt?: number;
    }
  | {
      readonly kind: 'corrupt';
      readonly index: number;
      readonly region: string;
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
  readonly diskPages: number;
  /** list all of A's RAM (needed to resume from a cold boot), not only the tagged pages */
  readonly full: boolean;
  readonly steps: readonly PlanStep[];
}

export type PlanResult = { ok: true; plan: KjumpPlan } | { ok: false; error: string };

/**
 * Supported shape: write* hibernate corrupt* resume?. The hibernate step aborts (jump back) when abortAt is
 * 'afterImageWritten', and powers off otherwise; a resume step boots a restore kernel cold.
 */
export function planScenario(s: Scenario): PlanResult {
  if (s.protocol.kind !== 'kexec') return { ok: false, error: 'protocol.kind: kjump runs only kexec scenarios' };
  const memBytes = s.machine.memPages * 4096;
  if (memBytes % (1024 * 1024) !== 0) return { ok: false, error: 'machine.memPages: must be whole MiB for QEMU -m' };
  const memMiB = memBytes / (1024 * 1024);
  if (memMiB < MIN_MEM_MIB) return { ok: false, error: `machine.memPages: kjump needs at least ${MIN_MEM_MIB} MiB` };
  const regionBytes =
    s.protocol.saveKernelPages >= MIN_REGION_PAGES ? s.protocol.saveKernelPages * 4096 : DEFAULT_REGION_BYTES;
  const steps: PlanStep[] = [];
  let tagged = s.workload.anon;
  let zero = s.workload.zero;
  let phase: 'before' | 'saved' | 'resumed' = 'before';
  let mode: SaveMode | undefined;
  for (const [index, st] of s.steps.entries()) {
    const where = `steps[${index}]`;
    if (st.op === 'write') {
      if (phase !== 'before' || (st.kind !== 'anon' && st.kind !== 'zero')) {
        return { ok: false, error: `${where}: kjump supports anon and zero writes before hibernate only` };
      }
      if (st.kind === 'anon') tagged += st.pages;
      else zero += st.pages;
      steps.push({ kind: 'write', index, pages: st.pages });
    } else if (st.op === 'hibernate') {
      if (phase !== 'before') return { ok: false, error: `${where}: one hibernate step only` };
      if (st.abortAt !== undefined && st.abortAt !== 'afterImageWritten') {
        return { ok: false, error: `${where}.abortAt: kjump supports 'afterImageWritten' only` };
      }
      if (st.dmaAfterStopPages !== undefined)
        return { ok: false, error: `${where}.dmaAfterStopPages: not supported by kjump` };
      mode = st.abortAt === undefined ? 'poweroff' : 'abort';
      steps.push({
        kind: 'hibernate',
        index,
        mode,
        ...(st.ioErrorAtWrite !== undefined ? { eioAt: st.ioErrorAtWrite } : {}),
        ...(st.powerLossAfterWrite !== undefined ? { powerLossAt: st.powerLossAfterWrite } : {}),
      });
      phase = 'saved';
    } else if (st.op === 'corrupt') {
      if (phase !== 'saved') return { ok: false, error: `${where}: corrupt only between hibernate and resume` };
      steps.push({ kind: 'corrupt', index, region: st.region, page: st.index, bit: st.bit });
    } else if (st.op === 'resume') {
      if (phase !== 'saved') return { ok: false, error: `${where}: resume needs a preceding hibernate` };
      if (st.memPages !== undefined || st.e820Changed || st.kernel !== undefined) {
        return { ok: false, error: `${where}: kjump resumes on the same machine and kernel only` };
      }
      steps.push({ kind: 'resume', index });
      phase = 'resumed';
    } else {
      return { ok: false, error: `${where}: op '${st.op}' is not supported by kjump` };
    }
  }
  if (mode === undefined) return { ok: false, error: 'steps: kjump needs a hibernate step' };
  return {
    ok: true,
    plan: {
      memMiB,
      cpus: s.machine.cpus,
      taggedPages: Math.max(1, tagged),
      zeroPages: zero,
      zeroElision: s.protocol.zeroElision,
      seed: s.seed,
      memMax: regionBytes - 1,
      diskPages: s.storage.pages + AREC_PAGES,
      full: steps.some((p) => p.kind === 'resume'),
      steps,
    },
  };
}

/** Kernel command line of A. */
export function aCmdline(
  p: KjumpPlan,
  helper: HelperKind,
  mode: SaveMode,
  extra: { eioAt?: number; powerLossAt?: number; jumpBackSegment?: number },
): string {
  const w = [
    'console=ttyS0',
    'panic=-1',
    'hibkj.role=a',
    `hibkj.pages=${p.taggedPages}`,
    `hibkj.seed=${p.seed}`,
    'hibkj.gen=1',
    `hibkj.memmax=0x${p.memMax.toString(16)}`,
    `hibkj.full=${p.full ? 1 : 0}`,
    `hibkj.mode=${mode}`,
    `hibkj.helper=${helper}`,
    `hibkj.zeropages=${p.zeroPages}`,
    `hibkj.zero=${p.zeroElision ? 1 : 0}`,
  ];
  if (extra.eioAt !== undefined) w.push(`hibkj.eioat=${extra.eioAt}`);
  if (extra.powerLossAt !== undefined) w.push(`hibkj.plat=${extra.powerLossAt}`);
  if (extra.jumpBackSegment !== undefined) w.push(`hibkj.jbseg=0x${extra.jumpBackSegment.toString(16)}`);
  return w.join(' ');
}

/** Restore kernel C: confined to B's RAM (the memmap= words and acpi_rsdp of B's command line). */
export function cCmdline(bCmdline: string): string {
  const keep = bCmdline.split(/\s+/).filter((w) => w.startsWith('memmap=') || w.startsWith('acpi_rsdp='));
  return ['console=ttyS0', 'panic=-1', 'hibkj.role=c', ...keep].join(' ');
}

////////    console -> events    ////////

export interface ConsoleLine {
  /** host milliseconds since QEMU was started */
  readonly t: number;
  readonly text: string;
}

export interface GuestEvent {
  readonly t: number;
  readonly ev: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** `HIBFUZZ {json}` lines; the first occurrence of each event name wins (the console replays lines on resume). */
export function parseEvents(lines: readonly ConsoleLine[]): GuestEvent[] {
  const out: GuestEvent[] = [];
  const seen = new Set<string>();
  for (const l of lines) {
    const i = l.text.indexOf('HIBFUZZ {');
    if (i < 0) continue;
    try {
      const data = JSON.parse(l.text.slice(i + 8).trim()) as Record<string, unknown>;
      const ev = typeof data.ev === 'string' ? data.ev : '?';
      if (seen.has(ev)) continue;
      seen.add(ev);
      out.push({ t: l.t, ev, data });
    } catch {
      // a line garbled by interleaved kernel output: not an event
    }
  }
  return out;
}

export const findEvent = (evs: readonly GuestEvent[], name: string): GuestEvent | undefined =>
  evs.find((e) => e.ev === name);

export const num = (e: GuestEvent | undefined, key: string): number | undefined => {
  const v = e?.data[key];
  return typeof v === 'number' ? v : undefined;
};

/** First kernel line (`[    0.000000]`) after host time t: the next kernel's first message. */
export function firstKernelLineAfter(lines: readonly ConsoleLine[], t: number): number | undefined {
  return lines.find((l) => l.t > t && /^\[\s*0\.0{6}\]/.test(l.text))?.t;
}

export type Timings = Readonly<Record<string, number>>;

/** Phase durations in seconds (host wall clock), for the phases whose two ends were seen. */
export function phaseTimings(lines: readonly ConsoleLine[], evs: readonly GuestEvent[], exitT: number): Timings {
  const t = (n: string) => findEvent(evs, n)?.t;
  const out: Record<string, number> = {};
  const span = (name: string, a: number | undefined, b: number | undefined) => {
    if (a !== undefined && b !== undefined && b >= a) out[name] = Math.round(b - a) / 1000;
  };
  const aJump = t('a-jump');
  const bFirst = aJump === undefined ? undefined : firstKernelLineAfter(lines, aJump);
  span('qemuToAInit', 0, t('a-init'));
  span('aKexecLoad', t('a-load'), t('a-loaded'));
  span('aJumpToBKernel', aJump, bFirst);
  span('bKernelToInit', bFirst, t('b-init'));
  span('bSave', t('b-init'), t('b-save-rc'));
  span('bLoadJumpBack', t('b-save-rc'), t('jump'));
  span('bJumpToA', t('jump'), t('a-back'));
  span('abortLatency', aJump, t('a-back'));
  span('qemuToCInit', 0, t('c-init'));
  span('cRestore', t('c-init'), t('c-restored'));
  span('coldResumeTotal', 0, t('a-back') !== undefined && t('c-init') !== undefined ? t('a-back') : undefined);
  span('qemuTotal', 0, exitT);
  return out;
}

// keep-sorted start
export const KJUMP_FAILURE_KINDS = [
  'guestError',
  'jumpBackHelperOom',
  'kexecLoadFailed',
  'noReturn',
  'restoreKernelNoBoot',
  'saveKernelNoBoot',
  'timeout',
] as const;
// keep-sorted end
export type KjumpFailureKind = (typeof KJUMP_FAILURE_KINDS)[number];

/**
 * A run that ended without A's a-verify line, classified. Kernel findings: jumpBackHelperOom (the 6.12
 * kimage_is_destination_range wrap with the helper's empty segment), noReturn (the jump back reset the machine:
 * QEMU -no-reboot exits with no marker, e.g. a triple fault), saveKernelNoBoot/restoreKernelNoBoot.
 */
export function classifyFailure(
  evs: readonly GuestEvent[],
  log: string,
  timedOut: boolean,
  role: 'a' | 'c',
): { kind: KjumpFailureKind; message: string } | undefined {
  if (findEvent(evs, 'a-verify') !== undefined) return undefined;
  const helper = findEvent(evs, 'b-helper-loaded');
  if (helper !== undefined && num(helper, 'rc') !== 0) {
    const oom = /page allocation failure|oom-kill|Could not allocate control_code_buffer|Out of memory/.test(log);
    return {
      kind: oom ? 'jumpBackHelperOom' : 'guestError',
      message: oom
        ? 'kexec --load-jump-back-helper failed in B with a page allocation failure (6.12: the empty segment makes every page a destination)'
        : `kexec --load-jump-back-helper failed in B (rc ${String(num(helper, 'rc'))})`,
    };
  }
  const err = findEvent(evs, 'error');
  if (err !== undefined) return { kind: 'guestError', message: `guest error: ${JSON.stringify(err.data)}` };
  const loaded = findEvent(evs, 'a-loaded');
  if (loaded !== undefined && num(loaded, 'rc') !== 0) {
    return {
      kind: 'kexecLoadFailed',
      message: `kexec --load-preserve-context failed in A (rc ${String(num(loaded, 'rc'))})`,
    };
  }
  if (timedOut) return { kind: 'timeout', message: 'QEMU timed out' };
  if (role === 'a' && findEvent(evs, 'a-jump') !== undefined && findEvent(evs, 'b-init') === undefined) {
    return { kind: 'saveKernelNoBoot', message: 'save kernel B never reached /init' };
  }
  if (role === 'c' && findEvent(evs, 'c-init') === undefined) {
    return { kind: 'restoreKernelNoBoot', message: 'restore kernel C never reached /init' };
  }
  if (findEvent(evs, 'jump') !== undefined && findEvent(evs, 'a-back') === undefined) {
    return {
      kind: 'noReturn',
      message: 'A did not come back after the jump (QEMU exited with no marker: reset or triple fault)',
    };
  }
  return undefined;
}
