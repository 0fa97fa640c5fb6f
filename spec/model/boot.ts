// The machine as the restore kernel finds it when it starts, as far as the monitors need it: which frames the restore
// (loader) kernel itself occupies. The implementation builds its boot memory from this, and the monitors derive the
// frames the loader may write from it (free at boot: neither its own nor nosave), never from the loader's lists.
import type { Scenario } from '../scenario/schema.ts';
import { saveRegion } from './init.ts';

/**
 * The frames [start, end) the restore kernel occupies at boot. swsusp: the boot kernel is the image kernel at the
 * same place, so it sits where the image kernel's text sits (at least 16 frames from frame 0). The kexec protocol:
 * the restore kernel is confined to the save kernel's region, its first `loaderPages` frames (from frame 0 when the
 * machine has no such region).
 */
export function restoreKernelFrames(s: Scenario): { readonly start: number; readonly end: number } {
  if (s.protocol.kind !== 'kexec') return { start: 0, end: Math.max(16, s.workload.kernelText) };
  const region = saveRegion(s);
  if (region === undefined) return { start: 0, end: s.protocol.loaderPages };
  return { start: region.start, end: Math.min(region.end, region.start + s.protocol.loaderPages) };
}
