#!/usr/bin/env bash
# make demo: hibfuzz finds, shrinks, saves and explains a planted bug on the model, then runs shipped scenarios on a
# real Debian kernel in QEMU and prints the model's prediction next to what the kernel did.
set -euo pipefail
cd "$(dirname "$0")/.."
H=(node bin/hibfuzz.mjs)
out=${HIBFUZZ_DEMO_DIR:-out/demo}
rm -rf "$out"
mkdir -p "$out"
banner() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# exit 1 means "violation found": expected while a planted bug is swapped in
expect_finding() { "$@" || [ $? -eq 1 ]; }

banner "1/4 The planted bugs hibfuzz ships (each breaks one invariant; the properties prove they are caught)"
"${H[@]}" plants

banner "2/4 A 20 s campaign on the model with the planted bug 'restore-skips-last-pbe' swapped in"
expect_finding "${H[@]}" fuzz --plant restore-skips-last-pbe --budget 20s --seed 1 --corpus "$out/corpus"

banner "3/4 Replay the saved finding (deterministic), then explain it: $out/finding.svg (picture), $out/finding.html (page)"
finding=$(ls "$out"/corpus/ResumeRestoresIdenticalMemory-????????.json | head -n 1)
expect_finding "${H[@]}" replay "$finding" --plant restore-skips-last-pbe
expect_finding "${H[@]}" explain "$finding" --plant restore-skips-last-pbe --svg "$out/finding.svg" --html "$out/finding.html" >"$out/explain.txt"
sed -n '/^profile/,$p' "$out/explain.txt"

banner "4/4 Real kernel (Debian 6.1 under QEMU/TCG) next to the model: a clean cycle, then EIO at image write 100"
for s in clean-cycle io-error-at-write; do
  echo "-- vm/scenarios/$s.json (console: $out/$s.console.log)"
  "${H[@]}" vm run "vm/scenarios/$s.json" --kernel debian-6.1 2>"$out/$s.console.log"
done
banner "done: corpus in $out/corpus, picture in $out/finding.svg, page in $out/finding.html"
