// SwapSlotsFreedOnError: write errors at every position.
import { invariantSuite } from '../harness.ts';

invariantSuite('SwapSlotsFreedOnError', ['eio', 'powerLoss']);
