// EveryPageSavedOnce: clean hibernations and aborts after the image is written.
import { invariantSuite } from '../harness.ts';

invariantSuite('EveryPageSavedOnce', ['none', 'abort', 'dma']);
