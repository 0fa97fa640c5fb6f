// ResumeRestoresIdenticalMemory: workload writes, hibernation and resume.
import { invariantSuite } from '../harness.ts';

invariantSuite('ResumeRestoresIdenticalMemory', ['none', 'twice', 'abort']);
