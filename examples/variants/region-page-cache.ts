// A variant of the 2007 proposal: the save kernel's region is not set aside at boot. While the machine is not
// hibernating it is ordinary page cache (the proposal's "reserved region reused"), reclaimed when hibernation starts
// (clean pages dropped, dirty ones written back); once reclaimed, the save kernel uses ALL of it as its working
// memory (bounce buffers, the image writer's queue) instead of the few pages the reference save kernel touches.
//
// The question: does reusing the region cost any invariant? In particular SaveKernelStaysInItsBox (the save kernel
// writes only its region), AbortCopiesNothing and FailureLosesNothing (the original kernel's pages are untouched by
// an abort or a failed write), EveryPageSavedOnce (the region's former page cache is not in the image).
//
//   hibfuzz fuzz --parts examples/variants/region-page-cache.ts --protocol kexec --runs 2000 --seed 1
import type { Scenario, Variant } from '../../index.ts';

const variant: Variant = {
  name: 'region-page-cache',
  description: 'the save kernel region is page cache until hibernation, then the save kernel uses all of it',
  parts: {
    saveKernelWorkingSet: (region) =>
      Uint32Array.from({ length: region.end - region.start }, (_, i) => region.start + i),
  },
  // the design choice under test: every kexec scenario reclaims its region from the page cache
  scenario: (s: Scenario): Scenario =>
    s.protocol.kind === 'kexec' ? { ...s, protocol: { ...s.protocol, reservation: 'reclaimPageCache' } } : s,
};

export default variant;
