// ImageCommittedAtomically: power lost after write k, for k near the first, last and signature writes.
import { invariantSuite } from '../harness.ts';

invariantSuite('ImageCommittedAtomically', ['powerLoss', 'eio', 'eioAfterSignature', 'none', 'abort']);
