// CorruptImageNeverResumed: a bit flipped at rest in data, meta, header or map pages.
import { invariantSuite } from '../harness.ts';

invariantSuite('CorruptImageNeverResumed', ['corrupt']);
