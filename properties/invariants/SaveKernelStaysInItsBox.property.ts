// SaveKernelStaysInItsBox: save kernel regions of every reservation mode.
import { invariantSuite } from '../harness.ts';

invariantSuite('SaveKernelStaysInItsBox', ['none', 'abort', 'eio']);
