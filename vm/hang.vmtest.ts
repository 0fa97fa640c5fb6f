// A boot that reaches its timeout ends with the guest's task dump (HIBFUZZ_VM=1, make test-vm; ~45 s under TCG):
// hibfuzz sends sysrq-t at the timeout, gives the console time to print it, then stops QEMU, so every hang names
// where the guest's programs wait (and a known cause when the dump shows one), not only a stalled FUSE writer.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../spec/scenario/schema.ts';
import { TIMEOUT_LINE } from './boot.ts';
import { runScenarioInVm } from './run.ts';

describe('a boot that reaches its timeout', () => {
  it('is a hang whose console holds the task dump asked for at the timeout', { timeout: 240_000 }, async () => {
    // Arrange: a clean cycle whose first boot cannot finish in 5 s (under TCG it powers off after about 8 s)
    const p = parseScenario(JSON.parse(readFileSync(new URL('./scenarios/clean-cycle.json', import.meta.url), 'utf8')));
    if (!p.ok) throw new Error(p.error);
    const workDir = mkdtempSync(join(tmpdir(), 'hibfuzz-hang-'));
    // Act
    const r = await runScenarioInVm(p.scenario, { kernel: 'debian-6.1', workDir, timeoutMs: 5_000, fast: false });
    // Assert
    const first = r.artifacts.boots[0];
    expect(first?.verdict.kind).toBe('hang');
    const log = readFileSync(first?.consoleLog ?? '', 'utf8');
    expect(log).toContain(TIMEOUT_LINE);
    expect(log).toMatch(/task:\S+\s+state:\S/); // show_state(): the dump reached the console before QEMU stopped
    expect(first?.verdict.title).toMatch(/no power-off before the timeout/);
  });
});
