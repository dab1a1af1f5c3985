#!/usr/bin/env bash
# Build Kinora and run every test: the whole suite in a release build (engine, ui, data, export...),
# then the engine suite again under AddressSanitizer + UndefinedBehaviorSanitizer (built with clang).
# Ends with one line "N passed, N failed[, N skipped]" counted from meson's test logs.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

configure () {
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
}
# The release build uses gcc; the sanitizer build uses clang (when installed), so both compilers
# build the engine with -Werror.
asan_cc=gcc
command -v clang >/dev/null && asan_cc=clang

status=0
rm -f build-test/meson-logs/testlog.json build-asan/meson-logs/testlog.json
configure build-test --buildtype=release || status=1
ninja -C build-test -j"$jobs" || status=1
if [ $status = 0 ]; then
  # the cuda suite needs a GPU: it runs on the device machine (flatpak-free-docs/cuda.md), not here
  meson test -C build-test --no-suite cuda --print-errorlogs --num-processes "$jobs" || status=1
fi

CC=$asan_cc configure build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
  -Dgui=disabled -Dcuda=disabled || status=1
if ninja -C build-asan -j"$jobs"; then
  meson test -C build-asan --suite engine --print-errorlogs --num-processes "$jobs" \
    --timeout-multiplier 4 || status=1
else
  status=1
fi

python3 - build-test/meson-logs/testlog.json build-asan/meson-logs/testlog.json <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1          # that build never ran its tests
        continue
    for line in lines:
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
PY
summary=$?
[ $status = 0 ] && [ $summary = 0 ]
