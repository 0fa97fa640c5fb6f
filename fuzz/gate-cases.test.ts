// Which shipped scenarios a default gate runs: what the backend supports on the gate kernel (a FUSE file with its
// driver built in; not a swap file or dm-crypt, measured on the Debian kernels only), kexec on any target when the
// change touches kexec (the kjump kernel is the gate build, with EXT4, DM_CRYPT and FUSE_FS).
import { describe, expect, it } from 'vitest';
import type { Scenario } from '../spec/index.ts';
import type { KernelIdentity } from '../vm/backend.ts';
import { openBackend } from '../vm/backends.ts';
import { gateCases } from './gate.ts';
import { shippedScenarios } from './suite.ts';

const root = new URL('..', import.meta.url).pathname;
const shipped = shippedScenarios(root);
const kinds = (cs: ReturnType<typeof gateCases>['cases']) =>
  new Set(cs.map((c) => `${c.scenario.protocol.kind}:${c.scenario.storage.kind}`));
// the gate build's identity as vm/identity.ts reads it from its .config (built in: no modules tree)
const gate: KernelIdentity = {
  spec: '/cache/gate/bzImage',
  version: 'gate 6.12.118',
  release: '6.12.118',
  line: '6.12',
  protocol: 'swsusp',
  bzImageSha256: '0'.repeat(64),
  capabilities: [
    'dmCrypt',
    'ext4',
    'fuse',
    'hibernation',
    'hibernationSnapshotDev',
    'kexecJump',
    'lz4',
    'lzo',
    'pmDebug',
  ],
  capabilitySource: 'config',
};
const backend = openBackend(gate.spec);
const refusal = (s: Scenario) => {
  const r = backend.supports(s, gate);
  return r.ok ? undefined : r.reason;
};

describe('gate cases', () => {
  it('a kexec change runs kexec on every storage target; swsusp where the backend supports it on the gate kernel', () => {
    const { cases, leftOut } = gateCases(['kernel/kexec_core.c'], false, shipped, refusal);
    const k = kinds(cases);
    for (const t of ['swapPartition', 'swapFile', 'dmCrypt', 'fuseFile']) expect(k.has(`kexec:${t}`)).toBe(true);
    expect([...k].filter((x) => x.startsWith('swsusp:')).sort()).toEqual(['swsusp:fuseFile', 'swsusp:swapPartition']);
    // the FUSE freezer row needs a task dump with symbols, which the gate build (no CONFIG_KALLSYMS) does not print
    expect(cases.some((c) => c.file.endsWith('fuse-uswsusp-freezer.json'))).toBe(false);
    // every case left out is one the backend refuses, with its reason; none is left out by a rule of the gate's
    expect(leftOut.scenarios.length).toBeGreaterThan(0);
    for (const x of leftOut.scenarios) {
      const c = shipped.find((y) => y.file === x.file);
      expect(c && refusal(c.scenario)).toBe(x.reason);
      expect(cases.some((y) => y.file === x.file)).toBe(false);
    }
    // swsusp on a swap file or dm-crypt (measured on Debian only), and a resume with another kernel (a path kernel
    // resumes with itself)
    expect(new Set(leftOut.scenarios.map((x) => x.reason.split(':')[0]))).toEqual(
      new Set([
        'storage.kind swapFile',
        'storage.kind dmCrypt',
        'storage.kind fuseFile with protocol.interface uswsusp (a hang named from the task dump) needs kallsyms',
        'steps[1].kernel 6.12',
      ]),
    );
  });

  it('--all runs every shipped scenario (the unsupported ones as unsupported rows)', () => {
    const { cases, leftOut } = gateCases(undefined, true, shipped, refusal);
    expect(cases).toHaveLength(shipped.length);
    expect(leftOut.scenarios).toEqual([]);
  });

  it('a change outside kexec runs no kexec scenario', () => {
    const { cases } = gateCases(['kernel/power/swap.c'], false, shipped, refusal);
    expect(cases.every((c) => c.scenario.protocol.kind === 'swsusp')).toBe(true);
  });
});
