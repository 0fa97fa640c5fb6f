#!/bin/sh
# One shard of a hibfuzz campaign, and the merge of all shards, for CI engines that start N copies of a job
# (github-actions-sharded.yml: a matrix; k8s-indexed-job.yaml: an Indexed Job). Shard K of N runs the batches
# K-1, K-1+N, ... of the campaign seed, so N shards of R runs together run what one campaign of N*R runs would.
#
#   shards.sh run K N OUT FUZZ-FLAGS...  shard K of N (1-based) into OUT/shard-K/: corpus/, junit.xml, fuzz.ktap and
#                                        exit (its exit status, written last); exits with that status
#   shards.sh wait N OUT SECONDS         until N shards wrote their exit file (status 2 after SECONDS)
#   shards.sh merge N OUT INTO           merge every OUT/shard-*/corpus into INTO, then exit as one campaign would:
#                                        1 if a shard found a violation, else 2 if a shard or the merge failed or
#                                        fewer than N shards reported, else 0
#
# The shards run with --no-replay: each would otherwise replay the same corpus and seeds and count their hits N times.
# HIBFUZZ is the command that runs hibfuzz (default: hibfuzz on PATH).
set -u
hibfuzz=${HIBFUZZ:-hibfuzz}

reported() {
  n=0
  for f in "$1"/shard-*/exit; do [ -f "$f" ] && n=$((n + 1)); done
  echo "$n"
}

case "${1:-}" in
run)
  k=$2 n=$3 out=$4/shard-$2
  shift 4
  rm -rf "$out" && mkdir -p "$out" || exit 2
  $hibfuzz fuzz --no-replay --shard "$k/$n" --corpus "$out/corpus" --junit "$out/junit.xml" --ktap "$out/fuzz.ktap" "$@"
  code=$?
  echo "$code" >"$out/exit.tmp" && mv "$out/exit.tmp" "$out/exit" || exit 2
  exit "$code"
  ;;
wait)
  end=$(($(date +%s) + $4))
  while [ "$(reported "$3")" -lt "$2" ]; do
    [ "$(date +%s)" -lt "$end" ] || { echo "shards.sh: $(reported "$3") of $2 shards reported in $4 s" >&2; exit 2; }
    sleep 5
  done
  ;;
merge)
  n=$2 out=$3 into=$4
  set --
  for d in "$out"/shard-*/corpus; do [ -d "$d" ] && set -- "$@" "$d"; done
  merged=0
  if [ $# -gt 0 ]; then $hibfuzz merge "$@" --into "$into" || merged=2; fi
  found=0 failed=$merged
  for f in "$out"/shard-*/exit; do
    [ -f "$f" ] || continue
    case $(cat "$f") in 0) ;; 1) found=1 ;; *) failed=2 ;; esac
  done
  [ "$found" = 1 ] && exit 1
  [ "$(reported "$out")" -eq "$n" ] || { echo "shards.sh: $(reported "$out") of $n shards reported" >&2; exit 2; }
  exit "$failed"
  ;;
*)
  echo "usage: shards.sh run K N OUT FUZZ-FLAGS... | wait N OUT SECONDS | merge N OUT INTO" >&2
  exit 2
  ;;
esac
