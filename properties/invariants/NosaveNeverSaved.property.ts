// NosaveNeverSaved: machines with reserved, ACPI and NVS holes.
import { invariantSuite } from '../harness.ts';

invariantSuite('NosaveNeverSaved', ['none', 'twice']);
