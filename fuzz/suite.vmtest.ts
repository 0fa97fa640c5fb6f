// The real-kernel suite (make test-vm): every shipped scenario on debian-6.1, debian-6.12 (swsusp) and kjump-6.12
// (kexec), one QEMU at a time, through the backend registry. A row passes, is unsupported (a skip with its reason),
// or is a finding the allow-list KNOWN_FINDINGS names exactly; an error (the host) fails the suite.
// HIBFUZZ_SUITE_WORK=DIR keeps the console logs there (default: a fresh directory under the OS temp dir).
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { KernelIdentity } from '../vm/backend.ts';
import { openBackend } from '../vm/backends.ts';
import { runReal } from './real-run.ts';
import { KNOWN_FINDINGS, kernelRuns, rowContext, rowOutcome, SUITE_KERNELS, shippedScenarios } from './suite.ts';

const root = new URL('..', import.meta.url).pathname;
const work = process.env.HIBFUZZ_SUITE_WORK ?? mkdtempSync(join(tmpdir(), 'hibfuzz-vm-suite-'));

describe.skipIf(process.env.HIBFUZZ_VM !== '1')('real-kernel suite (real QEMU)', () => {
  for (const kernel of SUITE_KERNELS) {
    const backend = openBackend(kernel);
    let id: Promise<KernelIdentity> | undefined;
    for (const c of shippedScenarios(root).filter((x) => kernelRuns(x.scenario, kernel))) {
      it(`${c.scenario.id} on ${kernel}`, { timeout: 1_200_000 }, async () => {
        // Arrange
        id ??= backend.identity();
        const workDir = join(work, kernel, c.scenario.id);
        mkdirSync(workDir, { recursive: true });
        // Act
        const r = await runReal(backend, await id, c.scenario, { workDir, file: c.file });
        // Assert
        const o = rowOutcome(r, KNOWN_FINDINGS);
        expect(['pass', 'skip', 'known'], rowContext(r, c.file, workDir)).toContain(o);
      });
    }
  }
});
