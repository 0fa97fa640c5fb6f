// The 2007 proposal's thesis in make test's smoke (issue 11), through the suite's own path (backend registry,
// runReal, the row verdict): the kexec save kernel writes the image through a FUSE file and the original kernel
// comes back intact; uswsusp writing into a file on the same kind of FUSE server hangs, because the freezer froze the
// server, and the model predicts that hang. Both rows must pass on the verdict: no allow-list is consulted.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openBackend } from '../vm/backends.ts';
import { runReal } from './real-run.ts';
import { rowContext, rowOutcome, shippedScenarios } from './suite.ts';

const root = new URL('..', import.meta.url).pathname;
const work = process.env.HIBFUZZ_SUITE_WORK ?? mkdtempSync(join(tmpdir(), 'hibfuzz-thesis-'));
const ROWS = [
  { kernel: 'kjump-6.12', file: 'vm/kjump/scenarios/fuse-abort.json' },
  { kernel: 'debian-6.1', file: 'vm/scenarios/fuse-uswsusp-freezer.json' },
] as const;

describe.skipIf(process.env.HIBFUZZ_VM !== '1')('the thesis on real kernels: FUSE, kexec against the freezer', () => {
  for (const row of ROWS) {
    it(`${row.file} on ${row.kernel} passes on the differential verdict`, { timeout: 900_000 }, async () => {
      // Arrange
      const c = shippedScenarios(root).find((x) => x.file === row.file);
      if (c === undefined) throw new Error(`${row.file}: not a shipped scenario`);
      const backend = openBackend(row.kernel);
      const workDir = join(work, row.kernel, c.scenario.id);
      mkdirSync(workDir, { recursive: true });
      // Act
      const r = await runReal(backend, await backend.identity(), c.scenario, { workDir, file: c.file });
      // Assert
      expect(rowOutcome(r, []), rowContext(r, c.file, workDir)).toBe('pass');
    });
  }
});
