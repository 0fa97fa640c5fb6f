import { describe, expect, it } from 'vitest';
import { guestTaskSummary, hangCause, taskDump, waitsIn } from './tasks.ts';

// a sysrq-t dump as 6.1.192 prints it (trimmed to two tasks)
const DUMP = `[   40.970679] sysrq: Show State
[   40.971212] task:agent           state:S stack:0     pid:1     ppid:0      flags:0x00000000
[   40.972113] Call Trace:
[   40.972687]  <TASK>
[   40.973445]  __schedule+0x34d/0xa00
[   40.974503]  schedule+0x5a/0xd0
[   40.974832]  request_wait_answer+0x159/0x2a0 [fuse]
[   40.975226]  ? cpuusage_read+0x10/0x10
[   40.975373]  fuse_simple_request+0x18b/0x2b0 [fuse]
[   40.976447]  do_syscall_64+0x5d/0xb0
[   40.983442]  </TASK>
[   41.073801] task:hibfused        state:D stack:0     pid:117   ppid:1      flags:0x00004004
[   41.074036]  <TASK>
[   41.074088]  __schedule+0x34d/0xa00
[   41.076406]  __refrigerator+0xa1/0x110
[   41.076496]  get_signal+0x6ee/0x990
[   41.080000] Showing busy workqueues and worker pools:
[   41.080001]  pwq 0: cpus=0 node=0 flags=0x0 nice=0 active=0/0 refcnt=2
`;

describe('task dump', () => {
  it("reads each task's state and reliable frames ('?' frames dropped), ending at the first other line", () => {
    const tasks = taskDump(DUMP);
    expect(tasks.map((t) => [t.name, t.state])).toEqual([
      ['agent', 'S'],
      ['hibfused', 'D'],
    ]);
    expect(tasks[0]?.frames).toEqual([
      '__schedule',
      'schedule',
      'request_wait_answer',
      'fuse_simple_request',
      'do_syscall_64',
    ]);
    expect(tasks[1]?.frames).toEqual(['__schedule', '__refrigerator', 'get_signal']);
  });

  it('names where a task waits (outside the scheduler) and summarises the guest programs', () => {
    const [agent] = taskDump(DUMP);
    expect(agent === undefined ? '' : waitsIn(agent)).toBe('request_wait_answer');
    expect(guestTaskSummary(taskDump(DUMP))).toBe('agent S in request_wait_answer, hibfused D in __refrigerator');
    expect(guestTaskSummary(taskDump('no dump here'))).toBeUndefined();
  });

  it('a later dump of the same task replaces the earlier one', () => {
    const later = `${DUMP}[   50.0] task:agent           state:R stack:0\n[   50.1]  <TASK>\n[   50.2]  vfs_write+0x1/0x2\n`;
    expect(guestTaskSummary(taskDump(later))).toBe('agent R in vfs_write, hibfused D in __refrigerator');
  });
});

describe('hangCause', () => {
  it('names fuseServerFrozen only when the writer waits for FUSE and the server is in the freezer', () => {
    expect(hangCause(taskDump(DUMP))).toBe('fuseServerFrozen');
    // the server running (not frozen): a FUSE wait with another cause
    expect(hangCause(taskDump(DUMP.replace('__refrigerator', 'fuse_dev_do_read')))).toBeUndefined();
    // the writer elsewhere (not a FUSE request): not this cause
    expect(hangCause(taskDump(DUMP.replace('request_wait_answer', 'blk_mq_get_tag')))).toBeUndefined();
    // only one of the two programs in the dump
    expect(hangCause(taskDump(DUMP.slice(0, DUMP.indexOf('task:hibfused'))))).toBeUndefined();
    expect(hangCause(taskDump('no dump here'))).toBeUndefined();
  });
});
