// A boot that reaches its timeout ends with the guest's task dump, on both runners (HIBFUZZ_VM=1, make test-vm;
// about 20 s each under TCG):
// hibfuzz sends sysrq-t at the timeout, gives the console time to print it, then stops QEMU, so every hang names
// where the guest's programs wait (and a known cause when the dump shows one), not only a stalled FUSE writer.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../spec/scenario/schema.ts';
import { TIMEOUT_LINE, WRITER_STALL_LINE } from './boot.ts';
import { runKjumpScenario } from './kjump/run.ts';
import { runScenarioInVm } from './run.ts';

describe('a boot that reaches its timeout', () => {
  it('is a hang whose console holds the task dump asked for at the timeout, and the dump names the cause', {
    timeout: 240_000,
  }, async () => {
    // Arrange: the FUSE freezer row, whose writer waits on the frozen FUSE server forever from its first image write
    // (about 6 s in); the timeout (20 s) comes before the writer's own stall watch (30 s after that write) would
    const p = parseScenario(
      JSON.parse(readFileSync(new URL('./scenarios/fuse-uswsusp-freezer.json', import.meta.url), 'utf8')),
    );
    if (!p.ok) throw new Error(p.error);
    const workDir = mkdtempSync(join(tmpdir(), 'hibfuzz-hang-'));
    // Act
    const r = await runScenarioInVm(p.scenario, { kernel: 'debian-6.1', workDir, timeoutMs: 20_000, fast: false });
    // Assert
    const first = r.artifacts.boots[0];
    expect(first?.verdict.kind).toBe('hang');
    const log = readFileSync(first?.consoleLog ?? '', 'utf8');
    expect(log).toContain(TIMEOUT_LINE);
    expect(log).not.toContain(WRITER_STALL_LINE);
    expect(log).toMatch(/task:\S+\s+state:\S/); // show_state(): the dump reached the console before QEMU stopped
    expect(first?.verdict.cause).toBe('fuseServerFrozen');
  });

  it('on the kexec-jump runner too: A stopped at its timeout is a hang with the task dump', {
    timeout: 240_000,
  }, async () => {
    // Arrange: kexec-jump save and abort; A cannot boot, fill and jump in 5 s under TCG
    const p = parseScenario(
      JSON.parse(readFileSync(new URL('./kjump/scenarios/abort-512m.json', import.meta.url), 'utf8')),
    );
    if (!p.ok) throw new Error(p.error);
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-kjhang-'));
    // Act
    const r = await runKjumpScenario(p.scenario, { timeoutMs: 5_000, artifactsDir: dir });
    // Assert
    const a = r.boots[0];
    expect(a?.kind).toBe('hang');
    const log = readFileSync(a?.consoleLog ?? '', 'utf8');
    expect(log).toContain(TIMEOUT_LINE);
    expect(log).toMatch(/task:\S+\s+state:\S/);
  });
});
