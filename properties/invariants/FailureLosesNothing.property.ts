// FailureLosesNothing: EIO at write k, storage too small, memory too full.
import { invariantSuite } from '../harness.ts';

invariantSuite('FailureLosesNothing', ['eio', 'powerLoss', 'none']);
