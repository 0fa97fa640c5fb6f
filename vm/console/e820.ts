// The guest's firmware memory map from its console: the `BIOS-e820: [mem 0xS-0xE] TYPE` lines the first kernel
// prints (arch/x86/kernel/e820.c e820__print_table). The serial console can drop characters under load
// ("...1ffdcfff]sable"), so a map is taken only when every line of its block parses: a torn map is unknown, never a
// smaller RAM (that would make saved pages look nosave) nor a guess.

/** A half-open PFN range [start, end). */
export interface PfnRange {
  readonly start: number;
  readonly end: number;
}

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
