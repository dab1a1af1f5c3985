#!/bin/sh
# Runs a libFuzzer binary for a bounded time on a scratch corpus made from the seeds, and reports the
# number of executions as TAP. Usage: run-libfuzzer.sh BINARY SECONDS SEED...
set -u
bin=$1; secs=$2; shift 2
corpus=$(mktemp -d "${TMPDIR:-/tmp}/kinora-fuzz-XXXXXX") || exit 1
trap 'rm -rf "$corpus"' EXIT
for s in "$@"; do
  if [ ! -r "$s" ]; then
    echo "1..1"; echo "not ok 1 - seed $s not readable"; exit 1
  fi
  cp "$s" "$corpus/"
done
log="$corpus.log"
# -timeout: a single input taking over 10 s is a hang; -rss_limit_mb: the readers bound what they allocate
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$corpus.crash-" "$corpus" >"$log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
echo "1..1"
if [ $rc -eq 0 ]; then
  echo "ok 1 - $(basename "$bin"): ${runs:-?} inputs in $secs s without a crash, leak or hang"
else
  sed 's/^/# /' "$log" | tail -60
  echo "not ok 1 - $(basename "$bin") failed (exit $rc); the input is kept as $corpus.crash-*"
fi
rm -f "$log"
exit $rc
