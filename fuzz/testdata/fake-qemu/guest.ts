// What the fake QEMU's guest is made of, shared by the fake (fake-qemu.ts) and the tests (harness.ts). Pure.

/** Bytes a kernel file must hold for the fake to "boot" it (harness.ts fakeKernel writes them after the header). */
export const FAKE_KERNEL_MARKER = 'HIBFUZZ-FAKE-KERNEL';

/**
 * Pages of the fake guest besides the agent's, as vm/backends.ts GUEST_BASELINE measured them on real Debian images
 * (6.1.192-3: 20 827 data pages; 6.12.117: 14 301 data and 2 768 zero pages of its own). A calibration run of a
 * kernel given as a path (vm/baseline.ts) measures exactly these through the fake.
 */
export const FAKE_GUEST_PAGES = {
  '6.1': { data: 20827, zero: 0 },
  '6.12': { data: 14301, zero: 2768 },
} as const;
