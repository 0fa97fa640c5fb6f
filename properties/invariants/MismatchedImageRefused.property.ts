// MismatchedImageRefused: resume with another memory size, memory map or kernel line.
import { invariantSuite } from '../harness.ts';

invariantSuite('MismatchedImageRefused', ['mismatch']);
