// Branded integer types for the quantities the kernel keeps apart (pfn vs. sector/page index on storage).

/** A page frame number: index of a 4 KiB frame of physical memory. */
export type Pfn = number & { readonly __brand: 'Pfn' };
/** A page index on the storage device (the kernel's swap `sector_t`, which counts pages, not 512-byte sectors). */
export type Sector = number & { readonly __brand: 'Sector' };

export const asPfn = (n: number): Pfn => n as Pfn;
export const asSector = (n: number): Sector => n as Sector;

/** PAGE_SIZE of every profile we model (x86-64). */
export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;
/** Kernel's PAGES_FOR_IO (kernel/power/power.h): 4 MiB kept free for I/O while hibernating; impl/ and the real-kernel
 * prediction (vm/) use this one value. */
export const PAGES_FOR_IO = 1024;
