// QEMU launcher: spawn one boot, capture the serial console (timestamped) to a log file, enforce a timeout, kill.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import type { ExitInfo } from '../console/classify.ts';
import { InfraError } from '../errors.ts';
import type { QemuConfig } from './args.ts';
import { buildQemuArgs, DEFAULT_QEMU } from './args.ts';

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
  readonly args: readonly string[];
}

export interface RunningBoot {
  readonly done: Promise<BootResult>;
  /** end QEMU now (SIGKILL): the disk keeps exactly what was written so far, as after a power cut */
  kill(): void;
  /** type text on the guest's serial console (QEMU's stdin) */
  send(text: string): void;
}

/**
 * Start QEMU. `onLine` sees every console line as it arrives. The promise settles when QEMU exits or is killed
 * (timeout: SIGKILL, exit kind 'timeout'). Spawn failures (no QEMU binary) throw InfraError.
 */
export function launchQemu(
  config: QemuConfig,
  opts: { logPath: string; timeoutMs: number; onLine?: (l: ConsoleLine) => void },
): RunningBoot {
  const args = buildQemuArgs(config);
  const bin = config.binary ?? DEFAULT_QEMU;
  const t0 = Date.now();
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {}); // QEMU gone: nothing to type into
  const out = createWriteStream(opts.logPath);
  const lines: ConsoleLine[] = [];
  let log = '';
  let timedOut = false;
  let killed = false;
  const feed = (buf: { rest: string }, chunk: string) => {
    buf.rest += chunk;
    let nl = buf.rest.indexOf('\n');
    while (nl >= 0) {
      const text = buf.rest.slice(0, nl).replace(/\r$/, '');
      buf.rest = buf.rest.slice(nl + 1);
      const l = { t: Date.now() - t0, text };
      lines.push(l);
      log += `${text}\n`;
      out.write(`${text}\n`);
      opts.onLine?.(l);
      nl = buf.rest.indexOf('\n');
    }
  };
  const so = { rest: '' };
  const se = { rest: '' };
  child.stdout.setEncoding('latin1').on('data', (c: string) => feed(so, c));
  child.stderr.setEncoding('latin1').on('data', (c: string) => feed(se, c));
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs);
  const done = new Promise<BootResult>((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      out.end();
      reject(
        new InfraError(
          existsSync(bin) || bin === DEFAULT_QEMU ? `cannot run ${bin}: ${e.message} (run vm/setup.sh)` : `no ${bin}`,
        ),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (so.rest !== '') feed(so, '\n');
      if (se.rest !== '') feed(se, '\n');
      out.end();
      const exit: ExitInfo = timedOut
        ? { kind: 'timeout' }
        : signal !== null
          ? { kind: 'signal', signal: killed ? 'SIGKILL(host)' : signal }
          : { kind: 'exited', code: code ?? 0 };
      resolve({ exit, log, lines, durationMs: Date.now() - t0, args: [bin, ...args] });
    });
  });
  return {
    done,
    kill: () => {
      killed = true;
      child.kill('SIGKILL');
    },
    send: (text: string) => {
      child.stdin.write(text);
    },
  };
}
