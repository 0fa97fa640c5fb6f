// The gate's candidate is predicted with the base kernel's guest baseline: openBackend(path, { baseline }) (no QEMU).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openBackend } from '../vm/backends.ts';
import { fakeKernel } from './testdata/fake-qemu/harness.ts';

describe('a kernel given a guest baseline', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-backends-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is predicted with it and never calibrated (the gate gives the candidate the base kernel's)", async () => {
    // Arrange: a synthetic bzImage no QEMU could boot: a calibration run would fail
    const bz = fakeKernel(join(dir, 'cand'), '6.12.117-gate');
    const baseline = { slab: 14000, zero: 2700, source: "the base kernel's (calibration run)" };
    // Act
    const id = await openBackend(bz, { baseline }).identity();
    // Assert
    expect(id.baseline).toEqual(baseline);
    expect(id.line).toBe('6.12');
  });
});
