// A fake `qemu-system-x86_64` for end-to-end tests of the real-kernel half without a real kernel (README.md here).
//
// It takes QEMU's argv as vm/qemu/args.ts builds it, and for the boot role on the kernel command line
// (`hibfuzz.boot=first|resume|noresume`) replays a console recorded from Debian 6.1 (consoles/, made by
// make-consoles.ts): each agent event of the recording is re-emitted with the values of the scenario at hand, the
// command line and the firmware memory map are the ones of this boot. The first boot writes a signed swsusp image
// (vm/image/write.ts) holding the agent's tagged pages (vm/image/agent-tag.ts) and the guest's own pages onto the
// `-drive file=` disk; the resume boot loads it (resets the signature) and the agent verifies what it wrote. With
// `-qmp` it answers QMP (stop, migrate into the host's socket, cont, query-status) and with `-incoming fd:3` it
// restores, so the fast path (vm/fast.ts) runs too.
//
// FAKE_QEMU_MODE selects what goes wrong (default `normal`; several: comma-separated):
//   panic-after-resume      Oops + "Kernel panic - not syncing: Fatal exception" right after hibernateReturned
//   oops-during-load        Oops in lzo1x_decompress_safe while the resume kernel loads the image
//   exit-after-returned     QEMU exits (status 0, no power-off) right after hibernateReturned, before verify
//   sigkill-after-returned  the process SIGKILLs itself right after hibernateReturned, before verify
//   kill-mid-hibernation    SIGKILLs itself while the image is being written (nothing signed)
//   kill-mid-resume         SIGKILLs itself while the resume kernel loads the image (or looks for one)
//   kill-noresume           SIGKILLs itself in a noresume boot
//   hang                    prints the first boot up to init, then sleeps until killed
//   no-init                 the first boot panics before init ("VFS: Unable to mount root fs")
// A -kernel file without the FAKE_KERNEL_MARKER is garbage to the fake: nothing on the console, exit 0 (the CPU
// triple-faults on the first instruction and -no-reboot ends QEMU).
// FAKE_QEMU_PIDFILE: the fake writes its pid there first thing. FAKE_QEMU_LOG: one line per boot (role, mode, args).
import { appendFileSync, closeSync, fstatSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { agentLine, SUMMED_EVENTS } from '../../../vm/console/events.ts';
import { AGENT_KIND_ANON, AGENT_KIND_PAGE_CACHE, agentPage } from '../../../vm/image/agent-tag.ts';
import { HIBERNATE_SIG, PAGE_SIZE, SWSUSP_HEADER_ORIG_SIG, SWSUSP_HEADER_SIG } from '../../../vm/image/format.ts';
import { anonGenerations } from '../../../vm/image/observe.ts';
import { buildSwsuspImage, type SavedPage } from '../../../vm/image/write.ts';
import { kernelLineOf, kernelReleaseFromHeader } from '../../../vm/identity.ts';
import { FAKE_GUEST_PAGES, FAKE_KERNEL_MARKER } from './guest.ts';

export const FAKE_MODES = [
  'normal',
  'panic-after-resume',
  'oops-during-load',
  'exit-after-returned',
  'sigkill-after-returned',
  'kill-mid-hibernation',
  'kill-mid-resume',
  'kill-noresume',
  'hang',
  'no-init',
] as const;
export type FakeMode = (typeof FAKE_MODES)[number];

const HERE = dirname(new URL(import.meta.url).pathname);
const GOLDEN = join(HERE, '..', '..', '..', 'vm', 'console', 'testdata');

////////    argv    ////////

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const append = opt('-append') ?? '';
const words = new Map<string, string>();
const addWords = (text: string) => {
  for (const w of text.trim().split(/\s+/)) {
    const eq = w.indexOf('=');
    if (eq > 0) words.set(w.slice(0, eq), w.slice(eq + 1));
    else if (w !== '') words.set(w, '');
  }
};
addWords(append);
const role = words.get('hibfuzz.boot') ?? 'first';
const wait = words.get('hibfuzz.wait') === '1';
const memMiB = Number(opt('-m') ?? '512');
const modes = new Set((process.env.FAKE_QEMU_MODE ?? 'normal').split(',') as FakeMode[]);
const mode = (m: FakeMode): boolean => modes.has(m);
const drive = opt('-drive') ?? '';
const disk = /^file=([^,]+)/.exec(drive)?.[1];
const kernelPath = opt('-kernel') ?? '';
const qmpPath = /^unix:([^,]+)/.exec(opt('-qmp') ?? '')?.[1];
const incoming = opt('-incoming');

if (process.env.FAKE_QEMU_PIDFILE !== undefined) writeFileSync(process.env.FAKE_QEMU_PIDFILE, `${process.pid}\n`);
if (process.env.FAKE_QEMU_LOG !== undefined) {
  appendFileSync(process.env.FAKE_QEMU_LOG, `${JSON.stringify({ role, mode: [...modes].join(','), incoming: incoming ?? null, argv })}\n`);
}

////////    output    ////////

const out = (line: string) => {
  writeSync(1, `${line}\n`);
};
// as the guest prints them: agent.c's events with their checksum, init.sh's plain
const event = (e: Record<string, unknown>) => {
  const json = JSON.stringify(e);
  out(SUMMED_EVENTS.has(String(e.ev)) ? agentLine(json) : `HIBFUZZ ${json}`);
};
const die = (how: 'kill' | number): never => {
  if (how === 'kill') process.kill(process.pid, 'SIGKILL');
  process.exit(how === 'kill' ? 137 : how);
};
/** init's `poweroff -f`: the kernel's last two lines, QEMU exits (status 0). */
const powerOff = (): never => {
  out('[    4.201000] ACPI: PM: Preparing to enter system sleep state S5');
  out('[    4.202000] reboot: Power down');
  return die(0);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

////////    the kernel file    ////////

const kernelBytes = (() => {
  try {
    return readFileSync(kernelPath);
  } catch (e) {
    process.stderr.write(`qemu-system-x86_64: could not load kernel '${kernelPath}': ${(e as Error).message}\n`);
    return process.exit(1);
  }
})();
const release = kernelReleaseFromHeader(kernelBytes.subarray(0, 128 * 1024)) ?? '6.1.0-fake';
const line = kernelLineOf(release);
const bootable = kernelBytes.includes(FAKE_KERNEL_MARKER);

////////    QMP and the incoming state    ////////

let status: 'inmigrate' | 'paused' | 'running' = incoming === undefined ? 'running' : 'inmigrate';
let migration: 'none' | 'active' | 'completed' | 'failed' = 'none';
const stateOf = () => JSON.stringify({ fakeQemu: 1, role, release, kernelBytes: kernelBytes.length });

function serveQmp(path: string): void {
  const server = createServer((sock) => {
    sock.setEncoding('utf8');
    sock.write(`${JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 22 } }, capabilities: [] } })}\n`);
    let buf = '';
    const reply = (r: unknown) => sock.write(`${JSON.stringify({ return: r })}\n`);
    sock.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const text = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (text === '') continue;
        const cmd = JSON.parse(text) as { execute: string; arguments?: { uri?: string } };
        switch (cmd.execute) {
          case 'stop':
            status = 'paused';
            reply({});
            break;
          case 'cont':
            status = 'running';
            reply({});
            break;
          case 'query-status':
            reply({ status, running: status === 'running' });
            break;
          case 'migrate': {
            const to = /^unix:(.*)$/.exec(cmd.arguments?.uri ?? '')?.[1];
            if (to === undefined) {
              sock.write(`${JSON.stringify({ error: { class: 'GenericError', desc: 'fake: unix: only' } })}\n`);
              break;
            }
            migration = 'active';
            const c = createConnection(to, () => c.end(stateOf()));
            c.on('close', () => {
              if (migration === 'active') migration = 'completed';
            });
            c.on('error', () => {
              migration = 'failed';
            });
            reply({});
            break;
          }
          case 'query-migrate':
            reply({ status: migration === 'none' ? 'setup' : migration });
            break;
          default:
            reply({});
        }
      }
    });
    sock.on('error', () => {});
  });
  server.listen(path);
  server.unref();
}

/** `-incoming fd:3`: read the saved state; the VM is then paused until `cont`. */
function restoreIncoming(): void {
  if (incoming === undefined) return;
  const fd = Number(/^fd:(\d+)$/.exec(incoming)?.[1] ?? '-1');
  const state = readFileSync(fd, 'utf8');
  if (!state.includes('"fakeQemu":1')) {
    process.stderr.write('qemu-system-x86_64: load of migration failed: Invalid argument\n');
    die(1);
  }
  status = 'paused';
}

/** Wait until the VM runs (restored: the host's `cont`; saved at the wait point: after `stop` ... `cont`). */
async function running(): Promise<void> {
  while (status !== 'running') await sleep(5);
}

let stdinBuf = '';
const stdinLines: string[] = [];
process.stdin.setEncoding('latin1');
process.stdin.on('data', (c: string) => {
  stdinBuf += c;
  for (let nl = stdinBuf.indexOf('\n'); nl >= 0; nl = stdinBuf.indexOf('\n')) {
    stdinLines.push(stdinBuf.slice(0, nl));
    stdinBuf = stdinBuf.slice(nl + 1);
  }
});
process.stdin.on('error', () => {});
async function readLine(): Promise<string> {
  for (;;) {
    const l = stdinLines.shift();
    if (l !== undefined) return l;
    await sleep(5);
  }
}

////////    the disk    ////////

const diskPages = (): number => {
  if (disk === undefined) return 0;
  const fd = openSync(disk, 'r');
  try {
    return Math.floor(fstatSync(fd).size / PAGE_SIZE);
  } finally {
    closeSync(fd);
  }
};

/** Write pages of the disk; ENOSPC behaves as QEMU's default werror=enospc: the VM stops (here: for good). */
async function writePages(pages: readonly { index: number; bytes: Uint8Array }[]): Promise<void> {
  if (disk === undefined) return;
  const fd = openSync(disk, 'r+');
  try {
    for (const p of pages) {
      const n = writeSync(fd, p.bytes, 0, PAGE_SIZE, p.index * PAGE_SIZE);
      if (n !== PAGE_SIZE) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
    }
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOSPC') throw e;
    status = 'paused';
    for (;;) await sleep(1000);
  } finally {
    closeSync(fd);
  }
}

function readPage(index: number): Uint8Array {
  const b = new Uint8Array(PAGE_SIZE);
  if (disk === undefined) return b;
  const fd = openSync(disk, 'r');
  try {
    readSync(fd, b, 0, PAGE_SIZE, index * PAGE_SIZE);
  } finally {
    closeSync(fd);
  }
  return b;
}

const ascii = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));
const sigOf = (page: Uint8Array) => Buffer.from(page.subarray(SWSUSP_HEADER_SIG, SWSUSP_HEADER_SIG + 10)).toString('latin1');

/** mkswap: a v1 swap header on page 0 (init.sh runs it before the agent starts). */
async function mkswap(): Promise<void> {
  const h = new Uint8Array(PAGE_SIZE);
  const v = new DataView(h.buffer);
  v.setUint32(1024, 1, true); // version
  v.setUint32(1028, diskPages() - 1, true); // last_page
  h.set(ascii('SWAPSPACE2'), SWSUSP_HEADER_SIG);
  await writePages([{ index: 0, bytes: h }]);
}

////////    the agent    ////////

interface AgentState {
  readonly id: number;
  readonly seed: number;
  readonly anon: number;
  readonly zero: number;
  readonly pc: number;
  readonly prog: readonly string[];
  /** the write sizes the program ran before the hibernation */
  readonly writes: readonly number[];
}
const stateFile = disk === undefined ? undefined : join(dirname(disk), 'fake-qemu-agent.json');

function agentFromWords(): AgentState {
  const n = (k: string) => Number(words.get(k) ?? '0');
  return {
    id: Number.parseInt(words.get('hibfuzz.id') ?? '0', 16) >>> 0,
    seed: n('hibfuzz.seed'),
    anon: n('hibfuzz.anon'),
    zero: n('hibfuzz.zero'),
    pc: n('hibfuzz.pc'),
    prog: (words.get('hibfuzz.prog') ?? '').split(',').filter((o) => o !== ''),
    writes: [],
  };
}

/** The image the kernel writes: the agent's anon, zero and page-cache pages, then the guest's own pages. */
function imagePages(a: AgentState): SavedPage[] {
  const gens = anonGenerations(a.anon, a.writes);
  const pages: SavedPage[] = [];
  let pfn = 0x1000;
  const zero = new Uint8Array(PAGE_SIZE);
  for (let i = 0; i < a.anon; i++)
    pages.push({ pfn: pfn++, data: agentPage({ id: a.id, seed: a.seed, kind: AGENT_KIND_ANON, index: i, generation: gens[i] ?? 0 }) });
  for (let i = 0; i < a.zero + FAKE_GUEST_PAGES[line].zero; i++) pages.push({ pfn: pfn++, data: zero });
  for (let i = 0; i < a.pc; i++)
    pages.push({ pfn: pfn++, data: agentPage({ id: a.id, seed: a.seed, kind: AGENT_KIND_PAGE_CACHE, index: i, generation: 0 }) });
  // the guest's own pages: kernel data (zero-filled here: 6.1 stores them as data pages, like its zero pages)
  const own = line === '6.1' ? zero : Uint8Array.from({ length: PAGE_SIZE }, (_, i) => (i === 0 ? 1 : 0));
  for (let i = 0; i < FAKE_GUEST_PAGES[line].data; i++) pages.push({ pfn: pfn++, data: own });
  return pages;
}

/** swsusp_write: the image onto the swap disk, signed last; only the pages that are not all zero are written. */
async function writeImage(a: AgentState): Promise<void> {
  const compression =
    words.has('hibernate') && words.get('hibernate') === 'nocompress'
      ? 'none'
      : words.get('hibfuzz.compressor') === 'lz4' && line === '6.12'
        ? 'lz4'
        : 'lzo';
  const img = buildSwsuspImage({ pages: imagePages(a), style: line, compression, devicePages: diskPages() });
  const zero = Buffer.alloc(PAGE_SIZE);
  const at = (i: number) => img.device.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
  const data = [...img.mapPages, ...img.entries].filter((i) => !zero.equals(at(i)));
  await writePages(data.map((index) => ({ index, bytes: at(index) })));
  await writePages([{ index: img.resumePage, bytes: at(img.resumePage) }]);
  if (stateFile !== undefined) writeFileSync(stateFile, `${JSON.stringify(a)}\n`);
}

////////    consoles    ////////

const recorded = (name: string) => readFileSync(join(HERE, 'consoles', `${name}-6.1.log`), 'latin1').trimEnd().split('\n');
const golden = (name: string, from: RegExp) => {
  const lines = readFileSync(join(GOLDEN, name), 'latin1').trimEnd().split('\n');
  return lines.slice(lines.findIndex((l) => from.test(l)));
};
const eventOf = (l: string): string | undefined => /^HIBFUZZ \{"ev":"(\w+)"/.exec(l)?.[1];

/** The firmware memory map QEMU's pc machine gives `-m memMiB` (below 3.5 GiB). */
function e820Lines(): string[] {
  const top = memMiB * 1024 * 1024 - 0x23000;
  const hex = (n: number) => `0x${n.toString(16).padStart(16, '0')}`;
  const l = (a: number, b: number, t: string) => `[    0.000000] BIOS-e820: [mem ${hex(a)}-${hex(b)}] ${t}`;
  return [
    l(0, 0x9fbff, 'usable'),
    l(0x9fc00, 0x9ffff, 'reserved'),
    l(0xf0000, 0xfffff, 'reserved'),
    l(0x100000, top - 1, 'usable'),
    l(top, memMiB * 1024 * 1024 - 1, 'reserved'),
    l(0xfffc0000, 0xffffffff, 'reserved'),
  ];
}

/** A recorded kernel line as this boot prints it. */
function kernelLine(l: string, e820Done: { v: boolean }): string[] {
  if (/BIOS-e820:/.test(l)) {
    if (e820Done.v) return [];
    e820Done.v = true;
    return e820Lines();
  }
  if (/(Kernel c|C)ommand line: /.test(l)) return [l.replace(/(ommand line: ).*$/, `$1${append}`)];
  if (/Linux version /.test(l)) return [l.replace(/Linux version \S+/, `Linux version ${release}`)];
  const sectors = diskPages() * 8;
  return [l.replace(/\[vda\] \d+ 512-byte logical blocks \([^)]*\)/, `[vda] ${sectors} 512-byte logical blocks`)];
}

async function firstBoot(): Promise<void> {
  const lines = recorded('first');
  const e820 = { v: false };
  let agent: AgentState | undefined;
  let skipping = incoming !== undefined; // restored: the console up to the wait point is the host's saved copy
  let op = 0;
  for (const l of lines) {
    const ev = eventOf(l);
    if (ev === undefined) {
      if (!skipping) for (const k of kernelLine(l, e820)) out(k);
      if (mode('no-init') && /Run \/init/.test(l)) {
        for (const p of golden('panic-6.1-no-init.log', /VFS: Unable|Kernel panic/)) out(p);
        die(0);
      }
      continue;
    }
    switch (ev) {
      case 'init':
        if (!skipping) {
          event({ ev: 'init', boot: 'first', dev: '254:0' });
          await mkswap();
          if (mode('hang')) for (;;) await sleep(1000);
          if (wait) event({ ev: 'waiting' });
        }
        if (wait) {
          await running();
          addWords(await readLine());
        }
        skipping = false;
        agent = agentFromWords();
        break;
      case 'agentStart':
        if (agent !== undefined) event({ ev: 'agentStart', id: agent.id, prog: agent.prog.join(',') });
        break;
      case 'filled':
        if (agent !== undefined) event({ ev: 'filled', anon: agent.anon, zero: agent.zero, pageCache: agent.pc, ms: 12 });
        break;
      case 'write': {
        // the program's writes before its first hibernation
        const writes: number[] = [];
        for (; op < (agent?.prog.length ?? 0) && /^w\d+$/.test(agent?.prog[op] ?? ''); op++) {
          const pages = Number(agent?.prog[op]?.slice(1));
          writes.push(pages);
          event({ ev: 'write', pages, ms: 0 });
        }
        if (agent !== undefined) agent = { ...agent, writes };
        break;
      }
      case 'hibernating': {
        const h = agent?.prog[op] ?? '';
        if (!/^h/.test(h)) {
          if (mode('kill-mid-hibernation')) die('kill');
          event({ ev: 'done' });
          powerOff();
        }
        const pmTest = h.startsWith('hp') ? h.slice(2) : 'none';
        event({ ev: 'hibernating', mode: 'shutdown', pmTest, swapUsedKiB: 0 });
        if (mode('kill-mid-hibernation')) {
          // killed from outside while the kernel writes the image: nothing is signed yet
          out('[    4.179528] PM: hibernation: hibernation entry');
          out('[    4.183995] Filesystems sync: 0.000 seconds');
          die('kill');
        }
        if (pmTest !== 'none') {
          // pm_test: the hibernation stops at the level and returns; the agent checks its memory
          event({ ev: 'hibernateReturned', ok: true, ms: 40 });
          const checked = (agent?.anon ?? 0) + (agent?.zero ?? 0) + (agent?.pc ?? 0);
          event({ ev: 'verify', pagesChecked: checked, pagesCorrupt: 0, zeroCorrupt: 0, pageCacheCorrupt: 0, firstBad: -1, ms: 3 });
          event({ ev: 'done' });
          powerOff();
        }
        break;
      }
      default:
        break;
    }
    if (ev !== 'hibernating' || agent === undefined) continue;
    // the kernel's hibernation messages, the image written where the recording says it was saved
    const rest = lines.slice(lines.indexOf(l) + 1);
    for (const k of rest) {
      if (/PM: Image saving done/.test(k)) await writeImage(agent);
      out(k);
    }
    die(0);
  }
  die(0);
}

async function resumeBoot(): Promise<void> {
  const lines = recorded('resume');
  const e820 = { v: false };
  let skipping = incoming !== undefined;
  let signed = false;
  for (const l of lines) {
    const ev = eventOf(l);
    if (ev === undefined) {
      if (skipping) continue;
      if (/PM: Image signature found, resuming/.test(l)) {
        signed = sigOf(readPage(0)) === HIBERNATE_SIG;
        if (!signed) {
          if (mode('kill-mid-resume')) die('kill');
          out(l.replace(/PM: .*$/, 'PM: Image not found (code -22)'));
          event({ ev: 'resumeReturned' });
          powerOff();
        }
      }
      if (mode('kill-mid-resume') && /Image loading progress:  30%/.test(l)) die('kill');
      if (mode('oops-during-load') && /Image loading progress:  40%/.test(l)) {
        for (const p of golden('panic-6.1-oops-during-load.log', /BUG: unable to handle/)) out(p);
        die(0);
      }
      if (/PM: Image successfully loaded/.test(l)) {
        // the image is consumed: swsusp puts the swap signature back
        const h = readPage(0);
        h.set(h.subarray(SWSUSP_HEADER_ORIG_SIG, SWSUSP_HEADER_ORIG_SIG + 10), SWSUSP_HEADER_SIG);
        await writePages([{ index: 0, bytes: h }]);
      }
      for (const k of kernelLine(l, e820)) out(k);
      continue;
    }
    switch (ev) {
      case 'init':
        if (!skipping) {
          event({ ev: 'init', boot: 'resume', dev: '254:0' });
          if (wait) event({ ev: 'waiting' });
        }
        if (wait) {
          await running();
          await readLine();
        }
        skipping = false;
        break;
      case 'resuming':
        event({ ev: 'resuming' });
        break;
      case 'hibernateReturned':
        event({ ev: 'hibernateReturned', ok: true, ms: 1145 });
        if (mode('panic-after-resume')) {
          for (const p of golden('panic-6.1-after-resume.log', /BUG: kernel NULL pointer/)) out(p);
          die(0);
        }
        if (mode('exit-after-returned')) die(0);
        if (mode('sigkill-after-returned')) die('kill');
        break;
      case 'verify': {
        const a = stateFile === undefined ? undefined : (JSON.parse(readFileSync(stateFile, 'utf8')) as AgentState);
        const checked = (a?.anon ?? 0) + (a?.zero ?? 0) + (a?.pc ?? 0);
        event({ ev: 'verify', pagesChecked: checked, pagesCorrupt: 0, zeroCorrupt: 0, pageCacheCorrupt: 0, firstBad: -1, ms: 3 });
        break;
      }
      default:
        event(JSON.parse(l.slice('HIBFUZZ '.length).replace(/\s*#[0-9a-f]{8}\s*$/, '')) as Record<string, unknown>);
    }
  }
  die(0);
}

async function noresumeBoot(): Promise<void> {
  const lines = recorded('resume');
  const e820 = { v: false };
  for (const l of lines) {
    if (eventOf(l) === 'init') break;
    for (const k of kernelLine(l, e820)) out(k);
  }
  event({ ev: 'init', boot: 'noresume', dev: '254:0' });
  if (mode('kill-noresume')) die('kill');
  const n = Number(words.get('hibfuzz.wpages') ?? '0');
  const junk = Uint8Array.from({ length: PAGE_SIZE }, (_, i) => (i * 131 + 7) & 0xff);
  await writePages(Array.from({ length: n }, (_, i) => ({ index: i + 1, bytes: junk })));
  event({ ev: 'noresumeDone', wrote: n, sig: sigOf(readPage(0)).replace(/\0/g, '') });
  powerOff();
}

if (disk === undefined) {
  process.stderr.write(`qemu-system-x86_64: -drive ${drive}: the fake serves file= disks only\n`);
  die(1);
}
if (!bootable) {
  // garbage behind a valid boot header: the CPU faults before the kernel prints anything
  await sleep(50);
  die(0);
}
if (qmpPath !== undefined) serveQmp(qmpPath);
restoreIncoming();
if (role === 'first') await firstBoot();
else if (role === 'resume') await resumeBoot();
else await noresumeBoot();
