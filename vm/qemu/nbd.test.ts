import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decideWrite, type NbdFaults, startNbdServer } from './nbd.ts';

describe('decideWrite', () => {
  it('stores requests before any fault', () => {
    expect(decideWrite({}, 0, 8)).toEqual({ kind: 'store', pages: 8 });
    expect(decideWrite({ ioErrorAtWrite: 8 }, 0, 8)).toEqual({ kind: 'store', pages: 8 });
  });

  it('fails the whole request holding the faulty write', () => {
    expect(decideWrite({ ioErrorAtWrite: 8 }, 5, 4)).toEqual({ kind: 'eio' });
    expect(decideWrite({ ioErrorAtWrite: 5 }, 5, 1)).toEqual({ kind: 'eio' });
  });

  it('stores only the writes before the power cut', () => {
    expect(decideWrite({ powerLossAfterWrite: 10 }, 8, 4)).toEqual({ kind: 'storePrefixThenLose', pages: 2 });
    expect(decideWrite({ powerLossAfterWrite: 10 }, 6, 4)).toEqual({ kind: 'storePrefixThenLose', pages: 4 });
    expect(decideWrite({ powerLossAfterWrite: 0 }, 0, 1)).toEqual({ kind: 'storePrefixThenLose', pages: 0 });
    expect(decideWrite({ powerLossAfterWrite: 10 }, 0, 9)).toEqual({ kind: 'store', pages: 9 });
  });
});

/** Minimal NBD client: fixed newstyle handshake with NBD_OPT_GO, then raw requests. */
async function client(path: string) {
  const sock = createConnection(path);
  let buf = Buffer.alloc(0);
  const waiters: (() => void)[] = [];
  sock.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    for (const w of waiters.splice(0)) w();
  });
  const need = async (n: number): Promise<Buffer> => {
    while (buf.length < n) await new Promise<void>((r) => waiters.push(r));
    const out = buf.subarray(0, n);
    buf = buf.subarray(n);
    return out;
  };
  await need(18);
  sock.write(Buffer.from([0, 0, 0, 3]));
  const opt = Buffer.alloc(16 + 6);
  opt.writeBigUInt64BE(0x49484156454f5054n, 0);
  opt.writeUInt32BE(7, 8);
  opt.writeUInt32BE(6, 12);
  sock.write(opt);
  const info = await need(20 + 12);
  const size = info.readBigUInt64BE(22);
  await need(20); // ACK
  let handle = 0n;
  const request = async (type: number, offset: number, length: number, data?: Buffer) => {
    const r = Buffer.alloc(28);
    r.writeUInt32BE(0x25609513, 0);
    r.writeUInt16BE(type, 6);
    r.writeBigUInt64BE(++handle, 8);
    r.writeBigUInt64BE(BigInt(offset), 16);
    r.writeUInt32BE(length, 24);
    sock.write(data === undefined ? r : Buffer.concat([r, data]));
    const rep = await need(16);
    const err = rep.readUInt32BE(4);
    const payload = type === 0 && err === 0 ? await need(length) : Buffer.alloc(0);
    return { err, payload };
  };
  return { size, request, close: () => sock.destroy() };
}

describe('startNbdServer', () => {
  it('serves reads and writes and applies a power cut after N armed page writes', async () => {
    // Arrange
    const dir = mkdtempSync(join(tmpdir(), 'nbd-test-'));
    const disk = join(dir, 'disk.img');
    writeFileSync(disk, Buffer.alloc(16 * 4096));
    let cut = false;
    const srv = await startNbdServer({
      socketPath: join(dir, 'nbd.sock'),
      diskPath: disk,
      faults: { powerLossAfterWrite: 3 },
      onPowerLoss: () => {
        cut = true;
      },
    });
    const c = await client(srv.socketPath);
    // Act
    const pre = await c.request(1, 0, 4096, Buffer.alloc(4096, 1)); // not armed: stored, not counted
    srv.arm();
    const w1 = await c.request(1, 4096, 2 * 4096, Buffer.alloc(2 * 4096, 2)); // writes 0, 1
    const read = await c.request(0, 4096, 4);
    void c.request(1, 3 * 4096, 2 * 4096, Buffer.alloc(2 * 4096, 3)); // writes 2, 3: only 2 stored, never answered
    await new Promise((r) => setTimeout(r, 50));
    c.close();
    await srv.close();
    // Assert
    expect(c.size).toBe(BigInt(16 * 4096));
    expect([pre.err, w1.err]).toEqual([0, 0]);
    expect([...read.payload]).toEqual([2, 2, 2, 2]);
    expect(cut).toBe(true);
    expect(srv.faultFired()).toBe(true);
    expect(srv.writesStored()).toBe(3);
    const d = readFileSync(disk);
    expect(d[0]).toBe(1);
    expect(d[3 * 4096]).toBe(3);
    expect(d[4 * 4096]).toBe(0);
  });

  /** An 8-page disk served with `faults`, armed, and a connected client. */
  const served = async (faults: NbdFaults) => {
    const dir = mkdtempSync(join(tmpdir(), 'nbd-test-'));
    const disk = join(dir, 'disk.img');
    writeFileSync(disk, Buffer.alloc(8 * 4096));
    const srv = await startNbdServer({ socketPath: join(dir, 'nbd.sock'), diskPath: disk, faults });
    const c = await client(srv.socketPath);
    srv.arm();
    return { disk, srv, c };
  };

  it('answers EIO for the faulty write and stores nothing of that request', async () => {
    const { disk, srv, c } = await served({ ioErrorAtWrite: 1 });
    const ok = await c.request(1, 0, 4096, Buffer.alloc(4096, 7));
    const before = srv.faultFired();
    const bad = await c.request(1, 4096, 2 * 4096, Buffer.alloc(2 * 4096, 8));
    c.close();
    await srv.close();
    expect([ok.err, bad.err]).toEqual([0, 5]);
    expect([before, srv.faultFired()]).toEqual([false, true]);
    const d = readFileSync(disk);
    expect([d[0], d[4096], d[2 * 4096]]).toEqual([7, 0, 0]);
  });

  it('reports a fault that never fired: the image ended before write n', async () => {
    const { srv, c } = await served({ ioErrorAtWrite: 5 });
    const w = await c.request(1, 0, 2 * 4096, Buffer.alloc(2 * 4096, 7));
    c.close();
    await srv.close();
    expect(w.err).toBe(0);
    expect(srv.faultFired()).toBe(false);
  });
});

describe('ioErrorAfterPage (EIO after the signature)', () => {
  it('fails exactly the first write after the header page is stored, once', async () => {
    // Arrange: a 16-page disk served with the fault armed on page 0 (the swap header).
    const { mkdtempSync, writeFileSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'nbd-after-'));
    const disk = join(dir, 'disk');
    writeFileSync(disk, Buffer.alloc(16 * 4096));
    const server = await startNbdServer({
      socketPath: join(dir, 's'),
      diskPath: disk,
      faults: { ioErrorAfterPage: 0 },
    });
    server.arm();
    const results: number[] = [];
    const { connect } = await import('node:net');
    const sock = connect(server.socketPath);
    // Minimal NBD client: fixed newstyle, NBD_OPT_EXPORT_NAME, then three one-page writes: page 5, page 0, page 7.
    const chunks: Buffer[] = [];
    sock.on('data', (d) => chunks.push(d));
    const waitFor = async (n: number) => {
      for (let t = 0; t < 200 && Buffer.concat(chunks).length < n; t++) await new Promise((r) => setTimeout(r, 5));
    };
    await waitFor(18);
    sock.write(Buffer.from([0, 0, 0, 3])); // client flags: fixed newstyle + no zeroes
    const opt = Buffer.alloc(16);
    opt.writeBigUInt64BE(0x49484156454f5054n, 0);
    opt.writeUInt32BE(1, 8); // NBD_OPT_EXPORT_NAME
    opt.writeUInt32BE(0, 12);
    sock.write(opt);
    await waitFor(18 + 10);
    let seen = 18 + 10;
    for (const [i, page] of [5, 0, 7, 9].entries()) {
      const req = Buffer.alloc(28);
      req.writeUInt32BE(0x25609513, 0);
      req.writeUInt16BE(0, 4);
      req.writeUInt16BE(1, 6); // NBD_CMD_WRITE
      req.writeBigUInt64BE(BigInt(i), 8);
      req.writeBigUInt64BE(BigInt(page * 4096), 16);
      req.writeUInt32BE(4096, 24);
      sock.write(Buffer.concat([req, Buffer.alloc(4096, 0xab)]));
      await waitFor(seen + 16);
      results.push(Buffer.concat(chunks).readUInt32BE(seen + 4));
      seen += 16;
    }
    sock.destroy();
    await server.close();
    // Assert: page 5 and page 0 stored; the write after page 0 (page 7) fails with EIO; page 9 is stored again.
    expect(results).toEqual([0, 0, 5, 0]);
    expect(server.faultFired()).toBe(true);
    const d = readFileSync(disk);
    expect(d[7 * 4096]).toBe(0);
    expect(d[9 * 4096]).toBe(0xab);
  });
});
