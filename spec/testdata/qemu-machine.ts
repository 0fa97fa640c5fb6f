// The machine a Debian 6.1 and 6.12 guest printed at 512 MiB in QEMU (pc, SeaBIOS): RAM [0, 0x9f) and
// [0x100, 0x1ffdd), registered nosave [0, 1) (the BIOS page) and [0x9f, 0x100) (EBDA and the legacy hole).
import type { MachineObservation } from '../machine.ts';

export const QEMU_PC_512M: MachineObservation = {
  ram: [
    { start: 0, end: 0x9f },
    { start: 0x100, end: 0x1ffdd },
  ],
  nosave: [
    { start: 0, end: 1 },
    { start: 0x9f, end: 0x100 },
  ],
};
