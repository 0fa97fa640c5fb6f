// The test results the report tests format (KTAP, JUnit): three claims, one failing with `failure`, one never
// exercised. One fixture for every report format, each test choosing the failure text it needs.
import type { TestFailure, TestResult } from '../results.ts';

export const FAILURE: TestFailure = {
  file: 'corpus/EveryPageSavedOnce-1234abcd.json',
  count: 7,
  lines: ['EveryPageSavedOnce at step 1: 1 saveable pages missing', 'expected: <all> & "more"', 'actual: 0x0'],
};

export const sampleResults = (failure: TestFailure = FAILURE): TestResult[] => [
  { target: 'model', name: 'AbortCopiesNothing', exercised: 12, runs: 100, failures: [] },
  { target: 'model', name: 'EveryPageSavedOnce', exercised: 80, runs: 100, failures: [failure] },
  { target: 'model', name: 'NosaveNeverSaved', exercised: 0, runs: 100, failures: [] },
];
