import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { QEMU_PC_512M } from '../../spec/testdata/qemu-machine.ts';
import type { ConsoleLine } from '../qemu/launch.ts';
import { findEvent, firstBootMachine, firstBootSaveable, parseEvents, phaseTimings } from './events.ts';

const line = (t: number, text: string): ConsoleLine => ({ t, text });

describe('parseEvents', () => {
  const lines = [
    line(1000, 'HIBFUZZ {"ev":"a-init","up":1.0}'),
    line(1200, 'HIBFUZZ {"ev":"a-load","up":1.1}'),
    line(1500, '[    5.1] x HIBFUZZ {"ev":"a-loaded","up":5.8,"rc":0}[    5.2] virtio_blk {tail}'),
    line(1600, 'HIBFUZZ {"ev":"a-jump"}'),
    line(2200, '[    0.000000] Linux version 6.12'),
    line(3200, 'HIBFUZZ {"ev":"b-init"}'),
    line(3700, 'HIBFUZZ {"ev":"b-save-rc","rc":0}'),
    line(3750, 'HIBFUZZ {"ev":"jump"}'),
    line(4400, 'HIBFUZZ {"ev":"a-back","rc":255}'),
    line(4500, 'HIBFUZZ {"ev":"a-back","rc":255}'),
  ];

  it('keeps the first occurrence of a replayed event', () => {
    const evs = parseEvents(lines);
    expect(evs.filter((e) => e.ev === 'a-back')).toHaveLength(1);
    expect(evs.find((e) => e.ev === 'a-back')?.t).toBe(4400);
  });

  it('reads an event with kernel text around it, typed by its schema', () => {
    expect(findEvent(parseEvents(lines), 'a-loaded')).toEqual({ ev: 'a-loaded', up: 5.8, rc: 0, t: 1500 });
  });

  it('drops torn lines, unknown events and events with missing fields', () => {
    const evs = parseEvents([
      line(1, 'HIBFUZZ {"ev":"a-verify","checked":4[   1.0] tsc'),
      line(2, 'HIBFUZZ {"ev":"no-such-event"}'),
      line(3, 'HIBFUZZ {"ev":"b-eio"}'),
    ]);
    expect(evs).toEqual([]);
  });

  it('measures the phases between markers, abort latency from A kexec -e to A back', () => {
    const t = phaseTimings(lines, parseEvents(lines), 5000);
    expect(t).toMatchObject({
      qemuToAInit: 1,
      aKexecLoad: 0.3,
      aJumpToBKernel: 0.6,
      bKernelToInit: 1,
      bSave: 0.5,
      bJumpToA: 0.65,
      abortLatency: 2.8,
      qemuTotal: 5,
    });
  });
});

describe('firstBootMachine, firstBootSaveable', () => {
  it("reads A's usable e820 ranges and registered nosave ranges in whole frames, not B's", () => {
    const log = readFileSync(new URL('./testdata/abort-a.log', import.meta.url), 'utf8');
    const lines = log.split('\n').map((text, i) => line(i, text));
    expect(firstBootMachine(lines)).toEqual(QEMU_PC_512M);
    // the image check's frames: PFN 0 (the BIOS page) is not saveable
    expect(firstBootSaveable(lines)).toEqual([
      { start: 1, end: 0x9f },
      { start: 0x100, end: 0x1ffdd },
    ]);
  });
});
