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
  /** save kernel region [start, end) (kexec protocol) */
  readonly region?: { readonly start: number; readonly end: number };
  /** frames the save kernel wrote while it ran (kexec protocol), ascending */
  readonly saveKernelWrites?: Uint32Array;
  /** page copies made of the original kernel's memory: image copies (atomic copy), region exchange copies */
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
  /** loading bookkeeping (present when loading started) */
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
