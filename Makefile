# hibfuzz: `make demo` (the main job) and `make test` (all tests) on a fresh Debian machine as root.
# Both bootstrap what they need: npm packages (npm ci) and the Debian packages of the VM runner and kjump build.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export HIBFUZZ_CACHE ?= $(HOME)/.cache/hibfuzz
NPX := npx --no-install
HIBFUZZ := node bin/hibfuzz.mjs

.PHONY: setup setup-npm setup-vm test check unit properties test-smoke test-gate test-vm demo bench clean mutation

setup: setup-npm setup-vm

setup-npm: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

setup-vm:
	bash vm/setup.sh
	bash vm/kjump/setup-build.sh

# Static checks: types, lint/format, the committed JSON Schema matches the zod schema.
check: setup-npm
	$(NPX) tsc --noEmit -p .
	$(NPX) biome check .
	$(NPX) tsx scripts/emit-json-schema.ts --check

unit: setup-npm
	$(NPX) vitest run --project unit

properties: setup-npm
	$(NPX) vitest run --project properties

# Real kernels in QEMU: the gate on the benign and the breaking example patch (two scenarios: exit 0, exit 1), then
# one clean cycle and one fault on Debian 6.1, one kjump save+abort, and the FUSE thesis pair (fuzz/thesis.vmtest.ts).
# The gate goes first: it builds the 6.12 kernel (gate configuration) in its slot, where each candidate is an
# incremental build; kjump-6.12 is that same build.
# Test results also go to out/results-*.json (vitest JSON), which .ci/run sums into one closing line.
REPORT = --reporter=default --reporter=json --outputFile.json=out/results-$(1).json

test-smoke: setup
	HIBFUZZ_VM=1 HIBFUZZ_VM_SUITE=gate-smoke $(NPX) vitest run --project vm $(call REPORT,gate-smoke)
	HIBFUZZ_VM=1 HIBFUZZ_VM_SUITE=smoke $(NPX) vitest run --project vm $(call REPORT,smoke)

test: setup check
	rm -f out/results-*.json
	$(NPX) vitest run --project unit --project properties $(call REPORT,unit)
	$(MAKE) --no-print-directory test-smoke

# The gate end to end (fuzz/gate.vmtest.ts): builds the base and candidate gate kernels from Debian's 6.12 source
# (cached by content), then the benign example patch must exit 0 and the breaking one exit 1 naming the invariant.
test-gate: setup
	HIBFUZZ_VM=1 HIBFUZZ_VM_SUITE=gate $(NPX) vitest run --project vm $(call REPORT,gate)

# The full real-kernel suite: every fault kind, both kernel lines (long: tens of minutes under TCG).
test-vm: setup
	HIBFUZZ_VM=1 HIBFUZZ_VM_SUITE=full $(NPX) vitest run --project vm

demo: setup
	bash scripts/demo.sh

bench: setup-npm
	$(HIBFUZZ) bench

# Mutation testing (docs/mutation.md): Stryker over impl/ and spec/model/, a mutant killed only by a judging property
# (vitest.mutation.config.ts). Not part of make test: it takes long. FILES narrows it (make mutation
# FILES=impl/power/swap.ts); out/mutation/ keeps the report and the incremental file that makes a rerun cheap.
mutation: setup-npm
	FILES='$(FILES)' nice -n 15 $(NPX) stryker run

clean:
	rm -rf corpus out
