// A boot that reaches its timeout ends with the guest's task dump, on both runners (HIBFUZZ_VM=1, make test-vm;
// about 40 s and 25 s under TCG): hibfuzz sends sysrq-t at the timeout, gives the console time to print it, then
// stops QEMU, so every hang names where the guest's programs wait (and a known cause when the dump shows one), not
// only a stalled FUSE writer.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario, type Scenario } from '../spec/scenario/schema.ts';
import { TIMEOUT_LINE, WRITER_STALL_LINE } from './boot.ts';
import { runKjumpScenario } from './kjump/run.ts';
import { runScenarioInVm } from './run.ts';

function shipped(path: string): Scenario {
  const p = parseScenario(JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')));
  if (!p.ok) throw new Error(p.error);
  return p.scenario;
}

/** The boot's console: it ends with hibfuzz's timeout line and holds show_state()'s dump, printed before QEMU stopped. */
function expectTimeoutDump(consoleLog: string | undefined): string {
  const log = readFileSync(consoleLog ?? '', 'utf8');
  expect(log).toContain(TIMEOUT_LINE);
  expect(log).toMatch(/task:\S+\s+state:\S/);
  return log;
}

describe('a boot that reaches its timeout', () => {
  it('is a hang whose console holds the task dump asked for at the timeout, and the dump names the cause', {
    timeout: 240_000,
  }, async () => {
    // Arrange: the FUSE freezer row, whose writer waits on the frozen FUSE server forever from its first image write
    // (about 6 s in); the timeout (20 s) comes before the writer's own stall watch (30 s after that write) would
    const s = shipped('./scenarios/fuse-uswsusp-freezer.json');
    const workDir = mkdtempSync(join(tmpdir(), 'hibfuzz-hang-'));
    // Act
    const r = await runScenarioInVm(s, { kernel: 'debian-6.1', workDir, timeoutMs: 20_000, fast: false });
    // Assert
    const first = r.artifacts.boots[0];
    expect(first?.verdict.kind).toBe('hang');
    expect(expectTimeoutDump(first?.consoleLog)).not.toContain(WRITER_STALL_LINE);
    expect(first?.verdict.cause).toBe('fuseServerFrozen');
  });

  it('on the kexec-jump runner too: A stopped at its timeout is a hang with the task dump', {
    timeout: 240_000,
  }, async () => {
    // Arrange: kexec-jump save and abort. A has no endless wait to anchor on: it powers off after about 5 s of wall
    // time on a quiet host. At 2 s its keyboard (sysrq) is up (i8042 at 0.8 s of guest time) and it is still
    // running; the dump comes at once, the guest may power off during the grace
    const s = shipped('./kjump/scenarios/abort-512m.json');
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-kjhang-'));
    // Act
    const r = await runKjumpScenario(s, { timeoutMs: 2_000, artifactsDir: dir });
    // Assert
    const a = r.boots[0];
    expect(a?.kind).toBe('hang');
    expectTimeoutDump(a?.consoleLog);
  });
});
