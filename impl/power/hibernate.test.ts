// The FUSE target on the freezer side (the 2007 proposal's argument), as measured on Debian 6.1 and 6.12.
import { describe, expect, it } from 'vitest';
import { outcomeAllowed } from '../../spec/protocol/abstract.ts';
import { parseScenario, type ScenarioInput } from '../../spec/scenario/schema.ts';
import { runAndJudge } from '../run.ts';

const fuse = (iface: 'sysfs' | 'uswsusp') => {
  const input: ScenarioInput = {
    version: 1,
    id: `fuse-${iface}`,
    machine: { memPages: 4096 },
    workload: { anon: 512 },
    protocol: { kind: 'swsusp', kernel: '6.12', compression: 'none', interface: iface },
    storage: { kind: 'fuseFile', pages: 4096 },
    steps: [{ op: 'write', pages: 8 }, { op: 'hibernate' }, { op: 'resume' }],
  };
  const p = parseScenario(input);
  if (!p.ok) throw new Error(p.error);
  const r = runAndJudge(p.scenario);
  if (!r.ok) throw new Error(r.error);
  return r;
};

describe('swsusp to a file on FUSE', () => {
  it('uswsusp: the writer hangs on the frozen server; the run ends there, the loss predicted by a known limit', () => {
    const r = fuse('uswsusp');
    expect(r.observation.steps.map((o) => o.op)).toEqual(['write', 'hibernate']);
    expect(r.observation.steps[1]).toMatchObject({
      result: 'crashed',
      at: 'hibernating',
      boot: 'hang',
      cause: 'fuseServerFrozen',
    });
    expect(r.judgement.verdict).toBe('violatedAsPredicted');
    expect(r.judgement.unexpected).toEqual([]);
    expect(r.judgement.predicted.map((v) => [v.invariant, v.limitName])).toEqual([
      ['FailureLosesNothing', 'freezerFreezesFuseServer'],
    ]);
  });

  it('sysfs: the kernel refused swapon on the FUSE file, so the write finds no swap device (ENODEV) and thaws', () => {
    const r = fuse('sysfs');
    expect(r.observation.steps[1]).toMatchObject({ result: 'failed', errno: 'ENODEV', phase: 'write' });
    expect(r.observation.steps[2]).toMatchObject({ op: 'resume', result: 'noImage' });
    expect(r.judgement.verdict).toBe('held');
  });
});

describe('OutcomeAllowed: steps without an outcome', () => {
  it('are allowed only after the machine died', () => {
    const hung = fuse('uswsusp');
    expect(outcomeAllowed(hung.trace)).toEqual([]);
    const thawed = fuse('sysfs');
    const dropped = { ...thawed.trace, records: thawed.trace.records.slice(0, 2) };
    expect(outcomeAllowed(dropped).map((v) => [v.step, v.message])).toEqual([
      [2, 'step 2 has no outcome, and the machine did not die before it'],
    ]);
  });
});
