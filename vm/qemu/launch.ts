// QEMU launcher: spawn one boot, capture the serial console and the agent channel (timestamped) to one log file,
// enforce a timeout, kill.
//
// The agent channel (ttyS1, args.ts AGENT_FD) is a socket pair: Node's stdio 'pipe' is one on Unix. Its lines join the
// console's in arrival order, in `lines` and in the log, so a log reads as the guest's story; an event comes whole
// because no kernel message is written into that port.
//
// QEMU never outlives hibfuzz. It is started as `setpriv --pdeathsig KILL -- qemu-system-x86_64 ...` (util-linux): the
// kernel sends it SIGKILL when the thread that spawned it dies, however hibfuzz ends (SIGKILL and OOM included).
// PR_SET_PDEATHSIG fires on the death of the parent *thread*; Node spawns from its main thread, which lives as long as
// the process. setpriv execs QEMU, so the pid is QEMU's, and the setting survives the exec. On SIGINT, SIGTERM and at
// exit every QEMU still running is killed as well. Without setpriv: a plain spawn and a one-time warning on stderr.
//
// Who ended QEMU is part of the result: `signal.byHost` is true only when this module sent the signal (timeout,
// kill(), the SIGINT/SIGTERM/exit handlers); a QEMU killed by anyone else is `byHost: false`.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, createWriteStream, openSync, readSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { ExitInfo } from '../console/classify.ts';
import { InfraError } from '../errors.ts';
import type { QemuConfig } from './args.ts';
import { AGENT_FD, buildQemuArgs, DEFAULT_QEMU, INCOMING_FD } from './args.ts';

export interface ConsoleLine {
  /** milliseconds since QEMU was spawned */
  readonly t: number;
  readonly text: string;
}

export interface BootResult {
  readonly exit: ExitInfo;
  /** serial console and QEMU's stderr, as written to the log file */
  readonly log: string;
  readonly lines: readonly ConsoleLine[];
  readonly durationMs: number;
  /** QEMU's argv (binary first; the setpriv prefix is not part of it) */
  readonly args: readonly string[];
}

export interface RunningBoot {
  readonly done: Promise<BootResult>;
  /** end QEMU now (SIGKILL): the disk keeps exactly what was written so far, as after a power cut */
  kill(): void;
  /** type text on the guest's serial console (QEMU's stdin) */
  send(text: string): void;
  /** QEMU's process id (undefined when the spawn failed) */
  readonly pid: number | undefined;
}

/** An executable file named `name` (a path, or looked up in PATH), or undefined. */
export function findExecutable(name: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates = name.includes('/') ? [name] : path.split(delimiter).map((d) => join(d === '' ? '.' : d, name));
  return candidates.find((c) => {
    try {
      accessSync(c, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

let pdeathsig: readonly string[] | undefined;
/** The argv prefix that makes QEMU die with hibfuzz (`setpriv --pdeathsig KILL --`), or [] with a one-time warning. */
function deathSignalPrefix(): readonly string[] {
  if (pdeathsig === undefined) {
    const setpriv = findExecutable('setpriv') ?? findExecutable('/usr/bin/setpriv');
    if (setpriv === undefined) {
      process.stderr.write('hibfuzz: setpriv (util-linux) not found: a QEMU may outlive hibfuzz if it is killed\n');
    }
    pdeathsig = setpriv === undefined ? [] : [setpriv, '--pdeathsig', 'KILL', '--'];
  }
  return pdeathsig;
}

// Every QEMU still running, with the function that kills it as the host (byHost).
const live = new Map<ChildProcess, () => void>();
const killAll = (): void => {
  for (const k of [...live.values()]) k();
};
const onSignal = (sig: NodeJS.Signals): void => {
  killAll();
  // ours was the only handler: keep the default action (end the process with the signal)
  if (process.listenerCount(sig) === 1) {
    unhook();
    process.kill(process.pid, sig);
  }
};
const onSigint = (): void => onSignal('SIGINT');
const onSigterm = (): void => onSignal('SIGTERM');
function hook(): void {
  process.on('exit', killAll);
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
}
function unhook(): void {
  process.off('exit', killAll);
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigterm);
}
function track(child: ChildProcess, kill: () => void): void {
  if (live.size === 0) hook();
  live.set(child, kill);
}
function untrack(child: ChildProcess): void {
  if (live.delete(child) && live.size === 0) unhook();
}

/** How often the console file is read for new lines while QEMU runs. */
const SERIAL_POLL_MS = 20;

/**
 * The console (ttyS0, QEMU's stdout) goes to a regular file, never to a pipe or socket: QEMU's serial device drops a
 * character when its backend stays busy, and a kernel printk does not wait long for the UART (8250
 * wait_for_xmitr), so a host slow to read (two guests in one event loop, a loaded CI machine) lost console text
 * (a torn memory map, a torn "reboot: Power down"). A file never says "busy". The host reads it as it grows; the
 * file is removed at exit (the boot's log holds every line).
 */
function openSerial(path: string): { qemuFd: number; readFd: number; read: () => string; close: () => void } {
  let qemuFd: number;
  let readFd: number;
  try {
    qemuFd = openSync(path, 'w');
    readFd = openSync(path, 'r');
  } catch (e) {
    throw new InfraError(`console file ${path}: ${e instanceof Error ? e.message : e}`);
  }
  const buf = Buffer.alloc(1 << 16);
  let pos = 0;
  let open = true;
  const read = (): string => {
    if (!open) return '';
    let text = '';
    for (let n = readSync(readFd, buf, 0, buf.length, pos); n > 0; n = readSync(readFd, buf, 0, buf.length, pos)) {
      pos += n;
      text += buf.toString('latin1', 0, n);
    }
    return text;
  };
  const close = () => {
    if (!open) return;
    open = false;
    closeSync(readFd);
    rmSync(path, { force: true });
  };
  return { qemuFd, readFd, read, close };
}

/** Open the incoming VM state for QEMU (handed over as fd INCOMING_FD); InfraError naming the path. */
function openIncoming(config: QemuConfig): number | undefined {
  if (config.incoming === undefined) return undefined;
  try {
    return openSync(config.incoming.stateFile, 'r');
  } catch (e) {
    throw new InfraError(`incoming VM state ${config.incoming.stateFile}: ${e instanceof Error ? e.message : e}`);
  }
}

/**
 * Start QEMU. `onLine` sees every console line as it arrives. The promise settles when QEMU exits or is killed
 * (timeout: SIGKILL, exit kind 'timeout'). A bad config or a missing QEMU binary throws InfraError.
 */
export function launchQemu(
  config: QemuConfig,
  opts: { logPath: string; timeoutMs: number; onLine?: (l: ConsoleLine) => void },
): RunningBoot {
  const args = buildQemuArgs(config);
  const bin = config.binary ?? DEFAULT_QEMU;
  const resolved = findExecutable(bin);
  if (resolved === undefined) {
    throw new InfraError(bin === DEFAULT_QEMU ? `no ${bin} in PATH (run vm/setup.sh)` : `no executable ${bin}`);
  }
  const [wrapper, ...wrapperArgs] = deathSignalPrefix();
  const serial = openSerial(`${opts.logPath}.serial`);
  const stateFd = openIncoming(config);
  const stdio: ('pipe' | 'ignore' | number)[] = ['pipe', serial.qemuFd, 'pipe'];
  while (stdio.length <= AGENT_FD) stdio.push('ignore');
  if (stateFd !== undefined) stdio[INCOMING_FD] = stateFd;
  stdio[AGENT_FD] = 'pipe';
  const t0 = Date.now();
  let child: ChildProcess;
  try {
    child =
      wrapper === undefined
        ? spawn(resolved, args, { stdio })
        : spawn(wrapper, [...wrapperArgs, resolved, ...args], { stdio });
  } finally {
    if (stateFd !== undefined) closeSync(stateFd); // QEMU has its own copy
    closeSync(serial.qemuFd);
  }
  const stdin = child.stdin;
  const stderr = child.stderr;
  const agent = child.stdio[AGENT_FD] as Readable | null | undefined;
  if (stdin === null || stderr === null || agent == null) {
    closeSync(serial.readFd);
    throw new InfraError('QEMU spawned without stdio pipes');
  }
  stdin.on('error', () => {}); // QEMU gone: nothing to type into
  const out = createWriteStream(opts.logPath);
  // the host cannot keep the console (ENOSPC, EIO): the boot is the host's trouble; QEMU is stopped, never judged
  let logError: Error | undefined;
  const lines: ConsoleLine[] = [];
  let log = '';
  let timedOut = false;
  let byHost = false;
  let ended = false;
  const hostKill = (): void => {
    if (ended) return;
    byHost = true;
    child.kill('SIGKILL');
  };
  track(child, hostKill);
  out.on('error', (e) => {
    logError ??= e;
    hostKill();
  });
  const feed = (buf: { rest: string }, chunk: string) => {
    buf.rest += chunk;
    let nl = buf.rest.indexOf('\n');
    while (nl >= 0) {
      const text = buf.rest.slice(0, nl).replace(/\r$/, '');
      buf.rest = buf.rest.slice(nl + 1);
      const l = { t: Date.now() - t0, text };
      lines.push(l);
      log += `${text}\n`;
      if (logError === undefined) out.write(`${text}\n`);
      opts.onLine?.(l);
      nl = buf.rest.indexOf('\n');
    }
  };
  const so = { rest: '' };
  const se = { rest: '' };
  const ag = { rest: '' };
  // the console so far before any other stream's lines: they come in the order the guest wrote them
  const readSerial = () => {
    const c = serial.read();
    if (c !== '') feed(so, c);
  };
  const poll = setInterval(readSerial, SERIAL_POLL_MS);
  stderr.setEncoding('latin1').on('data', (c: string) => {
    readSerial();
    feed(se, c);
  });
  agent.on('error', () => {}); // QEMU gone: the channel ends with it
  agent.setEncoding('latin1').on('data', (c: string) => {
    readSerial();
    feed(ag, c);
  });
  const timer = setTimeout(() => {
    timedOut = true;
    hostKill();
  }, opts.timeoutMs);
  const done = new Promise<BootResult>((resolve, reject) => {
    const finish = () => {
      ended = true;
      clearTimeout(timer);
      clearInterval(poll);
      untrack(child);
      readSerial();
      serial.close();
    };
    child.on('error', (e) => {
      finish();
      out.end();
      reject(new InfraError(`cannot run ${resolved}: ${e.message} (run vm/setup.sh)`));
    });
    child.on('close', (code, signal) => {
      finish();
      if (so.rest !== '') feed(so, '\n');
      if (se.rest !== '') feed(se, '\n');
      if (ag.rest !== '') feed(ag, '\n');
      // the result only once the console log is on disk: a caller that reads it, or adds a line, sees all of it
      out.end(() => settle(code, signal));
    });
    const settle = (code: number | null, signal: NodeJS.Signals | null) => {
      if (logError !== undefined) {
        reject(new InfraError(`cannot write the console log ${opts.logPath}: ${logError.message}`));
        return;
      }
      // setpriv could not exec QEMU (126: not executable, 127: not found): the host's trouble
      const execFailed = /^setpriv: .*(failed to execute|No such file)/m.exec(log);
      if (signal === null && (code === 126 || code === 127) && execFailed !== null) {
        reject(new InfraError(`cannot run ${resolved}: ${execFailed[0]}`));
        return;
      }
      const exit: ExitInfo = timedOut
        ? { kind: 'timeout' }
        : signal !== null
          ? { kind: 'signal', signal, byHost }
          : { kind: 'exited', code: code ?? 0 };
      resolve({ exit, log, lines, durationMs: Date.now() - t0, args: [bin, ...args] });
    };
  });
  return {
    done,
    kill: hostKill,
    send: (text: string) => {
      stdin.write(text);
    },
    pid: child.pid,
  };
}

const versions = new Map<string, Promise<string>>();
/** First line of `<binary> --version` (part of snapshot keys), once per binary and process; 'unknown' on failure. */
export function qemuVersionLine(binary: string = DEFAULT_QEMU): Promise<string> {
  let v = versions.get(binary);
  if (v === undefined) {
    v = new Promise((resolve) => {
      execFile(binary, ['--version'], (err, stdout) => resolve(err ? 'unknown' : (stdout.split('\n')[0] ?? '')));
    });
    versions.set(binary, v);
  }
  return v;
}
