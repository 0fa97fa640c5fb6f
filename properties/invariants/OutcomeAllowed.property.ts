// OutcomeAllowed: every step ends as the abstract protocol (spec/protocol/abstract.ts) predicts, over the full
// scenario arbitrary with every fault kind: ENOMEM and ENOSPC exactly at their limits, faults that fire, valid
// images that resume intact. Every plant's witness (with the stock parts) runs first: the edges random draws meet
// rarely.

import { FAULT_KINDS } from '../arbitraries/scenario.ts';
import { invariantSuite } from '../harness.ts';

invariantSuite('OutcomeAllowed', FAULT_KINDS, { edges: true });
