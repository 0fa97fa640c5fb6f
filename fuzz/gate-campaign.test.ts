import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../spec/index.ts';
import type { Backend, KernelIdentity } from '../vm/backend.ts';
import { campaignCases } from './gate-campaign.ts';

const id = {
  spec: '/k/bzImage',
  version: '6.12.117',
  release: '6.12.117',
  line: '6.12',
  protocol: 'swsusp',
  bzImageSha256: 'ab',
  capabilities: ['hibernation', 'hibernationSnapshotDev', 'lz4', 'lzo', 'pmDebug'],
  capabilitySource: 'config',
  baseline: { slab: 5600, zero: 3400, source: 'test' },
} as unknown as KernelIdentity;
const backend = { supports: () => ({ ok: true }) } as unknown as Backend;

describe('gate campaign cases', () => {
  it('generates the same valid, saved scenarios from one seed (both kernels, every rerun of the gate)', () => {
    // Arrange
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-gate-gen-'));
    // Act
    const a = campaignCases(7, 3, backend, id, dir);
    const b = campaignCases(7, 3, backend, id, dir);
    const next = campaignCases(7, 2, backend, id, dir, 3);
    // Assert
    expect(a).toHaveLength(3);
    expect(b.map((c) => c.scenario.id)).toEqual(a.map((c) => c.scenario.id));
    expect(next.map((c) => c.scenario.id)).not.toContain(a[0]?.scenario.id);
    for (const c of a) {
      expect(parseScenario(JSON.parse(readFileSync(c.file, 'utf8'))).ok).toBe(true);
      expect(c.scenario.protocol.kind).toBe('swsusp');
      expect(c.scenario.machine.memPages).toBeGreaterThanOrEqual(5600 + 3400);
    }
  });
});
