// AbortCopiesNothing: aborts at every phase: zero copies, memory unchanged.
import { invariantSuite } from '../harness.ts';

invariantSuite('AbortCopiesNothing', ['abort']);
