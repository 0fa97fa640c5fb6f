// Issue 8, "What was measured": false passes after a panic or a vanished QEMU, end to end through the real CLI with a
// fake qemu-system-x86_64 first on PATH (fuzz/testdata/fake-qemu: recorded Debian 6.1 consoles, a signed swsusp image
// on the disk). Before b494922 each of these read `real kernel: held`, `differential: agree`, exit 0
// (docs: ../shared/docs/review-2026-12-reliability.md D1, probes 4.4 and 4.5).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RealResult } from './real-run.ts';
import {
  baselineFile,
  fakeBaseline,
  fakeBoots,
  fakeKernel,
  fakeLab,
  HAS_BUSYBOX,
  hibfuzz,
  hibfuzzLines,
  removeLabs,
  SCENARIOS,
} from './testdata/fake-qemu/harness.ts';

const CYCLE = join(SCENARIOS, 'fq-cycle.json');
const RELEASE_61 = '6.1.0-57-amd64';

/** `hibfuzz vm run fq-cycle.json --kernel PATH` with the fake in `mode`. */
async function vmRun(
  mode: string,
  extra: readonly string[] = [],
  opts: { garbage?: boolean; calibrate?: boolean } = {},
) {
  const lab = fakeLab({ env: { FAKE_QEMU_MODE: mode } });
  const kernel = fakeKernel(join(lab.dir, 'kernel'), RELEASE_61, {
    ...(opts.garbage === true ? { garbage: true } : {}),
    ...(opts.calibrate === true ? {} : { seed: lab.cache }),
  });
  const r = await hibfuzz(
    ['vm', 'run', CYCLE, '--kernel', kernel, '--work-dir', lab.work('w'), '--quiet', ...extra],
    lab.env,
  );
  return { ...r, lab, kernel };
}

const json = (out: string): RealResult[] => JSON.parse(out) as RealResult[];

afterAll(removeLabs);

describe.skipIf(!HAS_BUSYBOX)('false passes, end to end with a fake QEMU', { concurrent: true }, () => {
  it('control: a clean cycle through the fake is a pass, its guest baseline calibrated through the fake too', async () => {
    // Act: a fresh cache: identity() first measures the kernel's guest baseline (vm/baseline.ts, one hibernation)
    const js = await vmRun('normal', ['--json'], { calibrate: true });
    // Assert
    expect(js.code).toBe(0);
    const [r] = json(js.out);
    expect(r?.status).toBe('pass');
    expect(r?.differences).toEqual([]);
    expect(r?.imageCounts).toMatch(/^compared within ±\d+ pages$/);
    expect(r?.real?.boots.map((b) => `${b.role}:${b.kind}`)).toEqual(['first:pass', 'resume:pass']);
    expect(fakeBoots(js.lab).map((b) => b.role)).toEqual(['first', 'first', 'resume']);
    // what every other test seeds (harness.ts seedBaseline) is what the calibration measures
    const measured = JSON.parse(readFileSync(baselineFile(js.lab.cache, js.kernel), 'utf8')) as object;
    expect(measured).toMatchObject(fakeBaseline(RELEASE_61));
  }, 90_000);

  it('an Oops and "Kernel panic - not syncing" after hibernateReturned: FINDING with the boot verdict, exit 1', async () => {
    // Act
    const [text, js] = await Promise.all([vmRun('panic-after-resume'), vmRun('panic-after-resume', ['--json'])]);
    // Assert: the boot verdict is counted, the resume did not verify anything, never a pass
    expect(text.code).toBe(1);
    expect(text.out).toContain(': FINDING');
    expect(text.out).toContain('reason: boot 2: kernelPanic: Kernel panic - not syncing: Fatal exception');
    expect(text.out).toContain('step 2: real kernel died (afterResume): kernelPanic');
    expect(text.out).not.toMatch(/PASS|agree/);
    expect(js.code).toBe(1);
    const [r] = json(js.out);
    expect(r?.status).toBe('finding');
    expect(r?.reasons).toContain('boot 2: kernelPanic: Kernel panic - not syncing: Fatal exception');
    expect(r?.real?.observation.steps[2]).toMatchObject({ op: 'resume', result: 'crashed', at: 'afterResume' });
  }, 90_000);

  it('an Oops while the resume kernel loads the image: FINDING, resume crashed at load, exit 1', async () => {
    // Act
    const r = await vmRun('oops-during-load', ['--json']);
    // Assert
    expect(r.code).toBe(1);
    const [x] = json(r.out);
    expect(x?.status).toBe('finding');
    expect(x?.reasons).toContain('boot 2: kernelPanic: Kernel panic - not syncing: Fatal exception');
    expect(x?.real?.observation.steps[2]).toMatchObject({ op: 'resume', result: 'crashed', at: 'load' });
  }, 90_000);

  it('QEMU gone right after hibernateReturned, before the agent verified a page: not a pass, exit 1', async () => {
    // Act: QEMU ends without a power-off (as on a triple fault under -no-reboot) between the two agent lines
    const r = await vmRun('exit-after-returned');
    // Assert
    expect(r.code).toBe(1);
    expect(r.out).toContain(': FINDING');
    expect(r.out).toContain('reason: boot 2: unexpectedReboot');
    expect(r.out).toMatch(/step 2: real (kernel died \(afterResume\)|resumed: 0 pages checked)/);
    expect(r.out).not.toContain('0 pages checked, 0 corrupt | model resumed: 1024');
    expect(r.out).not.toMatch(/PASS|agree/);
  }, 90_000);

  it('QEMU SIGKILLed (not by hibfuzz) right after hibernateReturned: the host failed, exit 2, one line, no verdict', async () => {
    // Act
    const r = await vmRun('sigkill-after-returned');
    // Assert
    expect(r.code).toBe(2);
    expect(hibfuzzLines(r.err)).toEqual([
      expect.stringMatching(/killed from outside \(SIGKILL; last event: hibernateReturned\)/),
    ]);
    expect(r.out).not.toMatch(/PASS|FINDING|agree/);
  }, 90_000);

  it('a kernel file that is garbage behind a valid HdrS header (QEMU ends at once, no console): never a pass', async () => {
    // Act
    const r = await vmRun('normal', ['--json'], { garbage: true });
    // Assert
    expect(r.code).not.toBe(0);
    expect(r.out).not.toMatch(/"status": "pass"|agree/);
    const [x] = r.code === 1 ? json(r.out) : [];
    if (r.code === 1) expect(x?.reasons.some((l) => l.startsWith('boot 1: '))).toBe(true);
  }, 90_000);
});
