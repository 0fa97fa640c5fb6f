import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyConsole, type ExitInfo, findRefusal, VERDICT_KINDS } from './classify.ts';
import { AgentEvents, agentLine, parseAgentEvents } from './events.ts';

// Golden logs: header lines `VERDICT: <kind>`, `TITLE: <substring of the title>`, optional
// `EXIT: timeout|code=N|signal=NAME[,byHost]`, `REFUSAL: <reason> <errno>` and `CAUSE: <crash cause>` (absent: the
// verdict names no cause), a blank line, then a real console log (trimmed).
const TESTDATA = new URL('./testdata/', import.meta.url).pathname;

interface Golden {
  file: string;
  verdict: string;
  title: string;
  exit: ExitInfo;
  refusal: string | undefined;
  cause: string | undefined;
  log: string;
}

function loadGolden(file: string): Golden {
  const text = readFileSync(join(TESTDATA, file), 'utf8');
  const blank = text.indexOf('\n\n');
  return { file, ...goldenOf(text.slice(0, blank), text.slice(blank + 2)) };
}

function goldenOf(header: string, log: string): Omit<Golden, 'file'> {
  const head = new Map<string, string>();
  for (const l of header.split('\n')) {
    const c = l.indexOf(':');
    head.set(l.slice(0, c).trim(), l.slice(c + 1).trim());
  }
  return {
    verdict: head.get('VERDICT') ?? '',
    title: head.get('TITLE') ?? '',
    exit: exitOf(head.get('EXIT') ?? 'code=0'),
    refusal: head.get('REFUSAL'),
    cause: head.get('CAUSE'),
    log,
  };
}

function exitOf(text: string): ExitInfo {
  if (text === 'timeout') return { kind: 'timeout' };
  if (text.startsWith('signal=')) {
    const [signal = '', by] = text.slice('signal='.length).split(',');
    return { kind: 'signal', signal, byHost: by === 'byHost' };
  }
  return { kind: 'exited', code: Number(text.replace('code=', '')) };
}

const goldens = readdirSync(TESTDATA)
  .filter((f) => f.endsWith('.log'))
  .sort()
  .map(loadGolden);

describe('classifyConsole on golden console logs', () => {
  it('has a golden log for every verdict kind', () => {
    const kinds = new Set(goldens.map((g) => g.verdict));
    for (const k of VERDICT_KINDS) expect(kinds, `no golden log for ${k}`).toContain(k);
  });

  it.each(goldens.map((g) => [g.file, g] as const))('%s', (_file, g) => {
    // Act
    const r = classifyConsole(g.log, g.exit);
    // Assert
    expect(r.verdict.kind).toBe(g.verdict);
    expect(r.verdict.title).toContain(g.title);
    if (g.refusal !== undefined) {
      const [reason, errno] = g.refusal.split(' ');
      expect(r.refusal).toMatchObject({ reason, errno });
    }
    expect(r.verdict.cause).toBe(g.cause);
  });
});

describe('classifyConsole: who ended QEMU', () => {
  const log = readFileSync(join(TESTDATA, 'infra-6.1-qemu-killed-mid-hibernation.log'), 'utf8');
  it('a signal hibfuzz sent (power cut, timeout) is not infrastructure', () => {
    const r = classifyConsole(log, { kind: 'signal', signal: 'SIGKILL', byHost: true });
    expect(r.verdict.kind).toBe('unexpectedReboot');
  });
  it('a signal from anyone else is infrastructure, never a kernel finding', () => {
    expect(classifyConsole(log, { kind: 'signal', signal: 'SIGKILL', byHost: false }).verdict.kind).toBe('infraError');
    expect(classifyConsole(log, { kind: 'signal', signal: 'SIGKILL' }).verdict.kind).toBe('infraError');
  });
});

describe('parseAgentEvents', () => {
  it('reads prefixed JSON lines; skips torn ones and events the schemas reject', () => {
    const verify =
      '{"ev":"verify","pagesChecked":3,"pagesCorrupt":0,"zeroCorrupt":0,"pageCacheCorrupt":0,"firstBad":-1,"ms":1}';
    const log = [
      '[    1.0] PM: Image not found (code -22)',
      'HIBFUZZ {"ev":"init","boot":"first","dev":"254:0"}',
      `junk[ 2.0] x ${agentLine(verify)}`,
      // a digit lost on the serial line: still JSON, but its checksum no longer matches (and none is missing)
      agentLine(verify).replace('"pagesChecked":3', '"pagesChecked":'),
      agentLine(verify.replace('"pagesCorrupt":0', '"pagesCorrupt":10')).replace(
        '"pagesCorrupt":10',
        '"pagesCorrupt":0',
      ),
      `HIBFUZZ ${verify}`,
      'HIBFUZZ {"ev":"hiber[    3.0] PM: torn',
      'HIBFUZZ {"noev":1}',
      'HIBFUZZ {"ev":"verify","pagesChecked":"many"}',
      'HIBFUZZ {"ev":"init","boot":"noresume","dev":"254:0"}[    1.920323] tsc: Refined TSC clocksource {x}',
    ].join('\n');
    expect(parseAgentEvents(log)).toEqual([
      { ev: 'init', boot: 'first', dev: '254:0' },
      JSON.parse(verify),
      { ev: 'init', boot: 'noresume', dev: '254:0' },
    ]);
  });

  it('puts back an agent line a kernel message interrupted (real 6.1 console), and only when its checksum agrees', () => {
    const verify =
      '{"ev":"verify","pagesChecked":17408,"pagesCorrupt":0,"zeroCorrupt":0,"pageCacheCorrupt":0,"firstBad":-1,"ms":32}';
    const line = agentLine(verify);
    const cut = line.indexOf('0,"firstBad"');
    const torn = [
      `${line.slice(0, cut)}[   11.134206] ACPI: PM: Preparing to enter system sleep state S5`,
      line.slice(cut),
      agentLine('{"ev":"done"}'),
    ];
    expect(parseAgentEvents(torn.join('\n'))).toEqual([JSON.parse(verify), { ev: 'done' }]);
    // a remainder that is not this line's (a digit lost): the splice fails its checksum, the event is dropped
    const lost = [torn[0], (torn[1] ?? '').replace('"ms":32', '"ms":2'), torn[2]];
    expect(parseAgentEvents(lost.join('\n'))).toEqual([{ ev: 'done' }]);
  });

  it('walks one boot step by step and stops at the end of the program', () => {
    const log = ['{"ev":"write","pages":1,"ms":0}', '{"ev":"done"}', '{"ev":"write","pages":2,"ms":0}']
      .map(agentLine)
      .join('\n');
    const c = new AgentEvents(parseAgentEvents(log).map((e) => ({ ...e, t: 0 })));
    expect(c.take('write')).toMatchObject({ pages: 1 });
    expect(c.take('write')).toBeUndefined();
    expect(c.peek(['done'])).toMatchObject({ ev: 'done' });
  });
});

describe('findRefusal', () => {
  it.each([
    ['[ 2.1] PM: Image mismatch: memory size', 'memorySizeMismatch', 'EPERM'],
    ['[ 2.1] PM: Invalid image CRC32!', 'crcMismatch', 'ENODATA'],
    ['[ 2.1] PM: hibernation: Hibernate inconsistent memory map detected!', 'memoryMapMismatch', 'ENODEV'],
    ['[ 2.1] PM: hibernation: Unrecognized hibernate image header format!', 'badHeader', 'EINVAL'],
    ['[ 2.1] PM: LZO decompression failed', 'decompressFailed', 'EINVAL'],
    ['[ 2.1] PM: Error -14 resuming', 'pfnInvalid', 'EFAULT'],
  ])('%s -> %s', (line, reason, errno) => {
    expect(findRefusal(`PM: Image signature found, resuming\n${line}\n`).refusal).toMatchObject({ reason, errno });
  });

  it('prefers the specific message over the generic error line', () => {
    const log = 'PM: Invalid image CRC32!\nPM: Error -61 resuming\n';
    expect(findRefusal(log).refusal?.reason).toBe('crcMismatch');
  });

  it('reports an errno without a reason for ENOMEM', () => {
    const r = findRefusal('[ 2.16] PM: Error -12 resuming\n');
    expect(r.refusal).toBeUndefined();
    expect(r.resumeErrno).toBe('ENOMEM');
  });
});

describe('the FUSE target with sysfs (golden log)', () => {
  it('swapon refused, hibernation ENODEV: a boot that ended as planned, the agent reporting the errno', () => {
    const log = readFileSync(join(TESTDATA, 'pass-6.12-fuse-swapon-refused-enodev.log'), 'utf8');
    const r = classifyConsole(log, { kind: 'exited', code: 0 });
    expect(r.verdict.kind).toBe('pass');
    expect(r.events.find((e) => e.ev === 'hibernateReturned')).toMatchObject({ ok: false, errno: 'ENODEV' });
    expect(r.events.find((e) => e.ev === 'fuse')).toMatchObject({ swapon: expect.stringMatching(/Invalid argument/) });
  });
});
