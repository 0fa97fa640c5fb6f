// The differential real-kernel suite (make test-vm): every shipped scenario on the model and on debian-6.1,
// debian-6.12 (swsusp) and kjump-6.12 (kexec), one QEMU at a time. A row passes when it agrees, or when its exact
// divergence is a known real-kernel finding or runner limit in KNOWN_DIVERGENCES (fuzz/differential.ts).
// HIBFUZZ_SUITE_WORK=DIR keeps the console logs there (default: a fresh directory under the OS temp dir).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { differentialRow, KNOWN_DIVERGENCES, knownDivergence, suiteCases } from './differential.ts';

const root = new URL('..', import.meta.url).pathname;
const work = process.env.HIBFUZZ_SUITE_WORK ?? mkdtempSync(join(tmpdir(), 'hibfuzz-vm-suite-'));

describe.skipIf(process.env.HIBFUZZ_VM !== '1')('differential suite (real QEMU)', () => {
  for (const c of suiteCases(root)) {
    it(`${c.scenario.id} on ${c.kernel}`, { timeout: 1_200_000 }, async () => {
      // Arrange
      const workDir = join(work, c.kernel, c.scenario.id);
      // Act
      const row = await differentialRow(c.scenario, c.kernel, { workDir });
      // Assert
      const context = `${c.file} on ${row.kernelVersion} (logs: ${workDir})\n  model: ${row.model?.outcomes.join('; ')}\n  real:  ${row.real?.outcomes.join('; ') ?? row.error}`;
      expect(row.status, `${context}\n  the host could not run it: ${row.error}`).not.toBe('infra');
      expect(row.status, `${context}\n  model error: ${row.error}`).not.toBe('modelError');
      if (row.status === 'diverge' || row.status === 'bootError') {
        const known = knownDivergence(row, KNOWN_DIVERGENCES);
        const what = row.status === 'diverge' ? row.differences.join('; ') : `boot error: ${row.error}`;
        expect(known, `${context}\n  not in the allow-list: ${what}`).toBeDefined();
      } else {
        expect(row.status).toBe('agree');
      }
    });
  }
});
