// QEMU command line for one guest boot: a pure function of the boot's configuration.
//
// Fixed choices: x86-64 `-accel tcg` unless told otherwise (KVM hangs on the lab machines), no display, serial on
// stdio (the launcher captures it), -no-reboot so a reboot or triple fault ends the process, the swap disk as a
// virtio-blk drive (the guest sees /dev/vda).
//
// Two serial ports. ttyS0 (COM1, `-serial stdio`) is the kernel's console; ttyS1 (COM2) is the agent's channel: guest
// init.sh sends its stdout, hence every `HIBFUZZ {json}` event, there. printk writes to the console UART synchronously
// and interleaves with (and on a loaded TCG host drops characters of) whatever user space writes to the same port; on
// ttyS1 nothing else writes, so an event arrives whole. The host end is a socket pair QEMU gets as file descriptor
// AGENT_FD (`-chardev socket,fd=`), created and read by launchQemu: no path, no listener, nothing to clean up.
//
// Incoming migration (fast mode, vm/fast.ts): `incoming: { stateFile }` starts the guest from a saved VM state instead
// of booting. No shell is involved: the argv says `-incoming fd:3` and launchQemu (launch.ts) opens `stateFile` for
// reading and hands it to QEMU as file descriptor INCOMING_FD. The path itself never reaches QEMU's command line, so
// any character is fine in it.
import { InfraError } from '../errors.ts';

export const ACCELS = ['kvm', 'tcg'] as const;
export type Accel = (typeof ACCELS)[number];

export interface DiskConfig {
  readonly path: string;
  /** blkdebug rules file: the disk is opened through QEMU's blkdebug driver (error injection) */
  readonly blkdebugConfig?: string;
  /** serve the disk through this NBD unix socket instead (qemu/nbd.ts: page-exact write faults); wins over path */
  readonly nbdSocket?: string;
}

/** A VM state saved by vm/fast.ts saveSnapshot (QEMU's migration stream), restored through a file descriptor. */
export interface IncomingState {
  readonly stateFile: string;
}

/** 4 KiB pages in one MiB: QEMU's -m unit. */
const PAGES_PER_MIB = 256;
/**
 * Guest RAM of the pc machine stays one range below this (hw/i386/pc_piix.c: with 3.5 GiB or more, RAM is split
 * at 3 GiB around the PCI hole).
 */
export const PC_CONTIGUOUS_RAM_PAGES = 0xe0000000 / 4096;

/**
 * Why QEMU's pc machine cannot give a guest the model's memory of `pages` frames (`what` names the field), or
 * undefined: -m takes whole MiB (the guest would have RAM the model has not), and 3.5 GiB or more is split around
 * the PCI hole (the model's machine has no such hole).
 */
export function pcMemoryRefusal(what: string, pages: number): string | undefined {
  if (pages % PAGES_PER_MIB !== 0) return `${what} ${pages}: QEMU's -m takes whole MiB (a multiple of 256 pages)`;
  if (pages >= PC_CONTIGUOUS_RAM_PAGES)
    return `${what} ${pages}: from 3.5 GiB QEMU's pc machine splits RAM around the PCI hole, the model's machine does not`;
  return undefined;
}

/** The child's file descriptor that carries the incoming migration stream (stdio index 3 in launchQemu). */
export const INCOMING_FD = 3;
/** The child's file descriptor of the agent channel (ttyS1): one end of a socket pair (stdio index 4 in launchQemu). */
export const AGENT_FD = 4;

export interface QemuConfig {
  readonly binary?: string;
  readonly accel: Accel;
  readonly memMiB: number;
  readonly cpus: number;
  readonly kernel: string;
  readonly initrd: string;
  /** kernel command line words, in order */
  readonly append: readonly string[];
  readonly disk: DiskConfig;
  /** unix socket path for QMP (server, nowait) */
  readonly qmpSocket?: string;
  /** start from this saved VM state instead of booting (`-incoming fd:INCOMING_FD`; launchQemu opens the file) */
  readonly incoming?: IncomingState;
  /** start paused (-S) */
  readonly paused?: boolean;
}

export const DEFAULT_QEMU = 'qemu-system-x86_64';

/** Reject what QEMU would reject later with a worse message. Returns one line or undefined. */
export function checkQemuConfig(c: QemuConfig): string | undefined {
  if (!Number.isInteger(c.memMiB) || c.memMiB < 16) return `memMiB ${c.memMiB}: must be an integer >= 16`;
  if (!Number.isInteger(c.cpus) || c.cpus < 1 || c.cpus > 8) return `cpus ${c.cpus}: must be 1..8`;
  const paths: [string, string | undefined][] = [
    ['disk path', c.disk.path],
    ['blkdebug config path', c.disk.blkdebugConfig],
    ['NBD socket path', c.disk.nbdSocket],
    ['QMP socket path', c.qmpSocket],
  ];
  for (const [what, p] of paths) {
    if (p?.includes(',')) return `${what} ${p}: QEMU option values cannot contain ','`;
  }
  const bad = c.append.find((w) => /\s/.test(w) || w === '');
  if (bad !== undefined) return `kernel parameter ${JSON.stringify(bad)}: must be one non-empty word`;
  return undefined;
}

/** argv (without the binary) for one boot. Throws InfraError (a host problem) on a config checkQemuConfig rejects. */
export function buildQemuArgs(c: QemuConfig): string[] {
  const problem = checkQemuConfig(c);
  if (problem !== undefined) throw new InfraError(`QEMU arguments: ${problem}`);
  const drive =
    c.disk.nbdSocket !== undefined
      ? `if=virtio,format=raw,cache=unsafe,file.driver=nbd,file.server.type=unix,file.server.path=${c.disk.nbdSocket}`
      : c.disk.blkdebugConfig === undefined
        ? `file=${c.disk.path},if=virtio,format=raw,cache=unsafe`
        : `if=virtio,format=raw,cache=unsafe,file.driver=blkdebug,file.config=${c.disk.blkdebugConfig},file.image.filename=${c.disk.path}`;
  const args = [
    '-accel',
    c.accel,
    '-machine',
    'pc',
    '-m',
    String(c.memMiB),
    '-smp',
    String(c.cpus),
    '-nodefaults',
    '-display',
    'none',
    '-no-reboot',
    '-serial',
    'stdio',
    '-chardev',
    `socket,id=agent,fd=${AGENT_FD},server=off`,
    '-serial',
    'chardev:agent',
    '-kernel',
    c.kernel,
    '-initrd',
    c.initrd,
    '-append',
    c.append.join(' '),
    '-drive',
    drive,
  ];
  if (c.accel === 'kvm') args.push('-cpu', 'host');
  if (c.qmpSocket !== undefined) args.push('-qmp', `unix:${c.qmpSocket},server=on,wait=off`);
  if (c.incoming !== undefined) args.push('-incoming', `fd:${INCOMING_FD}`);
  if (c.paused === true) args.push('-S');
  return args;
}
