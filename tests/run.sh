#!/bin/sh
# run.sh: the whole test suite, as CI runs it: configure and `make check` in
# build/release, then again with AddressSanitizer and UBSan in build/asan.
# Prints each Check suite's result and a closing "N passed, N failed" line.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x configure ] || autoreconf -fi
status=0
for variant in release asan; do
  mkdir -p "build/$variant"
  flags=
  [ "$variant" = asan ] && flags=--enable-sanitizers
  (cd "build/$variant" && { [ -f Makefile ] || ../../configure -q $flags; } \
     && make -j2 >/dev/null && make -j2 check) || status=1
done
# Each Check program's own summary line, a script's "N passed, N failed",
# or else the harness's verdict as one check.
passed=0 failed=0
for trs in build/release/tests/*/*.trs build/asan/tests/*/*.trs; do
  [ -f "$trs" ] || continue
  log=${trs%.trs}.log
  line=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1 || true)
  plain=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
  if [ -n "$line" ]; then
    checks=$(echo "$line" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
    bad=$(echo "$line" | sed -n 's/.*Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2/p' | awk '{print $1 + $2}')
  elif [ -n "$plain" ]; then
    line=$plain
    checks=$(echo "$plain" | awk '{print $1 + $3}')
    bad=$(echo "$plain" | awk '{print $3}')
  else
    checks=1
    bad=1
    grep -q '^:test-result: PASS' "$trs" && bad=0
    line=$(grep '^:test-result:' "$trs")
  fi
  echo "$log: $line"
  passed=$((passed + checks - bad))
  failed=$((failed + bad))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || status=1
exit $status
