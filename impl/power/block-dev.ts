// The storage port: page writes with the scenario's fault schedule (EIO at write k, power loss after write k).
// Mirrors kernel/power/swap.c: hib_submit_io(), the only place that touches the device.
import { type BlockDevice, fail, type KResult, ok, SLOT as SLOT_ } from '../../spec/index.ts';

// Local copies: imported bindings are getters under tsx/vitest transforms, and hot loops read these.
const SLOT = SLOT_;

export interface Bio {
  readonly dev: BlockDevice;
  /** writes issued so far in this hibernation */
  writes: number;
  readonly powerLossAfterWrite: number | undefined;
  readonly ioErrorAtWrite: number | undefined;
  /** EIO for the first write after the header page was signed (then disarmed) */
  ioErrorAfterSignature: boolean;
  /** the header page has been written in this hibernation */
  signed: boolean;
  /** 1-based index of the write that signed the header (0: not signed) */
  signedAt: number;
  /** power was lost: no write after that reaches the device */
  powerLost: boolean;
  /** the scheduled fault hit a write (FaultState 'fired') */
  fired: boolean;
  /** 1-based index of the first write the fault hit (0: not fired) */
  firedAt: number;
}

export function bioFor(
  dev: BlockDevice,
  faults: {
    powerLossAfterWrite?: number | undefined;
    ioErrorAtWrite?: number | undefined;
    ioErrorAfterSignature?: boolean | undefined;
  } = {},
): Bio {
  return {
    dev,
    writes: 0,
    powerLossAfterWrite: faults.powerLossAfterWrite,
    ioErrorAtWrite: faults.ioErrorAtWrite,
    ioErrorAfterSignature: faults.ioErrorAfterSignature === true,
    signed: false,
    signedAt: 0,
    powerLost: false,
    fired: false,
    firedAt: 0,
  };
}

/** What the next write meets: the fault order, defined once (hibSubmitIo and saveImage's fast path ask it). */
export type WriteFault = 'none' | 'powerLoss' | 'eio' | 'eioAfterSignature';

/**
 * The fault due at the next write. Order: a power loss after k durable writes stops everything (the k+1-th write
 * is lost, and every write after it); an EIO at write k fails that write only; then the first write after the
 * header was signed, when ioErrorAfterSignature is armed.
 */
export function nextWriteFault(bio: Bio): WriteFault {
  if (bio.powerLost || (bio.powerLossAfterWrite !== undefined && bio.writes >= bio.powerLossAfterWrite))
    return 'powerLoss';
  if (bio.writes === bio.ioErrorAtWrite) return 'eio';
  if (bio.signed && bio.ioErrorAfterSignature) return 'eioAfterSignature';
  return 'none';
}

/** Submit one page write; `apply` changes the device only if the write is durable. */
export function hibSubmitIo(bio: Bio, apply: (dev: BlockDevice) => void): KResult<void> {
  const f = nextWriteFault(bio);
  if (f !== 'none') {
    if (!bio.fired) bio.firedAt = bio.writes + 1;
    bio.fired = true;
    if (f === 'powerLoss') {
      bio.powerLost = true;
      return fail('EIO');
    }
    bio.writes++; // the failed write was issued
    if (f === 'eioAfterSignature') bio.ioErrorAfterSignature = false;
    return fail('EIO');
  }
  bio.writes++;
  apply(bio.dev);
  return ok(undefined);
}

/** Write a data page holding `token` at page index `at`. */
export function writeDataPage(bio: Bio, at: number, token: number): KResult<void> {
  return hibSubmitIo(bio, (d) => {
    d.tok[at] = token;
    d.slot[at] = SLOT.DATA;
  });
}
