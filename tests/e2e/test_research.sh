#!/bin/sh
# test_research.sh: the README's research queries still give the output the
# README shows.  Each ```sql block of README.md whose first line is
# "-- research: NAME" runs, in order, in the sqlite3 shell on a fresh
# stories260K database, and its output must equal the ``` block right after
# it.  Run by `make check` from the build directory.
set -u
src="${srcdir:-.}"
db=tests/tmp/research.db
mkdir -p tests/tmp
rm -f "$db"
./tensql import "$src/../shared/models/stories260K/stories260K.gguf" -o "$db" 2>/dev/null \
  || { echo "import failed"; echo "0 passed, 1 failed"; exit 1; }
. "$src/tests/e2e/host_env.sh"

blocks=$(mktemp -d tests/tmp/research.XXXXXX)
trap 'rm -rf "$blocks"' EXIT
# Split README into NAME.sql / NAME.out pairs.
awk -v dir="$blocks" '
  /^```sql$/ { getline first; if( first ~ /^-- research: / ){ name = substr(first, 14); file = dir "/" name ".sql"; print first > file; mode = 1; next } }
  mode == 1 && /^```$/ { mode = 2; next }
  mode == 1 { print > file; next }
  mode == 2 && /^```/ { mode = 3; order = order name "\n"; next }
  mode == 3 && /^```$/ { mode = 0; next }
  mode == 3 { print > (dir "/" name ".out"); next }
  END { printf "%s", order > (dir "/order") }
' "$src/README.md"

passed=0 failed=0
while read -r name; do
  got=$(sqlite3 -batch "$db" ".load ./.libs/tensql" ".read $blocks/$name.sql" 2>&1)
  expected=$(cat "$blocks/$name.out" 2>/dev/null)
  if [ "$got" = "$expected" ]; then
    passed=$((passed + 1)); echo "ok: $name"
  else
    failed=$((failed + 1)); echo "FAILED: $name"; echo "--- expected"; echo "$expected"; echo "--- got"; echo "$got"
  fi
done < "$blocks/order"
[ "$passed" -gt 0 ] || failed=$((failed + 1))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
