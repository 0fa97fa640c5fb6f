// A variant of the resume side: the loader checks only that the image was made on a machine with as much memory
// ("memory size"), not the memory map (x86's arch header: the e820 checksum). The 2007 proposal says the resume
// kernel must refuse an image "from another machine" without saying how; a researcher may ask whether the size alone
// is enough. MismatchedImageRefused answers: a machine whose e820 map changed at the same size resumes the image.
//
//   hibfuzz fuzz --parts examples/variants/size-only-header-check.ts --runs 2000 --seed 1
import type { Variant } from '../../index.ts';

export const sizeOnlyHeaderCheck: Variant = {
  name: 'size-only-header-check',
  description: 'resume checks the memory size only, not the memory map',
  parts: {
    checkHeader: (info, boot) => (info.numPhyspages !== boot.ramPages ? 'memorySizeMismatch' : undefined),
  },
};
