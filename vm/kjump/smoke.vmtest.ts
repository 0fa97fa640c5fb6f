// Real-QEMU smoke test of the kexec-jump save kernel: one save + abort cycle (A -> B writes the image -> A).
// Runs only in the VM project (HIBFUZZ_VM=1). The first run builds the kernel (~4 min on 2 cores); later runs are cached.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeObservation } from '../../spec/invariants/observed.ts';
import { parseScenario } from '../../spec/scenario/schema.ts';
import { runKjumpScenario } from './run.ts';

const scenario = parseScenario({
  version: 1,
  id: 'kjump-smoke',
  seed: 4242,
  machine: { memPages: 131072, cpus: 2 },
  workload: { anon: 2048 },
  protocol: { kind: 'kexec', saveKernelPages: 20480 },
  storage: { pages: 147456 },
  steps: [{ op: 'hibernate', abortAt: 'afterImageWritten' }],
});

describe.skipIf(process.env.HIBFUZZ_VM !== '1')('kjump smoke (real QEMU)', () => {
  it('saves every tagged page once and comes back with memory intact', { timeout: 900_000 }, async () => {
    // Arrange
    if (!scenario.ok) throw new Error(scenario.error);
    // Act
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-kjump-smoke-'));
    const r = await runKjumpScenario(scenario.scenario, { timeoutMs: 240_000, artifactsDir: dir }).finally(() =>
      rmSync(join(dir, 'disk.img'), { force: true }),
    );
    // Assert
    expect(r.boots.map((b) => [b.role, b.kind, b.title])).toEqual([['a', 'pass', 'powered off']]);
    expect(r.observation.target).toBe('vm');
    expect(r.observation.kernel).toMatch(/^kjump-6\.12 /);
    expect(r.observation.violations).toEqual([]);
    const stats = { dataPages: 2048, zeroPages: 0, metaPages: 4, streamPages: 2053, writes: 2054 };
    expect(r.observation.steps).toEqual([
      {
        op: 'hibernate',
        result: 'aborted',
        at: 'afterImageWritten',
        image: stats,
        // A marked the image stale when it came back: readable, checked, no longer signed
        storage: {
          signed: false,
          image: {
            complete: true,
            compressor: 'none',
            stats,
            pfnsAscending: true,
            countsConsistent: true,
            nosavePfns: 0,
            tagged: { expected: 2048, missing: 0, duplicated: 0, wrongData: 0 },
          },
        },
        memory: { checked: 2048, corrupt: 0, corruptOutside: 0 },
      },
    ]);
    const judged = judgeObservation(scenario.scenario, r.observation);
    const held = judged.filter((j) => j.result === 'held').map((j) => j.invariant);
    expect(judged.filter((j) => j.result === 'violated')).toEqual([]);
    expect(held).toEqual(expect.arrayContaining(['AbortCopiesNothing', 'SaveKernelStaysInItsBox']));
    expect(r.timings.a?.abortLatency).toBeGreaterThan(0);
  });
});
