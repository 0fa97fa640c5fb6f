// Generator of the fake QEMU's consoles: trims the boot logs of a real run to what the fake replays.
//
//   HIBFUZZ_VM_FAST=0 node bin/hibfuzz.mjs vm run vm/scenarios/clean-cycle.json --kernel debian-6.1 --quiet \
//     --work-dir /tmp/rec
//   npx tsx fuzz/testdata/fake-qemu/make-consoles.ts /tmp/rec/1-vm-clean-cycle 6.1
//
// Kept: the kernel's banner, command line and firmware memory map (the fake rewrites the command line and the e820
// lines for the boot it fakes), and everything from `Run /init` on: the agent's events (the fake re-emits each one
// with the values of the scenario it runs) and the kernel's hibernation and resume messages, verbatim.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const KEEP_EARLY = /Linux version|Command line:|BIOS-e820:|Kernel command line:|ACPI: PM:|Registered nosave memory/;

export function trimConsole(log: string): string {
  const lines = log.split('\n');
  const init = lines.findIndex((l) => l.includes('Run /init as init process'));
  if (init < 0) throw new Error('no "Run /init" line: not a boot log of the guest');
  const early = lines.slice(0, init).filter((l) => KEEP_EARLY.test(l));
  return `${[...early, ...lines.slice(init)].join('\n').trimEnd()}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dir, line] = process.argv.slice(2);
  if (dir === undefined || line === undefined) {
    console.error('usage: make-consoles.ts RUN_DIR 6.1|6.12');
    process.exit(2);
  }
  const out = new URL('./consoles/', import.meta.url).pathname;
  for (const [role, file] of [
    ['first', 'boot-1-first.log'],
    ['resume', 'boot-2-resume.log'],
  ] as const) {
    writeFileSync(join(out, `${role}-${line}.log`), trimConsole(readFileSync(join(dir, file), 'latin1')));
  }
}
