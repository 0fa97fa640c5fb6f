// Which shipped scenarios a default gate runs: swsusp on storage targets only with --all, kexec on any target when the
// change touches kexec (the kjump kernel is the gate build, with EXT4, DM_CRYPT and FUSE_FS).
import { describe, expect, it } from 'vitest';
import { gateCases } from './gate.ts';
import { shippedScenarios } from './suite.ts';

const root = new URL('..', import.meta.url).pathname;
const shipped = shippedScenarios(root);
const kinds = (cs: ReturnType<typeof gateCases>['cases']) =>
  new Set(cs.map((c) => `${c.scenario.protocol.kind}:${c.scenario.storage.kind}`));

describe('gate cases', () => {
  it('a kexec change runs kexec on every storage target, swsusp on the swap partition only', () => {
    const { cases, storageTargets } = gateCases(['kernel/kexec_core.c'], false, shipped);
    const k = kinds(cases);
    for (const t of ['swapPartition', 'swapFile', 'dmCrypt', 'fuseFile']) expect(k.has(`kexec:${t}`)).toBe(true);
    expect([...k].filter((x) => x.startsWith('swsusp:'))).toEqual(['swsusp:swapPartition']);
    expect(storageTargets.ran).toBe(false);
  });

  it('--all runs every shipped scenario', () => {
    const { cases, storageTargets } = gateCases(undefined, true, shipped);
    expect(cases).toHaveLength(shipped.length);
    expect(storageTargets.ran).toBe(true);
  });

  it('a change outside kexec runs no kexec scenario', () => {
    const { cases } = gateCases(['kernel/power/swap.c'], false, shipped);
    expect(cases.every((c) => c.scenario.protocol.kind === 'swsusp')).toBe(true);
  });
});
