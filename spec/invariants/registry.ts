// The invariant registry: one entry per InvariantName (a missing one fails to compile), with its monitor, the
// kernel code or the sentence of the 2007 proposal it comes from, and the bug classes of
// hibernation-internals.md §5 it guards against.

import type { RunTrace } from '../model/trace.ts';
import type { Violation } from '../outcome.ts';
import { outcomeAllowed } from '../protocol/abstract.ts';
import {
  abortCopiesNothing,
  failureLosesNothing,
  quiescedMemoryUnchanged,
  saveKernelStaysInItsBox,
} from './hibernate.ts';
import { everyPageSavedOnce, imageCommittedAtomically, nosaveNeverSaved, swapSlotsFreedOnError } from './image.ts';
import type { InvariantName } from './names.ts';
import {
  corruptImageNeverResumed,
  imageResumedAtMostOnce,
  mismatchedImageRefused,
  restoreNeverClobbers,
  resumeRestoresIdenticalMemory,
  staleImageNeverResumed,
} from './resume.ts';

export type ProtocolKind = 'kexec' | 'swsusp';

export interface InvariantInfo {
  readonly kind: 'safety' | 'liveness';
  /** what the monitor ranges over */
  readonly over: string;
  readonly protocols: readonly ProtocolKind[];
  readonly summary: string;
  /** kernel source or the 2007 proposal's sentence it comes from */
  readonly source: string;
  /** rows of the bug-class table (hibernation-internals.md §5) */
  readonly bugClasses: readonly number[];
  readonly check: (t: RunTrace) => Violation[];
}

const BOTH = ['kexec', 'swsusp'] as const;

// keep-sorted start
export const invariantInfo = {
  AbortCopiesNothing: {
    kind: 'safety',
    over: 'each aborted hibernation: frames written (memory before vs after, against what the protocol may write), memory and frame owners before vs after',
    protocols: BOTH,
    summary:
      'An abort jumps back with zero page copies; every in-use page of the original kernel is unchanged, every frame given back.',
    source:
      'proposal: "abort hibernation ... the pages are already in memory exactly where they need to be, so all that needs to be done is to stop all devices, and jump back"',
    bugClasses: [17],
    check: abortCopiesNothing,
  },
  CorruptImageNeverResumed: {
    kind: 'safety',
    over: 'each resume of an image altered at rest',
    protocols: BOTH,
    summary: 'An image changed at rest is refused (or, if the change did not matter, resumes intact).',
    source: 'kernel/power/swap.c: load_compressed_image() CRC32 check ("Invalid image CRC32!")',
    bugClasses: [10],
    check: corruptImageNeverResumed,
  },
  EveryPageSavedOnce: {
    kind: 'safety',
    over: "each written image vs memory when the image was defined, and its header vs the writer's machine",
    protocols: BOTH,
    summary:
      "Image PFN set == saveable set, strictly ascending (no duplicates), each data page once and exact; the header counts the image and the writer's RAM.",
    source:
      'kernel/power/snapshot.c: pack_pfns(), copy_data_pages(), init_header() (num_physpages = get_num_physpages()); proposal: "the original kernel prepares a list of pages to write"',
    bugClasses: [8, 9],
    check: everyPageSavedOnce,
  },
  FailureLosesNothing: {
    kind: 'safety',
    over: 'each failed hibernation: memory, frame owners and storage before vs after',
    protocols: BOTH,
    summary:
      'A failure before power-off leaves the original kernel running, memory unchanged, every frame given back, nothing signed, and storage outside its free swap slots unchanged (an image kept by a noresume boot is not swap).',
    source: 'kernel/power/hibernate.c: hibernate() error paths; swap.c: swap_writer_finish() → free_all_swap_pages()',
    bugClasses: [12, 16],
    check: failureLosesNothing,
  },
  ImageCommittedAtomically: {
    kind: 'safety',
    over: 'storage after each hibernation, power loss at any write included; pages outside the swap area',
    protocols: BOTH,
    summary:
      'The header is signed iff a complete, durable image is on storage; the image is written only to free slots of its swap area.',
    source:
      'kernel/power/swap.c: mark_swapfiles() runs only after the whole image is written (and fef9c8d28e28); alloc_swapdev_block()',
    bugClasses: [4],
    check: imageCommittedAtomically,
  },
  ImageResumedAtMostOnce: {
    kind: 'safety',
    over: 'all resume attempts of a run',
    protocols: BOTH,
    summary: 'The signature is reset before loading: an image is resumed at most once.',
    source: 'kernel/power/swap.c: swsusp_check() "Reset swap signature now"',
    bugClasses: [3],
    check: imageResumedAtMostOnce,
  },
  MismatchedImageRefused: {
    kind: 'safety',
    over: 'each resume on a changed machine',
    protocols: BOTH,
    summary: 'Never resume on another memory size or memory map.',
    source:
      'kernel/power/snapshot.c: check_header() "Image mismatch: memory size"; arch/x86/power/hibernate.c e820 checksum',
    bugClasses: [5, 11, 14],
    check: mismatchedImageRefused,
  },
  NosaveNeverSaved: {
    kind: 'safety',
    over: "image PFNs; memory snapshots of every hibernation and resume phase; the save kernel's region; vs the machine's nosave map",
    protocols: BOTH,
    summary:
      "Nosave ranges (reserved, ACPI, NVS, holes) are never saved, never written (kexec load, exchange, save kernel, loader, final copy), never in the save kernel's region.",
    source: 'arch/x86/kernel/e820.c: e820__register_nosave_regions(); snapshot.c: mark_nosave_pages()',
    bugClasses: [8, 13],
    check: nosaveNeverSaved,
  },
  OutcomeAllowed: {
    kind: 'liveness',
    over: "every step: its outcome against the abstract protocol's prediction from the system at the request",
    protocols: BOTH,
    summary:
      "Each step ends as the abstract protocol predicts: ENOMEM/ENOSPC exactly at the formulas' limits, scheduled faults fire, a complete, valid, matching image resumes intact.",
    source:
      'kernel/power/snapshot.c hibernate_preallocate_memory(), swap.c enough_swap()/save_image()/swap_writer_finish(), software_resume(); spec/protocol/',
    bugClasses: [],
    check: outcomeAllowed,
  },
  QuiescedMemoryUnchanged: {
    kind: 'safety',
    over: 'saved pages between the image definition and its durability',
    protocols: BOTH,
    summary: 'After devices stop, nothing changes a saved page until the image is durable.',
    source:
      'proposal: "the original kernel ... stopping all devices, and jumping to the new kernel"; bug class 6 (DMA)',
    bugClasses: [6],
    check: quiescedMemoryUnchanged,
  },
  RestoreNeverClobbers: {
    kind: 'safety',
    over: "memory when the restore kernel starts, after loading and after the final copy; the loader's lists (cross-checked)",
    protocols: BOTH,
    summary:
      'The loader writes only frames free when the restore kernel started; the final copy writes only image destinations; its lists are consistent.',
    source: 'kernel/power/snapshot.c: mark_unsafe_pages(), get_buffer(); kexec_core.c kimage_alloc_page() rule',
    bugClasses: [8],
    check: restoreNeverClobbers,
  },
  ResumeRestoresIdenticalMemory: {
    kind: 'safety',
    over: 'each successful resume of an intact image',
    protocols: BOTH,
    summary: 'After resume every saved page is back in its frame, byte-identical.',
    source:
      'proposal: "shuffle the pages around so they are in the right positions, and then jump to the resumed kernel"',
    bugClasses: [6, 9],
    check: resumeRestoresIdenticalMemory,
  },
  SaveKernelStaysInItsBox: {
    kind: 'safety',
    over: 'memory between the jump and the save kernel stopping; memory outside its region after abort',
    protocols: ['kexec'],
    summary: 'The save kernel writes only its own region; the original kernel outside it is untouched.',
    source: 'proposal: "the save kernel, confined to its own memory"; kexec-tools --pass-memmap-cmdline (exactmap)',
    bugClasses: [2, 17],
    check: saveKernelStaysInItsBox,
  },
  StaleImageNeverResumed: {
    kind: 'safety',
    over: 'resumes after a read-write boot',
    protocols: BOTH,
    summary: 'An image older than the last read-write mount is never resumed.',
    source: 'Documentation/power/swsusp.rst "bye bye root partition"; TuxOnIce last-mount check',
    bugClasses: [1, 2],
    check: staleImageNeverResumed,
  },
  SwapSlotsFreedOnError: {
    kind: 'safety',
    over: 'storage slots after a failed write',
    protocols: BOTH,
    summary: 'A failed image write frees every slot it allocated.',
    source: 'kernel/power/swap.c: swap_writer_finish() error path → free_all_swap_pages()',
    bugClasses: [12],
    check: swapSlotsFreedOnError,
  },
} as const satisfies Record<InvariantName, InvariantInfo>;
// keep-sorted end

/** Run every monitor that applies to the scenario's protocol. Violations are data; nothing throws. */
export function checkAll(t: RunTrace, only?: readonly InvariantName[]): Violation[] {
  const out: Violation[] = [];
  for (const [name, info] of Object.entries(invariantInfo) as [InvariantName, InvariantInfo][]) {
    if (only !== undefined && !only.includes(name)) continue;
    if (!info.protocols.includes(t.scenario.protocol.kind)) continue;
    out.push(...info.check(t));
  }
  return out;
}
