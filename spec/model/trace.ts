// What a run of the model records for the invariant checkers: (initial state, per-step records, final state).
// Page-level facts are typed arrays; events are coarse (one per phase), never one object per page.

import type { StepOutcome } from '../outcome.ts';
import type { Scenario } from '../scenario/schema.ts';
import type { BlockDevice, Memory } from './state.ts';

/** Phase events, in order, for the readable story and the "first divergence" of replay. */
export interface PhaseEvent {
  readonly step: number;
  readonly phase: string;
  /** counts that phase produced (frames saved, copied, relocated, writes...) */
  readonly counts?: Readonly<Record<string, number>>;
  readonly note?: string;
}

export interface HibernateRecord {
  readonly kind: 'hibernate';
  readonly step: number;
  readonly imageId: number;
  /** original system at the request (after preceding workload steps) */
  readonly before: Memory;
  /** storage at the request */
  readonly storageBefore: BlockDevice;
  /**
   * Memory as the original kernel sees it at the point the image is defined (kexec: devices stopped, list
   * prepared, before the jump; swsusp: the atomic copy). Undefined when the run failed or aborted earlier.
   */
  readonly atImage?: Memory;
  /** original kernel's view of memory when the image was complete (QuiescedMemoryUnchanged) */
  readonly afterWrite?: Uint32Array;
  /** the region kexec_load placed the save kernel in, [start, end) (kexec protocol; the implementation's report) */
  readonly region?: { readonly start: number; readonly end: number };
  /** frames the save kernel says it wrote while it ran (kexec protocol), ascending: for the story, no monitor's */
  readonly saveKernelWrites?: Uint32Array;
  /**
   * Raw contents of every frame when the save kernel starts: after the jump's region exchange and after devices that
   * ignored the stop wrote (kexec protocol; absent when it never ran). Recorded by the step, never computed by parts.
   */
  readonly atJump?: Uint32Array;
  /** raw contents of every frame when the save kernel stops: before the jump back or the power-off (kexec protocol) */
  readonly atSaveKernelEnd?: Uint32Array;
  /** the implementation's own copy counters (the story, explain): monitors derive copies from memory instead */
  readonly copies: { readonly image: number; readonly exchange: number };
  /** storage after the step */
  readonly storageAfter: BlockDevice;
  /** 1-based index of the write that signed the header in this step (absent: not signed) */
  readonly signedAtWrite?: number;
  /** 1-based index of the write the scheduled fault hit (a power loss: the first write lost; absent: not fired) */
  readonly faultAtWrite?: number;
  /** the running original system after the step, when it kept running (aborted or failed); else undefined */
  readonly after?: Memory;
  readonly outcome: StepOutcome;
}

export interface ResumeRecord {
  readonly kind: 'resume';
  readonly step: number;
  readonly storageAfter: BlockDevice;
  /** the hibernation whose image was found (by its info page), if any */
  readonly imageId?: number;
  readonly memPages: number;
  readonly e820Changed: boolean;
  readonly bootKernel: string;
  /** a boot with filesystems mounted happened since the image was written */
  readonly staleSinceImage: boolean;
  /** the image on storage was altered at rest since it was written */
  readonly corruptedSinceImage: boolean;
  /**
   * Raw contents of every frame when the restore kernel starts, before it reads the image, and when loading ended
   * (before the final copy, or at the refusal): present when the restore kernel went that far. Recorded by the resume
   * step around the loader, never by it; the monitors derive the loader's writes from them.
   */
  readonly atBoot?: Uint32Array;
  readonly atLoaded?: Uint32Array;
  /** the loader's own bookkeeping (present when loading started): the story, and cross-checks of its lists */
  readonly load?: {
    /** per frame: 1 = the loader allocated it (in-place destination or safe frame) */
    readonly allocated: Uint8Array;
    /** per frame: number of writes the loader made before the final copy */
    readonly written: Uint8Array;
    /** the image PFN set as loaded (per frame 1) */
    readonly imageSet: Uint8Array;
    /** the final copy's list: copy in safe frame src[i] goes to dst[i] */
    readonly pbeSrc: Uint32Array;
    readonly pbeDst: Uint32Array;
    /** frames holding the copy loop's code, page tables and PBE list pages */
    readonly codeFrames: Uint32Array;
  };
  /** memory after the jump into the original kernel, when resumed */
  readonly after?: Memory;
  readonly outcome: StepOutcome;
}

export interface OtherRecord {
  readonly kind: 'write' | 'corrupt' | 'bootNoresume';
  readonly step: number;
  readonly outcome: StepOutcome;
}

export type StepRecord = HibernateRecord | ResumeRecord | OtherRecord;

export interface RunTrace {
  readonly scenario: Scenario;
  readonly profile: string;
  readonly initial: Memory;
  readonly records: readonly StepRecord[];
  readonly events: readonly PhaseEvent[];
  /** the running system at the end (undefined when the machine is off) */
  readonly finalMemory?: Memory;
  readonly finalStorage: BlockDevice;
}
