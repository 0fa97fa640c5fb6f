// A swap file's extents (file page -> disk page runs, as FIEMAP reports them) and the image pages outside them. Pure.
import type { SwsuspImage } from './parse.ts';

export interface Extent {
  /** first file page of the run */
  readonly logical: number;
  /** its disk page */
  readonly physical: number;
  readonly pages: number;
}

/** "l:p:n,l:p:n" (agent.c emit_extents) -> extents; undefined when any part is not three integers. */
export function parseExtents(text: string): Extent[] | undefined {
  if (text === '') return [];
  const out: Extent[] = [];
  for (const part of text.split(',')) {
    const m = /^(\d+):(\d+):(\d+)$/.exec(part);
    if (m === null) return undefined;
    out.push({ logical: Number(m[1]), physical: Number(m[2]), pages: Number(m[3]) });
  }
  return out;
}

/** Whether a disk page is one of the file's pages. */
export function inExtents(extents: readonly Extent[], page: number): boolean {
  return extents.some((e) => page >= e.physical && page < e.physical + e.pages);
}

/**
 * Disk pages the image occupies (swap map chain and every stored stream page) that are not pages of the swap file
 * after its header: a kernel that put any there wrote over the filesystem (or over the swap header).
 */
export function imagePagesOutside(image: SwsuspImage, extents: readonly Extent[], header: number): number[] {
  const slots = [...image.mapPages, ...image.chunks.flatMap((c) => c.devicePages)];
  return slots.filter((p) => p === header || !inExtents(extents, p));
}
