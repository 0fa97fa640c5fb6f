// The dm-crypt and FUSE storage targets of the swsusp runner: what is refused, each boot's key word, the guest's own
// memory per target, and the mapping of a resume boot without the key (pure; the VM runs are vm/scenarios/dmcrypt-*).
import { describe, expect, it } from 'vitest';
import { parseScenario, type Scenario, type ScenarioInput } from '../spec/scenario/schema.ts';
import { DMCRYPT_GUEST_EXTRA, SWAPFILE_GUEST_EXTRA, storageGuestExtra } from './backends.ts';
import { AgentEvents, agentLine, parseAgentEvents } from './console/events.ts';
import { dmCryptKey } from './image/dmcrypt.ts';
import { dmKeyWord, kernelCmdline, vmSupports } from './plan.ts';
import { type BootFacts, resumeOutcome } from './steps.ts';

const scenario = (over: Partial<ScenarioInput> = {}): Scenario => {
  const r = parseScenario({
    version: 1,
    id: 'targets-test',
    seed: 3,
    machine: { memPages: 131072 },
    workload: { anon: 1000 },
    protocol: { kind: 'swsusp', kernel: '6.1', compression: 'lzo' },
    storage: { kind: 'dmCrypt', pages: 65536 },
    steps: [{ op: 'hibernate' }, { op: 'resume' }],
    ...over,
  });
  if (!r.ok) throw new Error(r.error);
  return r.scenario;
};

describe('dmCrypt: support, key words, guest memory', () => {
  it('runs a plain cycle; refuses an offset, corrupt and the NBD write faults with the reason', () => {
    expect(vmSupports(scenario())).toEqual({ ok: true });
    expect(vmSupports(scenario({ storage: { kind: 'dmCrypt', pages: 65536, offset: 10 } }))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/whole swap area/),
    });
    const corrupt = scenario({
      steps: [{ op: 'hibernate' }, { op: 'corrupt', region: 'data', index: 0, bit: 0 }, { op: 'resume' }],
    });
    expect(vmSupports(corrupt)).toMatchObject({ ok: false, reason: expect.stringMatching(/^steps\[1\]: corrupt/) });
    const eio = scenario({ steps: [{ op: 'hibernate', ioErrorAtWrite: 5 }] });
    expect(vmSupports(eio)).toMatchObject({ ok: false, reason: expect.stringMatching(/^steps\[0\]/) });
  });

  it('gives every boot the key, a resume boot the wrong one or none as keyAtResume says', () => {
    const right = `hibfuzz.dmkey=${dmCryptKey('targets-test', 3).toString('hex')}`;
    const wrong = `hibfuzz.dmkey=${dmCryptKey('targets-test', 3, 'wrong').toString('hex')}`;
    for (const at of ['same', 'wrong', 'missing'] as const) {
      const s = scenario({ storage: { kind: 'dmCrypt', pages: 65536, keyAtResume: at } });
      expect(kernelCmdline(s, 'first')).toContain(right);
      expect(dmKeyWord(s, 'noresume')).toEqual([right]);
      expect(dmKeyWord(s, 'resume')).toEqual([at === 'same' ? right : at === 'wrong' ? wrong : 'hibfuzz.dmkey=none']);
    }
    expect(dmKeyWord(scenario({ storage: { kind: 'swapPartition', pages: 65536 } }), 'first')).toEqual([]);
  });

  it('adds the measured memory of the target to the guest (data, and zero pages 6.12 flags)', () => {
    expect(storageGuestExtra(scenario(), '6.12')).toEqual(DMCRYPT_GUEST_EXTRA['6.12']);
    expect(storageGuestExtra(scenario(), '6.1')).toEqual(DMCRYPT_GUEST_EXTRA['6.1']);
    const file = scenario({ storage: { kind: 'swapFile', pages: 65546, offset: 10 } });
    expect(storageGuestExtra(file, '6.1')).toEqual({ data: SWAPFILE_GUEST_EXTRA['6.1'], zero: 0 });
    expect(storageGuestExtra(scenario({ storage: { kind: 'swapPartition', pages: 65536 } }), '6.1')).toEqual({
      data: 0,
      zero: 0,
    });
  });
});

describe('resumeOutcome of a boot without the volume key', () => {
  const facts = (lines: readonly string[]): BootFacts => ({
    verdict: { kind: 'pass', title: 'powered off' },
    report: { imageFound: false, poweredOff: true, refusal: undefined, resumeErrno: undefined },
    events: new AgentEvents(parseAgentEvents(lines.map(agentLine).join('\n')).map((e) => ({ ...e, t: 0 }))),
    storageAtReturn: [],
    storageAtExit: { signed: true },
    statsAtExit: undefined,
  });

  it('is refused keyUnavailable (ENOKEY) when the init said so, noImage otherwise', () => {
    const init = '{"ev":"init","boot":"resume","dev":""}';
    expect(resumeOutcome(facts([init, '{"ev":"keyUnavailable"}']))).toEqual({
      op: 'resume',
      result: 'refused',
      reason: 'keyUnavailable',
      errno: 'ENOKEY',
    });
    expect(resumeOutcome(facts([init, '{"ev":"resuming"}', '{"ev":"resumeReturned"}']))).toEqual({
      op: 'resume',
      result: 'noImage',
    });
  });
});
