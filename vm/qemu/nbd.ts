// NBD server for the guest's swap disk (fixed newstyle, one client): exact, page-granular write faults.
// Kept instead of nbdkit: its error filter fails requests at a rate or while a trigger file exists, never "exactly the
// request holding page write n", and no filter stores writes 0..n-1 then stops answering (power loss) in write order.
//
// QEMU connects with `file.driver=nbd,file.server.type=unix`. Requests are served one at a time in arrival order.
// Once armed (when the agent says it is hibernating), every 4 KiB page written gets a write index 0, 1, 2, ... in
// submission order (pages of one request in ascending offset, which is the order the kernel queued its one-page
// bios). Faults:
//   ioErrorAtWrite n     the request holding write n fails with EIO and nothing of it is stored;
//   powerLossAfterWrite n  writes 0..n-1 are stored, nothing after; `onPowerLoss` fires (the host kills QEMU) and
//                        no further request is answered.
//   ioErrorAfterPage p   once a request stored page p (the swap header: the signature), the next write fails with
//                        EIO (swsusp then writes only the last swap map page).
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';

const NBDMAGIC = 0x4e42444d41474943n;
const IHAVEOPT = 0x49484156454f5054n;
const OPT_REPLY_MAGIC = 0x3e889045565a9n;
const REQUEST_MAGIC = 0x25609513;
const SIMPLE_REPLY_MAGIC = 0x67446698;
const FLAG_FIXED_NEWSTYLE = 1;
const FLAG_NO_ZEROES = 2;
const OPT_EXPORT_NAME = 1;
const OPT_ABORT = 2;
const OPT_GO = 7;
const REP_ACK = 1;
const REP_INFO = 3;
const REP_ERR_UNSUP = 0x80000001;
const INFO_EXPORT = 0;
const TFLAG_HAS_FLAGS = 1;
const TFLAG_SEND_FLUSH = 4;
const TFLAG_SEND_WRITE_ZEROES = 64;
const CMD_READ = 0;
const CMD_WRITE = 1;
const CMD_DISC = 2;
const CMD_FLUSH = 3;
const CMD_TRIM = 4;
const CMD_WRITE_ZEROES = 6;
const EIO = 5;
const EINVAL = 22;
const PAGE = 4096;

export interface NbdFaults {
  readonly ioErrorAtWrite?: number;
  readonly powerLossAfterWrite?: number;
  readonly ioErrorAfterPage?: number;
}

/** Pure: what happens to a request whose pages get write indices [first, first + pages). */
export type WriteDecision =
  | { readonly kind: 'store'; readonly pages: number }
  | { readonly kind: 'eio' }
  | { readonly kind: 'storePrefixThenLose'; readonly pages: number };

export function decideWrite(faults: NbdFaults, first: number, pages: number): WriteDecision {
  const e = faults.ioErrorAtWrite;
  if (e !== undefined && e >= first && e < first + pages) return { kind: 'eio' };
  const p = faults.powerLossAfterWrite;
  if (p !== undefined && first + pages >= p) return { kind: 'storePrefixThenLose', pages: Math.max(0, p - first) };
  return { kind: 'store', pages };
}

export interface NbdServer {
  readonly socketPath: string;
  /** start counting image writes */
  arm(): void;
  /** pages stored since arm() */
  readonly writesStored: () => number;
  /** power was cut by the fault */
  readonly powerLost: () => boolean;
  /** the scheduled fault hit: a write failed with EIO, or the power was cut (false: the writes never got there) */
  readonly faultFired: () => boolean;
  close(): Promise<void>;
}

export function startNbdServer(opts: {
  socketPath: string;
  diskPath: string;
  faults: NbdFaults;
  onPowerLoss?: () => void;
}): Promise<NbdServer> {
  const fd = openSync(opts.diskPath, 'r+');
  const size = BigInt(fstatSync(fd).size);
  let armed = false;
  let nextWrite = 0;
  let stored = 0;
  let lost = false;
  let fired = false;
  // ioErrorAfterPage: 'waiting' for the page, 'due' (next write fails), 'done'
  let afterPage: 'waiting' | 'due' | 'done' = opts.faults.ioErrorAfterPage === undefined ? 'done' : 'waiting';
  const sockets = new Set<Socket>();

  const handle = (sock: Socket) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf: Buffer = Buffer.alloc(0);
    let phase: 'clientFlags' | 'options' | 'transmission' = 'clientFlags';
    const greet = Buffer.alloc(18);
    greet.writeBigUInt64BE(NBDMAGIC, 0);
    greet.writeBigUInt64BE(IHAVEOPT, 8);
    greet.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
    sock.write(greet);
    const optReply = (opt: number, type: number, data: Buffer = Buffer.alloc(0)) => {
      const h = Buffer.alloc(20);
      h.writeBigUInt64BE(OPT_REPLY_MAGIC, 0);
      h.writeUInt32BE(opt, 8);
      h.writeUInt32BE(type, 12);
      h.writeUInt32BE(data.length, 16);
      sock.write(Buffer.concat([h, data]));
    };
    const tflags = TFLAG_HAS_FLAGS | TFLAG_SEND_FLUSH | TFLAG_SEND_WRITE_ZEROES;
    const reply = (handleBytes: Buffer, error: number, data?: Buffer) => {
      const h = Buffer.alloc(16);
      h.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
      h.writeUInt32BE(error, 4);
      handleBytes.copy(h, 8);
      sock.write(data === undefined ? h : Buffer.concat([h, data]));
    };
    const writeAt = (offset: number, data: Buffer): number => {
      if (lost) return 0;
      const firstPage = Math.floor(offset / PAGE);
      const pages = Math.ceil((offset + data.length) / PAGE) - firstPage;
      if (!armed) {
        writeSync(fd, data, 0, data.length, offset);
        return 0;
      }
      if (afterPage === 'due') {
        afterPage = 'done';
        nextWrite += pages;
        fired = true;
        return EIO;
      }
      const d = decideWrite(opts.faults, nextWrite, pages);
      nextWrite += pages;
      if (d.kind === 'eio') {
        fired = true;
        return EIO;
      }
      const hp = opts.faults.ioErrorAfterPage;
      if (afterPage === 'waiting' && hp !== undefined && hp >= firstPage && hp < firstPage + pages) afterPage = 'due';
      const n =
        d.kind === 'store' ? data.length : Math.max(0, Math.min(data.length, (firstPage + d.pages) * PAGE - offset));
      if (n > 0) writeSync(fd, data, 0, n, offset);
      stored += d.pages;
      if (d.kind === 'storePrefixThenLose') {
        lost = true;
        fired = true;
        opts.onPowerLoss?.();
      }
      return 0;
    };
    const step = (): boolean => {
      if (phase === 'clientFlags') {
        if (buf.length < 4) return false;
        buf = buf.subarray(4);
        phase = 'options';
        return true;
      }
      if (phase === 'options') {
        if (buf.length < 16) return false;
        const len = buf.readUInt32BE(12);
        if (buf.length < 16 + len) return false;
        const opt = buf.readUInt32BE(8);
        buf = buf.subarray(16 + len);
        if (opt === OPT_GO || opt === OPT_EXPORT_NAME) {
          if (opt === OPT_EXPORT_NAME) {
            const b = Buffer.alloc(10);
            b.writeBigUInt64BE(size, 0);
            b.writeUInt16BE(tflags, 8);
            sock.write(b);
          } else {
            const info = Buffer.alloc(12);
            info.writeUInt16BE(INFO_EXPORT, 0);
            info.writeBigUInt64BE(size, 2);
            info.writeUInt16BE(tflags, 10);
            optReply(opt, REP_INFO, info);
            optReply(opt, REP_ACK);
          }
          phase = 'transmission';
        } else if (opt === OPT_ABORT) {
          optReply(opt, REP_ACK);
          sock.end();
        } else {
          optReply(opt, REP_ERR_UNSUP);
        }
        return true;
      }
      if (buf.length < 28) return false;
      if (buf.readUInt32BE(0) !== REQUEST_MAGIC) {
        sock.destroy();
        return false;
      }
      const type = buf.readUInt16BE(6);
      const handleBytes = Buffer.from(buf.subarray(8, 16));
      const offset = Number(buf.readBigUInt64BE(16));
      const length = buf.readUInt32BE(24);
      const payload = type === CMD_WRITE ? length : 0;
      if (buf.length < 28 + payload) return false;
      const data = Buffer.from(buf.subarray(28, 28 + payload));
      buf = buf.subarray(28 + payload);
      if (lost) return true; // the power is off: nothing is stored or answered
      if (BigInt(offset) + BigInt(length) > size) {
        reply(handleBytes, EINVAL, type === CMD_READ ? Buffer.alloc(0) : undefined);
        return true;
      }
      if (type === CMD_READ) {
        const out = Buffer.alloc(length);
        readSync(fd, out, 0, length, offset);
        reply(handleBytes, 0, out);
      } else if (type === CMD_WRITE) {
        const err = writeAt(offset, data);
        if (!lost) reply(handleBytes, err);
      } else if (type === CMD_WRITE_ZEROES) {
        const err = writeAt(offset, Buffer.alloc(length));
        if (!lost) reply(handleBytes, err);
      } else if (type === CMD_FLUSH || type === CMD_TRIM) {
        reply(handleBytes, 0);
      } else if (type === CMD_DISC) {
        sock.end();
      } else {
        reply(handleBytes, EINVAL);
      }
      return true;
    };
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (step()) {
        // drain complete messages
      }
    });
  };

  const server: Server = createServer(handle);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => {
      resolve({
        socketPath: opts.socketPath,
        arm: () => {
          armed = true;
        },
        writesStored: () => stored,
        powerLost: () => lost,
        faultFired: () => fired,
        close: () =>
          new Promise<void>((res) => {
            for (const s of sockets) s.destroy();
            server.close(() => {
              closeSync(fd);
              res();
            });
          }),
      });
    });
  });
}
