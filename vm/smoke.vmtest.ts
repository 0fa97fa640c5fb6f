// Smoke test on a real kernel (debian-6.1 under TCG, ~1 min): one clean hibernate/resume cycle and one I/O fault,
// asserting the facts the runner reports (image on disk, memory, fault, signature) and what the monitors make of them.
// Runs only in the lead's VM project (HIBFUZZ_VM=1); needs vm/setup.sh and network access to Debian's archive once.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeObservation } from '../spec/invariants/observed.ts';
import type { Observation } from '../spec/outcome.ts';
import { parseScenario, type Scenario } from '../spec/scenario/schema.ts';
import { runScenarioInVm } from './run.ts';

const KERNEL = process.env.HIBFUZZ_KERNEL ?? 'debian-6.1';

function shipped(name: string): Scenario {
  const r = parseScenario(JSON.parse(readFileSync(new URL(`./scenarios/${name}.json`, import.meta.url), 'utf8')));
  if (!r.ok) throw new Error(r.error);
  return r.scenario;
}

const workDir = (id: string) => mkdtempSync(join(tmpdir(), `hibfuzz-${id}-`));

/** Invariants the spec monitors find violated in the run's facts (the runner names none). */
const violated = (s: Scenario, o: Observation) =>
  judgeObservation(s, o)
    .filter((j) => j.result === 'violated')
    .map((j) => j.invariant);

describe(`real kernel ${KERNEL}`, () => {
  it('hibernates and resumes with every tagged page intact; the image on disk checks out', {
    timeout: 300_000,
  }, async () => {
    // Arrange
    const s = shipped('clean-cycle');
    // Act
    const r = await runScenarioInVm(s, { kernel: KERNEL, workDir: workDir(s.id) });
    // Assert
    expect(r.artifacts.boots.map((b) => b.verdict.kind)).toEqual(['pass', 'pass']);
    expect(r.observation.target).toBe('vm');
    expect(r.observation.kernel).toMatch(/^\d+\.\d+/);
    expect(r.observation.violations).toEqual([]);
    const [write, hibernate, resume] = r.observation.steps;
    expect(write).toEqual({ op: 'write', pages: 256 });
    expect(hibernate).toMatchObject({
      op: 'hibernate',
      result: 'poweredOff',
      storage: {
        signed: true,
        image: {
          complete: true,
          compressor: 'lzo',
          pfnsAscending: true,
          countsConsistent: true,
          nosavePfns: 0,
          tagged: { expected: s.workload.anon, missing: 0, duplicated: 0, wrongData: 0 },
        },
      },
    });
    if (hibernate?.op === 'hibernate' && hibernate.result === 'poweredOff') {
      expect(hibernate.image.dataPages).toBeGreaterThan(s.workload.anon);
      expect(hibernate.storage?.image?.stats).toEqual(hibernate.image);
    }
    expect(resume).toEqual({
      op: 'resume',
      result: 'resumed',
      pagesChecked: 17408,
      pagesCorrupt: 0,
      storageAfter: { signed: false },
    });
    expect(violated(s, r.observation)).toEqual([]);
  });

  it('fails hibernation with EIO when the disk fails an image write: the fault fired, nothing lost, no image, no slot leaked', {
    timeout: 300_000,
  }, async () => {
    const s = shipped('io-error-at-write');
    const r = await runScenarioInVm(s, { kernel: KERNEL, workDir: workDir(s.id) });
    expect(r.artifacts.boots.map((b) => b.verdict.kind)).toEqual(['pass', 'pass']);
    expect(r.observation.steps).toEqual([
      {
        op: 'hibernate',
        result: 'failed',
        errno: 'EIO',
        phase: 'write',
        fault: 'fired',
        storage: { signed: false },
        memory: { checked: s.workload.anon, corrupt: 0 },
        slotsLeaked: 0,
      },
      { op: 'resume', result: 'noImage' },
    ]);
    expect(r.observation.violations).toEqual([]);
    expect(violated(s, r.observation)).toEqual([]);
  });
});
