// The guest's machine from its console: the `BIOS-e820: [mem 0xS-0xE] TYPE` lines the first kernel prints
// (arch/x86/kernel/e820.c e820__print_table) and the ranges it registers nosave (kernel/power/snapshot.c
// register_nosave_region: `PM: hibernation: Registered nosave memory: [mem 0xS-0xE]`). The serial console can drop
// characters under load ("...1ffdcfff]sable"), so a map is taken only when every line of it parses: a torn map is
// unknown, never a smaller RAM (that would make saved pages look nosave) nor a guess.
import { type MachineObservation, type PfnRange, saveableRanges } from '../../spec/machine.ts';

export type { MachineObservation, PfnRange } from '../../spec/machine.ts';

const PAGE_SIZE = 4096;
const ENTRY =
  /BIOS-e820: \[mem 0x([0-9a-f]{16})-0x([0-9a-f]{16})\] (usable|reserved|ACPI data|ACPI NVS|unusable|persistent \(type \d+\)|type \d+|soft reserved)\s*$/;

/**
 * RAM (the `usable` entries, whole pages only: a partial page at either end is not RAM, as
 * e820__register_nosave_regions rounds) of the first map in `log`; undefined when there is none or a line of it is
 * torn. The first map ends at the first line after it that is not an e820 line (a later kernel prints its own).
 */
export function parseE820Ram(log: string): PfnRange[] | undefined {
  const lines = log.split('\n');
  const first = lines.findIndex((l) => l.includes('BIOS-e820:'));
  if (first < 0) return undefined;
  const out: PfnRange[] = [];
  for (let i = first; i < lines.length; i++) {
    const l = (lines[i] ?? '').replace(/\r$/, '');
    if (!l.includes('BIOS-e820')) break;
    const m = ENTRY.exec(l);
    if (m === null) return undefined;
    if (m[3] !== 'usable') continue;
    const start = Math.ceil(Number.parseInt(m[1] ?? '', 16) / PAGE_SIZE);
    const end = Math.floor((Number.parseInt(m[2] ?? '', 16) + 1) / PAGE_SIZE);
    if (end > start) out.push({ start, end });
  }
  return out.length > 0 ? out : undefined;
}

const NOSAVE_MARK = 'Registered nosave memory:';
const NOSAVE = /Registered nosave memory: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]\s*$/;
const BANNER = 'Linux version ';

/** The first kernel's part of a console: up to the banner of the next kernel (kexec jump, a reboot). */
function firstKernel(log: string): string {
  const first = log.indexOf(BANNER);
  const next = first < 0 ? -1 : log.indexOf(BANNER, first + BANNER.length);
  return next < 0 ? log : log.slice(0, next);
}

/**
 * The PFN ranges the first kernel registered nosave (start rounded down, end up, as register_nosave_region does);
 * undefined when it printed none (a hibernation kernel always registers some on x86) or a line of them is torn.
 */
export function parseNosaveRanges(log: string): PfnRange[] | undefined {
  const out: PfnRange[] = [];
  for (const raw of firstKernel(log).split('\n')) {
    if (!raw.includes(NOSAVE_MARK)) continue;
    const m = NOSAVE.exec(raw.replace(/\r$/, ''));
    if (m === null) return undefined;
    const start = Math.floor(Number.parseInt(m[1] ?? '', 16) / PAGE_SIZE);
    const end = Math.ceil((Number.parseInt(m[2] ?? '', 16) + 1) / PAGE_SIZE);
    out.push({ start, end });
  }
  return out.length > 0 ? out : undefined;
}

/** The first kernel's machine (its RAM and nosave ranges); undefined when either is missing or torn. */
export function parseMachine(log: string): MachineObservation | undefined {
  const first = firstKernel(log);
  const ram = parseE820Ram(first);
  const nosave = parseNosaveRanges(first);
  return ram === undefined || nosave === undefined ? undefined : { ram, nosave };
}

const PHYSPAGES = /\] Memory: \d+K\/(\d+)K available \(\d+K kernel code, .* \d+K reserved, \d+K cma-reserved\)\s*$/;
/** What the kernel trims off the firmware's RAM before it counts (page 0, trim_bios_range); a wider gap is a tear. */
const PHYSPAGES_TRIM = 256;

/**
 * The first kernel's get_num_physpages(), from its boot line `Memory: <free>K/<physpages>K available (...)`
 * (mm/mm_init.c mem_init_print_info). Undefined when the line or the RAM map is missing or torn: a dropped digit
 * still parses, so a count outside [RAM - 256, RAM] of the same console's e820 map is taken as torn, not observed.
 */
export function parsePhyspages(log: string): number | undefined {
  const first = firstKernel(log);
  const ram = parseE820Ram(first);
  const line = first.split('\n').find((l) => l.includes('] Memory: '));
  const m = line === undefined ? null : PHYSPAGES.exec(line.replace(/\r$/, ''));
  if (ram === undefined || m === null) return undefined;
  const pages = Number(m[1]) / 4;
  const total = ram.reduce((n, r) => n + r.end - r.start, 0);
  return Number.isInteger(pages) && pages <= total && pages >= total - PHYSPAGES_TRIM ? pages : undefined;
}

/**
 * The first kernel's saveable frames: its RAM minus the ranges it registered nosave, or its RAM alone when only the
 * nosave lines tore; undefined when its map tore (then no PFN is judged nosave).
 */
export function parseSaveable(log: string): PfnRange[] | undefined {
  const m = parseMachine(log);
  return m === undefined ? parseE820Ram(log) : saveableRanges(m);
}
