// ImageResumedAtMostOnce: resume attempted twice.
import { invariantSuite } from '../harness.ts';

invariantSuite('ImageResumedAtMostOnce', ['twice', 'none']);
