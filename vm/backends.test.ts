// The backend registry's support decisions without a kernel: which kernel runs which protocol, and why not.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseScenario, type Scenario } from '../spec/index.ts';
import type { KernelIdentity } from './backend.ts';
import { GUEST_BASELINE, guestModelScenario, openBackend, SWAPFILE_GUEST_EXTRA } from './backends.ts';

const root = new URL('..', import.meta.url).pathname;
function shipped(path: string): Scenario {
  const r = parseScenario(JSON.parse(readFileSync(`${root}/${path}`, 'utf8')));
  if (!r.ok) throw new Error(r.error);
  return r.scenario;
}
const identity = (capabilities: KernelIdentity['capabilities']): KernelIdentity => ({
  spec: '/builds/gate/bzImage',
  version: 'gate 6.12.117',
  release: '6.12.117',
  line: '6.12',
  protocol: 'swsusp',
  bzImageSha256: '0'.repeat(64),
  capabilities,
  capabilitySource: 'config',
});

describe('kexec scenarios on a kernel given as a path', () => {
  const kexec = shipped('vm/kjump/scenarios/abort-512m.json');

  it('run on a kernel with KEXEC_JUMP (a gate build): the kjump guest on that bzImage', () => {
    const b = openBackend('/builds/gate/bzImage');
    expect(b.precheck(kexec)).toEqual({ ok: true });
    expect(b.supports(kexec, identity(['hibernation', 'kexecJump']))).toEqual({ ok: true });
    // the model predicts B's measured region, as on kjump-6.12
    const m = b.modelScenario(kexec, identity(['kexecJump']));
    expect(m.protocol.kind === 'kexec' && m.protocol.saveKernelNeedPages).toBeGreaterThan(0);
  });

  it('are unsupported, with the reason, on a kernel without it, with modules, or on a Debian kernel', () => {
    const r = openBackend('/builds/gate/bzImage').supports(kexec, identity(['hibernation']));
    expect(r).toEqual({
      ok: false,
      reason: expect.stringMatching(/needs kexecJump: gate 6\.12\.117 is built without it/),
    });
    expect(openBackend('/k/bzImage', { modules: '/k/modules' }).precheck(kexec)).toEqual({
      ok: false,
      reason: expect.stringMatching(/loads no modules/),
    });
    expect(openBackend('debian-6.12').precheck(kexec)).toEqual({
      ok: false,
      reason: expect.stringMatching(/runs on kjump-6\.12/),
    });
  });
});

describe('the swap-file target', () => {
  const file = shipped('vm/scenarios/swapfile-clean-cycle.json');

  it('is predicted with the filesystem memory the swap-file guest measurably saves, per line', () => {
    const part = guestModelScenario(
      { ...file, storage: { kind: 'swapPartition', pages: 65536, offset: 0, keyAtResume: 'same' } },
      '6.1',
    );
    const onFile = guestModelScenario(file, '6.1');
    expect(onFile.workload.slab - part.workload.slab).toBe(SWAPFILE_GUEST_EXTRA['6.1']);
    expect(
      guestModelScenario(file, '6.12').workload.slab - GUEST_BASELINE['6.12'].slab - GUEST_BASELINE['6.12'].zero,
    ).toBe(SWAPFILE_GUEST_EXTRA['6.12']);
  });

  it('is unsupported, with the reason, on a kernel given as a path', () => {
    const r = openBackend('/builds/gate/bzImage').supports(file, identity(['hibernation', 'lzo']));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/storage.kind swapFile: .* measured on debian-6.1 and debian-6.12 only/);
  });

  it('a FUSE file needs the kernel to have FUSE_FS (built in, or a module it can load); with it, it runs', () => {
    const fuse = shipped('vm/scenarios/fuse-swsusp-noswap.json');
    const without = openBackend('/builds/gate/bzImage').supports(fuse, identity(['hibernation', 'lzo']));
    expect(without).toEqual({
      ok: false,
      reason: expect.stringMatching(/^storage.kind fuseFile needs fuse: gate 6\.12\.117 is built without it/),
    });
    expect(openBackend('/builds/gate/bzImage').supports(fuse, identity(['hibernation', 'lzo', 'fuse']))).toEqual({
      ok: true,
    });
  });

  it('dm-crypt is unsupported, with the reason, on a kernel given as a path', () => {
    const crypt = { ...file, storage: { ...file.storage, kind: 'dmCrypt' as const, offset: 0 } };
    const r = openBackend('/builds/gate/bzImage').supports(crypt, identity(['hibernation', 'lzo']));
    expect(r).toEqual({
      ok: false,
      reason:
        "storage.kind dmCrypt: the mapping's own memory is measured on debian-6.1 and debian-6.12 only (DMCRYPT_GUEST_EXTRA), and /builds/gate/bzImage may have no dm-crypt modules",
    });
  });
});
