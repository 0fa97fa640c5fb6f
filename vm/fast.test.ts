// Fast-mode snapshots without QEMU: content keys, and the shell-free transports end to end (a fake QMP server that
// migrates like QEMU into our unix socket; a fake QEMU that reads the restored state from fd 3).
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { InfraError } from './errors.ts';
import { type SnapshotKeyParts, saveSnapshot, snapshotExists, snapshotKey, snapshotPaths } from './fast.ts';
import { launchQemu } from './qemu/launch.ts';
import { Qmp } from './qemu/qmp.ts';

const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-fast-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A cache directory no shell could take literally. */
const HOSTILE = join(dir, 'cache dir;touch PWNED-1;$(touch PWNED-2)>PWNED-3 `touch PWNED-4`');
const pwned = (): string[] =>
  [dir, HOSTILE, process.cwd()]
    .flatMap((d) => (existsSync(d) ? readdirSync(d) : []))
    .filter((n) => n.startsWith('PWNED'));

describe('snapshotKey', () => {
  const bz = join(dir, 'bzImage');
  const initrd = join(dir, 'initrd.gz');
  writeFileSync(bz, 'kernel build 1');
  writeFileSync(initrd, 'initramfs 1');
  const parts: SnapshotKeyParts = {
    role: 'first',
    bzImage: bz,
    initrd,
    memMiB: 512,
    cpus: 1,
    diskPages: 65536,
    append: ['console=ttyS0', 'hibfuzz.wait=1'],
    qemuVersion: 'QEMU emulator version 7.2.22 tcg',
  };

  it('changes when the kernel is rebuilt in place at the same path', () => {
    const before = snapshotKey(parts);
    expect(snapshotKey(parts)).toBe(before);
    writeFileSync(bz, 'kernel build 2');
    const after = snapshotKey(parts);
    expect(after).not.toBe(before);
    writeFileSync(initrd, 'initramfs 2');
    expect(snapshotKey(parts)).not.toBe(after);
  });

  it('covers QEMU, the accelerator and the machine', () => {
    const k = snapshotKey(parts);
    expect(snapshotKey({ ...parts, qemuVersion: 'QEMU emulator version 8.2.0 tcg' })).not.toBe(k);
    expect(snapshotKey({ ...parts, accel: 'kvm' })).not.toBe(k);
    expect(snapshotKey({ ...parts, memMiB: 256 })).not.toBe(k);
    expect(snapshotKey({ ...parts, cpus: 2 })).not.toBe(k);
    expect(snapshotKey({ ...parts, diskPages: 1 })).not.toBe(k);
    expect(snapshotKey({ ...parts, append: ['console=ttyS0'] })).not.toBe(k);
    expect(snapshotKey({ ...parts, role: 'resume' })).toMatch(/^resume-[0-9a-f]{16}$/);
  });

  it('names the file it cannot read', () => {
    expect(() => snapshotKey({ ...parts, bzImage: join(dir, 'gone') })).toThrow(InfraError);
    expect(() => snapshotKey({ ...parts, bzImage: join(dir, 'gone') })).toThrow(/bzImage .*gone/);
  });
});

/** Enough of QMP for saveSnapshot: greeting, replies, and `migrate` to a `unix:` URI that streams `payload`. */
function fakeQmp(
  socketPath: string,
  payload: Buffer,
  opts: { fail?: boolean } = {},
): Promise<Server & { commands: string[] }> {
  const commands: string[] = [];
  const server = createServer((sock) => {
    let status = 'none';
    let buf = '';
    sock.write('{"QMP": {"version": {}, "capabilities": []}}\n');
    sock.on('data', (c) => {
      buf += c.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const msg = JSON.parse(buf.slice(0, nl)) as { execute: string; arguments?: { uri?: string } };
        buf = buf.slice(nl + 1);
        commands.push(msg.execute);
        if (msg.execute === 'migrate') {
          const uri = msg.arguments?.uri ?? '';
          expect(uri).toMatch(/^unix:\//);
          status = 'active';
          const out = connect(uri.slice('unix:'.length), () => {
            if (opts.fail === true) {
              out.end(payload.subarray(0, 10), () => {
                status = 'failed';
              });
              return;
            }
            out.end(payload, () => {
              status = 'completed';
            });
          });
        }
        const ret = msg.execute === 'query-migrate' ? { status } : {};
        sock.write(`${JSON.stringify({ return: ret })}\n`);
      }
    });
  });
  return new Promise((resolve) => server.listen(socketPath, () => resolve(Object.assign(server, { commands }))));
}

describe('fast-mode transports: no shell, whatever HIBFUZZ_CACHE holds', () => {
  const payload = Buffer.concat([Buffer.from('QEVM'), Buffer.alloc(3 << 20, 0x5a)]);

  it('saves through a unix socket, restores through fd 3, executes nothing', async () => {
    // Arrange
    const paths = snapshotPaths(HOSTILE, 'first-0123456789abcdef');
    const qmpPath = join(dir, 'q1.sock');
    const server = await fakeQmp(qmpPath, payload);
    const qmp = await Qmp.connect(qmpPath);
    let diskCopied = false;
    // Act: save
    await saveSnapshot(qmp, paths, async () => {
      diskCopied = true;
    });
    qmp.close();
    server.close();
    // Assert: the state file holds the whole stream; nothing else remains
    expect(diskCopied).toBe(true);
    expect(snapshotExists(paths)).toBe(true);
    expect(readFileSync(paths.state).equals(payload)).toBe(true);
    expect(readdirSync(paths.dir)).toEqual(['state.bin']);
    const cmds = server.commands;
    expect(cmds.slice(0, 3)).toEqual(['qmp_capabilities', 'stop', 'migrate']);
    expect(cmds.slice(3, -1).every((c) => c === 'query-migrate')).toBe(true);
    expect(cmds.at(-1)).toBe('cont');

    // Act: restore with a fake QEMU that copies fd 3 to a file
    const fake = join(dir, 'fake-qemu');
    const copy = join(dir, 'restored.bin');
    writeFileSync(fake, `#!/bin/sh\ncase " $* " in *" -incoming fd:3 "*) cat <&3 > '${copy}' ;; esac\n`);
    chmodSync(fake, 0o755);
    const r = await launchQemu(
      {
        binary: fake,
        accel: 'tcg',
        memMiB: 64,
        cpus: 1,
        kernel: '/k',
        initrd: '/i',
        append: ['x'],
        disk: { path: '/d' },
        incoming: { stateFile: paths.state },
      },
      { logPath: join(dir, 'restore.log'), timeoutMs: 20_000 },
    ).done;
    // Assert
    expect(r.exit).toEqual({ kind: 'exited', code: 0 });
    expect(readFileSync(copy).equals(payload)).toBe(true);
    expect(pwned()).toEqual([]);
  });

  it('keeps no state file when the migration fails', async () => {
    const paths = snapshotPaths(HOSTILE, 'first-failing');
    const qmpPath = join(dir, 'q2.sock');
    const server = await fakeQmp(qmpPath, payload, { fail: true });
    const qmp = await Qmp.connect(qmpPath);
    await expect(saveSnapshot(qmp, paths)).rejects.toThrow(/migration to the snapshot file failed/);
    qmp.close();
    server.close();
    await sleep(10);
    expect(existsSync(paths.state)).toBe(false);
    mkdirSync(paths.dir, { recursive: true });
    expect(readdirSync(paths.dir)).toEqual([]);
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith('hibfuzz-mig-'))).toEqual([]);
    expect(pwned()).toEqual([]);
  });
});
