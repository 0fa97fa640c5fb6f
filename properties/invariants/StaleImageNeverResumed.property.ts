// StaleImageNeverResumed: a read-write boot between hibernation and resume.
import { invariantSuite } from '../harness.ts';

invariantSuite('StaleImageNeverResumed', ['stale']);
