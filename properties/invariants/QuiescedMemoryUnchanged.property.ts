// QuiescedMemoryUnchanged: devices stopped while the image is made and written.
import { invariantSuite } from '../harness.ts';

invariantSuite('QuiescedMemoryUnchanged', ['none', 'abort']);
