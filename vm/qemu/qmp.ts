// QMP client over a unix socket: capabilities handshake, then one command at a time (quit, query-blockstats, migrate).
// Kept instead of a library: a few commands over one socket, a connection that never comes up or an error reply
// raised as an InfraError (host trouble, never a finding); QEMU's own client (python qemu.qmp) is a separate process.
import { createConnection, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { InfraError } from '../errors.ts';

export interface BlockStats {
  readonly device: string;
  readonly wrOperations: number;
  readonly wrBytes: number;
  readonly flushOperations: number;
}

export class Qmp {
  readonly #sock: Socket;
  #buf = '';
  #waiters: ((msg: Record<string, unknown>) => void)[] = [];
  #events: Record<string, unknown>[] = [];

  private constructor(sock: Socket) {
    this.#sock = sock;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.#buf += chunk;
      let nl = this.#buf.indexOf('\n');
      while (nl >= 0) {
        const line = this.#buf.slice(0, nl).trim();
        this.#buf = this.#buf.slice(nl + 1);
        nl = this.#buf.indexOf('\n');
        if (line === '') continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          msg = { error: { desc: `not QMP: ${line.slice(0, 80)}` } }; // answers the oldest waiter; never a crash
        }
        if ('event' in msg) {
          this.#events.push(msg);
          continue;
        }
        this.#waiters.shift()?.(msg);
      }
    });
    sock.on('error', () => {
      for (const w of this.#waiters.splice(0)) w({ error: { desc: 'socket closed' } });
    });
    sock.on('close', () => {
      for (const w of this.#waiters.splice(0)) w({ error: { desc: 'socket closed' } });
    });
  }

  /** Connect, retrying while QEMU creates the socket, and leave capabilities negotiation. */
  static async connect(path: string, timeoutMs = 10_000): Promise<Qmp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection(path, () => resolve(s));
          s.once('error', reject);
        });
        const q = new Qmp(sock);
        await q.#next(); // greeting
        await q.execute('qmp_capabilities');
        return q;
      } catch (e) {
        if (Date.now() > deadline) throw new InfraError(`QMP ${path}: ${e instanceof Error ? e.message : String(e)}`);
        await sleep(20);
      }
    }
  }

  #next(): Promise<Record<string, unknown>> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const reply = this.#next();
    this.#sock.write(
      `${JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args })}\n`,
    );
    const msg = await reply;
    if ('error' in msg) throw new InfraError(`QMP ${command}: ${JSON.stringify(msg.error)}`);
    return msg.return;
  }

  /** Events received so far (e.g. STOP, MIGRATION), oldest first; clears the queue. */
  takeEvents(): Record<string, unknown>[] {
    return this.#events.splice(0);
  }

  async blockStats(): Promise<BlockStats[]> {
    const r = (await this.execute('query-blockstats')) as {
      device: string;
      qdev?: string;
      stats: { wr_operations: number; wr_bytes: number; flush_operations: number };
    }[];
    return r.map((b) => ({
      device: b.device !== '' ? b.device : (b.qdev ?? ''),
      wrOperations: b.stats.wr_operations,
      wrBytes: b.stats.wr_bytes,
      flushOperations: b.stats.flush_operations,
    }));
  }

  /** Ask QEMU to exit now; the guest gets no chance to flush anything. */
  async quit(): Promise<void> {
    try {
      await this.execute('quit');
    } catch {
      // QEMU may close the socket before replying
    }
    this.close();
  }

  close(): void {
    this.#sock.destroy();
  }
}
