// RestoreNeverClobbers: loader footprints overlapping many image frames.
import { invariantSuite } from '../harness.ts';

invariantSuite('RestoreNeverClobbers', ['none', 'twice', 'mismatch']);
