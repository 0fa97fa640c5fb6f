// The swap-file target's pure pieces: the guest's report (parsed as the agent prints it), the checks against the
// scenario, the disk size, and the plan's refusals and kernel parameters.
import { describe, expect, it } from 'vitest';
import { parseScenario, type Scenario, type ScenarioInput } from '../spec/scenario/schema.ts';
import { agentLine } from './console/events.ts';
import { kernelCmdline, vmSupports } from './plan.ts';
import { SWAPFILE_OFFSET, swapFileDiskPages, swapFileMismatch, swapFilePages, swapFileReport } from './swapfile.ts';

function scenario(over: Partial<ScenarioInput> = {}): Scenario {
  const r = parseScenario({
    version: 1,
    id: 'swapfile-test',
    machine: { memPages: 131072 },
    workload: { anon: 1000 },
    protocol: { kind: 'swsusp', kernel: '6.1', compression: 'lzo' },
    storage: { kind: 'swapFile', pages: 65546, offset: SWAPFILE_OFFSET },
    steps: [{ op: 'hibernate' }, { op: 'resume' }],
    ...over,
  });
  if (!r.ok) throw new Error(r.error);
  return r.scenario;
}

// the report of a real 6.1.192 first boot (vm/scenarios/swapfile-clean-cycle.json)
const REAL =
  '{"ev":"swapFile","path":"/mnt/swap","pages":65536,"header":10,"extents":"0:10:2048,2048:4096:28672,30720:32773:2048,32768:36864:28672,61440:34821:2043,63483:4091:5,63488:65539:1544,65032:3587:504"}';

describe('swapFileReport', () => {
  it('reads the agent line with its checksum, between kernel lines', () => {
    const r = swapFileReport(`[    5.48] EXT4-fs (vda): mounted\n${agentLine(REAL)}\n[    9.36] Adding 262140k swap\n`);
    expect(r?.header).toBe(10);
    expect(r?.pages).toBe(65536);
    expect(r?.extents).toHaveLength(8);
    expect(r?.extents[0]).toEqual({ logical: 0, physical: 10, pages: 2048 });
  });

  it('drops a line whose checksum does not match (a lost digit), and a line without one', () => {
    const torn = agentLine(REAL).replace('"header":10', '"header":1');
    expect(swapFileReport(torn)).toBeUndefined();
    expect(swapFileReport(`HIBFUZZ ${REAL}`)).toBeUndefined();
  });

  it('drops extents that are not l:p:n triples', () => {
    expect(swapFileReport(agentLine(REAL.replace('0:10:2048', '0:10')))).toBeUndefined();
  });
});

describe('swapFileMismatch', () => {
  const storage = { pages: 65546, offset: 10 };
  const ok = swapFileReport(agentLine(REAL));
  if (ok === undefined) throw new Error('fixture');

  it('accepts the scenario file: header at the offset, pages - offset pages, all mapped', () => {
    expect(swapFilePages(storage)).toBe(65536);
    expect(swapFileMismatch(ok, storage)).toBeUndefined();
  });

  it('names a header elsewhere, another size, a file with a hole', () => {
    expect(swapFileMismatch({ ...ok, header: 947 }, storage)).toMatch(
      /header is at disk page 947, not storage.offset 10/,
    );
    expect(swapFileMismatch(ok, { pages: 65547, offset: 10 })).toMatch(/has 65536 pages, not 65537/);
    expect(swapFileMismatch({ ...ok, extents: ok.extents.slice(1) }, storage)).toMatch(/extents map 63488 pages/);
  });
});

describe('the swap-file plan', () => {
  it('makes the disk larger than the model device (room for indirect blocks and group metadata)', () => {
    expect(swapFileDiskPages(65546)).toBeGreaterThanOrEqual(65546 + 65546 / 1024 + 64);
  });

  it('is supported with the header page the filesystem gives', () => {
    expect(vmSupports(scenario())).toEqual({ ok: true });
  });

  it.each([
    ['another offset', { storage: { kind: 'swapFile', pages: 65546, offset: 0 } }, /header at page 10/],
    ['a file too small', { storage: { kind: 'swapFile', pages: 20, offset: 10 } }, /needs 11 pages after/],
    [
      'a noresume boot that writes the device',
      { steps: [{ op: 'hibernate' }, { op: 'bootNoresume', writeStoragePages: 4 }, { op: 'resume' }] },
      /writeStoragePages: the model writes the device's first pages/,
    ],
    ['dmCrypt with an offset', { storage: { kind: 'dmCrypt', pages: 65536, offset: 10 } }, /whole swap area/],
    ['a partition with an offset', { storage: { kind: 'swapPartition', pages: 65536, offset: 10 } }, /page 0/],
  ] as const)('refuses %s, with the reason', (_name, over, reason) => {
    const r = vmSupports(scenario(over as Partial<ScenarioInput>));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('runs fuseFile with sysfs as written: the swapon refusal is the outcome the model predicts', () => {
    expect(vmSupports(scenario({ storage: { kind: 'fuseFile', pages: 65536 } }))).toEqual({ ok: true });
  });

  it('a noresume boot that writes nothing is fine', () => {
    const s = scenario({ steps: [{ op: 'hibernate' }, { op: 'bootNoresume' }, { op: 'resume' }] });
    expect(vmSupports(s)).toEqual({ ok: true });
  });

  it('gives every boot the resume offset and the first boot the file size', () => {
    const s = scenario();
    expect(kernelCmdline(s, 'first')).toEqual(
      expect.arrayContaining(['hibfuzz.resumeoffset=10', 'hibfuzz.swapfile=65536', 'hibfuzz.boot=first']),
    );
    // the fast path's first boot makes the file before its wait point: the words are in the snapshot's key
    expect(kernelCmdline(s, 'first', { wait: true })).toContain('hibfuzz.swapfile=65536');
    expect(kernelCmdline(s, 'resume')).toContain('hibfuzz.resumeoffset=10');
    expect(kernelCmdline(s, 'resume')).not.toContain('hibfuzz.swapfile=65536');
    expect(kernelCmdline(s, 'noresume')).toContain('hibfuzz.resumeoffset=10');
  });

  it('gives a partition neither', () => {
    const s = scenario({ storage: { kind: 'swapPartition', pages: 65536 } });
    for (const role of ['first', 'resume', 'noresume'] as const)
      expect(kernelCmdline(s, role).filter((w) => /resumeoffset|swapfile/.test(w))).toEqual([]);
  });
});
