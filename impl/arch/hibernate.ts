// Mirrors arch/x86/power/hibernate.c: the architecture header of an image (arch_hibernation_header_save/_restore).
// The real one carries the e820 map's checksum; a resume on a machine whose map changed is refused ("Image mismatch:
// architecture specific data").
import { digestWords, type Scenario } from '../../spec/index.ts';

/** x86's e820 checksum in the arch header: here a digest of the nosave layout and the size. */
export function e820Checksum(memPages: number, e820: Scenario['machine']['e820'], changed = false): number {
  const words = [memPages, changed ? 1 : 0];
  for (const e of e820 ?? []) words.push(e.start, e.pages, e.type.length);
  return digestWords(words);
}
