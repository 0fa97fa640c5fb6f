// The storage targets' outcomes (issue 11), from golden console logs of real runs on kjump-6.12.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ExitInfo } from '../console/classify.ts';
import { parseEvents } from './events.ts';
import { type BootContext, kjumpBootVerdict, resumeOutcome, targetFailure } from './outcome.ts';

const ctxC: BootContext = { role: 'c', hib: { kind: 'hibernate', index: 0, mode: 'poweroff' }, imageOnDisk: true };
const exited: ExitInfo = { kind: 'exited', code: 0 };

const golden = (name: string) => {
  const log = readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8');
  return { log, evs: parseEvents(log.split('\n').map((text, t) => ({ t, text }))) };
};
const events = (lines: readonly string[]) => parseEvents(lines.map((l, t) => ({ t, text: `HIBFUZZ ${l}` })));

describe('dm-crypt at resume', () => {
  it('no key: C refuses the resume (keyUnavailable, ENOKEY) and powers off, a pass boot', () => {
    const { log, evs } = golden('dmcrypt-nokey-c.log');
    const boot = kjumpBootVerdict(evs, log, exited, ctxC);
    expect(boot).toEqual({ kind: 'pass', title: 'powered off' });
    expect(resumeOutcome(evs, boot)).toEqual({
      op: 'resume',
      result: 'refused',
      reason: 'keyUnavailable',
      errno: 'ENOKEY',
    });
    expect(targetFailure(evs, 'c')).toBeUndefined();
  });

  it('a wrong key: the plain volume opens and reads noise, C finds no image', () => {
    const { log, evs } = golden('dmcrypt-wrongkey-c.log');
    const boot = kjumpBootVerdict(evs, log, exited, ctxC);
    expect(boot.kind).toBe('pass');
    expect(resumeOutcome(evs, boot)).toEqual({ op: 'resume', result: 'noImage' });
    expect(targetFailure(evs, 'c')).toBeUndefined();
  });
});

describe('targetFailure', () => {
  it('is one line naming the run, the reason and errno', () => {
    const evs = events([
      '{"ev":"b-init"}',
      '{"ev":"target-failed","why":"/mnt/hibkj.img: its extents cover 74742 of 74752 pages","errno":0}',
    ]);
    expect(targetFailure(evs, 'a')).toBe(
      'kjump storage target (run a): /mnt/hibkj.img: its extents cover 74742 of 74752 pages',
    );
    expect(
      targetFailure(events(['{"ev":"target-failed","why":"DM_TABLE_LOAD: Device or resource busy","errno":16}']), 'c'),
    ).toBe('kjump storage target (run c): DM_TABLE_LOAD: Device or resource busy (errno 16)');
  });

  it('is nothing when the target came up', () => {
    expect(targetFailure(events(['{"ev":"target","kind":"crypt","pages":74752}']), 'a')).toBeUndefined();
  });
});
