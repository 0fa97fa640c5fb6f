import { describe, expect, it } from 'vitest';
import type { InvariantName, Observation } from '../spec/index.ts';
import {
  classifyAttempts,
  compareRuns,
  diffKey,
  isKconfigInput,
  patchFailures,
  patchFiles,
  runHealth,
  touchesKexec,
} from './gate-classify.ts';
import type { RealResult } from './real-run.ts';

const obs: Observation = { target: 'vm', kernel: 'k', steps: [], violations: [] } as unknown as Observation;

interface Fixture {
  status?: RealResult['status'];
  reasons?: string[];
  violated?: InvariantName[];
  held?: InvariantName[];
  boots?: { role: string; kind: string; title: string }[];
}

/** A real result as runReal returns it, reduced to what the gate reads. */
function result(f: Fixture = {}): RealResult {
  const invariants = [
    ...(f.held ?? []).map((invariant) => ({ invariant, result: 'held' as const, judged: 1, violations: [] })),
    ...(f.violated ?? []).map((invariant) => ({ invariant, result: 'violated' as const, judged: 1, violations: [] })),
  ];
  return {
    format: 'hibfuzz-real-run/1',
    scenario: 'vm-x',
    kernel: {
      spec: '/k/bzImage',
      version: '6.12.117',
      release: '6.12.117',
      line: '6.12',
      bzImageSha256: 'ab',
      capabilities: [],
    },
    status: f.status ?? 'pass',
    reasons: f.reasons ?? [],
    real: {
      outcomes: [],
      observation: obs,
      boots: (f.boots ?? [{ role: 'first', kind: 'pass', title: 'powered off' }]).map((b) => ({
        ...b,
        kind: b.kind as 'pass',
        consoleLog: '/tmp/x.log',
        seconds: 1,
      })),
      invariants,
      predicted: [],
    },
    differences: [],
    timings: { modelMs: 1, realSeconds: 3, phases: {} },
    workDir: '/tmp/x',
  };
}

const pass = () => result({ held: ['ImageResumedAtMostOnce', 'ResumeRestoresIdenticalMemory'] });
const resumedTwice = () =>
  result({
    status: 'finding',
    held: ['ResumeRestoresIdenticalMemory'],
    violated: ['ImageResumedAtMostOnce'],
    reasons: [
      'ImageResumedAtMostOnce: an image was resumed twice',
      'differential: step 2: model resume:noImage, vm resume:resumed:intact',
    ],
  });

describe('gate classification', () => {
  it('names the invariant that flipped in a regression', () => {
    // Act
    const c = compareRuns(pass(), resumedTwice());
    // Assert
    expect(c.class).toBe('regression');
    expect(c.flipped).toEqual(['ImageResumedAtMostOnce: held on base, violated on candidate']);
  });

  it('names the boot verdict that flipped', () => {
    const panic = result({
      status: 'finding',
      reasons: ['boot 2: kernelPanic: Kernel panic - not syncing'],
      boots: [
        { role: 'first', kind: 'pass', title: 'powered off' },
        { role: 'resume', kind: 'kernelPanic', title: 'Kernel panic - not syncing: Attempted to kill init!' },
      ],
    });
    const c = compareRuns(pass(), panic);
    expect(c.class).toBe('regression');
    expect(c.flipped).toEqual(['boot resume: kernelPanic on candidate (base: as planned)']);
  });

  it('calls a violation gone on the candidate fixed, even when the model (mirroring the base) now diverges', () => {
    // Arrange: the torn-image finding: violated as predicted on base; the fixed kernel fails the hibernation
    const base = result({ held: ['FailureLosesNothing'], violated: ['ImageCommittedAtomically'] });
    const cand = result({
      status: 'finding',
      held: ['FailureLosesNothing', 'ImageCommittedAtomically', 'SwapSlotsFreedOnError'],
      reasons: ['differential: step 0: model hibernate:poweredOff, vm hibernate:failed:EIO'],
    });
    // Act
    const c = compareRuns(base, cand);
    // Assert
    expect(c.class).toBe('fixed');
    expect(c.flipped).toEqual(['ImageCommittedAtomically: violated on base, held on candidate']);
    expect(c.summary).toContain('the model mirrors the base kernel');
  });

  it('is pre-existing when both kernels fail the same way, counts within tolerance ignored', () => {
    const a = result({
      status: 'finding',
      reasons: ['differential: step 1: model image dataPages 30617, vm 22160 (±512)'],
    });
    const b = result({
      status: 'finding',
      reasons: ['differential: step 1: model image dataPages 30617, vm 22151 (±512)'],
    });
    expect(compareRuns(a, b).class).toBe('pre-existing');
    expect(compareRuns(pass(), pass()).class).toBe('pass');
  });

  it('flags a divergence from the model the base did not have as a regression', () => {
    const c = compareRuns(
      pass(),
      result({
        status: 'finding',
        reasons: ['differential: step 0: model hibernate:poweredOff, vm hibernate:failed:ENOMEM'],
      }),
    );
    expect(c.class).toBe('regression');
    expect(c.flipped[0]).toContain('hibernate:failed:ENOMEM');
  });

  it('passes unsupported and host errors through with the kernel and the reason', () => {
    const u = result({ status: 'unsupported', reasons: ['protocol.compression lz4 needs lz4'] });
    expect(compareRuns(pass(), u)).toMatchObject({
      class: 'unsupported',
      summary: 'candidate: protocol.compression lz4 needs lz4',
    });
    const e = result({ status: 'error', reasons: ['QEMU was killed from outside'] });
    expect(compareRuns(e, pass())).toMatchObject({ class: 'error', summary: 'base: QEMU was killed from outside' });
  });

  it('keeps a difference that reproduces on every rerun, calls one that does not flaky', () => {
    expect(classifyAttempts([pass(), pass(), pass()], [resumedTwice(), resumedTwice(), resumedTwice()]).class).toBe(
      'regression',
    );
    const f = classifyAttempts([pass(), pass(), pass()], [resumedTwice(), pass(), pass()]);
    expect(f.class).toBe('flaky');
    expect(f.summary).toContain('candidate not held, held, held');
    // the base failing once another way (a panic under load) does not void a regression seen every time
    const panic = result({
      status: 'finding',
      reasons: ['boot 1: kernelPanic: IO-APIC + timer'],
      boots: [
        { role: 'first', kind: 'kernelPanic', title: "Kernel panic - not syncing: IO-APIC + timer doesn't work!" },
      ],
    });
    expect(classifyAttempts([pass(), panic, pass()], [resumedTwice(), resumedTwice(), resumedTwice()]).class).toBe(
      'regression',
    );
    // the flipped invariant also on a base attempt: not reproduced
    expect(
      classifyAttempts([pass(), resumedTwice(), pass()], [resumedTwice(), resumedTwice(), resumedTwice()]).class,
    ).toBe('flaky');
    // a rerun the host could not run is an error, not a verdict
    const e = result({ status: 'error', reasons: ['disk full'] });
    expect(classifyAttempts([pass(), e], [resumedTwice(), resumedTwice()]).class).toBe('error');
  });

  it('reads the run health from invariants, reasons and boots', () => {
    const h = runHealth(resumedTwice());
    expect(h.violated).toEqual(['ImageResumedAtMostOnce']);
    expect(h.diffs).toEqual(['step 2: model resume:noImage, vm resume:resumed:intact']);
    expect(diffKey('differential: step 1: model image zeroPages 3791, vm 4429 (±512)')).toBe(
      'step 1: model image zeroPages #, vm # (±#)',
    );
  });
});

describe('patches', () => {
  const diff = [
    'From: someone',
    'Subject: [PATCH] kexec: a change',
    '---',
    ' kernel/kexec_core.c | 2 +-',
    'diff --git a/kernel/kexec_core.c b/kernel/kexec_core.c',
    '--- a/kernel/kexec_core.c',
    '+++ b/kernel/kexec_core.c\t2026-01-01 00:00:00',
    '@@ -1 +1 @@',
    '--- a comment line removed',
    '--- /dev/null',
    '+++ b/arch/x86/Kconfig.new',
  ].join('\n');

  it('lists the files a patch touches, both sides, -p1', () => {
    expect(patchFiles(diff)).toEqual(['kernel/kexec_core.c', 'arch/x86/Kconfig.new']);
  });

  it('runs the kexec scenarios for kexec and x86 kexec/relocate code only', () => {
    expect(touchesKexec(['kernel/kexec_core.c'])).toBe(true);
    expect(touchesKexec(['arch/x86/kernel/relocate_kernel_64.S'])).toBe(true);
    expect(touchesKexec(['arch/x86/kernel/machine_kexec_64.c'])).toBe(true);
    expect(touchesKexec(['include/linux/kexec.h'])).toBe(true);
    expect(touchesKexec(['kernel/power/swap.c', 'kernel/power/snapshot.c'])).toBe(false);
  });

  it('regenerates the configuration only for Kconfig inputs', () => {
    expect(isKconfigInput('kernel/power/Kconfig')).toBe(true);
    expect(isKconfigInput('arch/x86/configs/tiny.config')).toBe(true);
    expect(isKconfigInput('kernel/power/swap.c')).toBe(false);
  });

  it("names the file and the hunk of a patch that does not apply (GNU patch's own words)", () => {
    const out = ['checking file kernel/power/swap.c', 'Hunk #2 FAILED at 504.', '1 out of 2 hunks FAILED'].join('\n');
    expect(patchFailures(out)).toEqual(['kernel/power/swap.c hunk #2 FAILED at line 504']);
    expect(patchFailures("can't find file to patch at input line 5")).toEqual(['a file: no such file in the tree']);
  });
});
