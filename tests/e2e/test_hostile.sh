#!/bin/sh
# test_hostile.sh: a model file is data, not code.  Builds hostile model
# databases from stories260K, one per attack on the program table, and runs
# generate on each through the sqlite3 shell (which has edit(), readfile(),
# writefile() and load_extension()), through Python with extension loading
# on, and through `tensql run`.  Each must be refused with a message naming
# the program step; no process may crash; no file the attack aims at may
# appear or change; the model file must stay byte for byte the same.  Then:
# a runaway statement stops at the sandbox's bound, an interrupt from the
# caller stops a long one, and `tensql info` lists the refused rows.
# Run by `make check` from the build directory.
set -u
shared="${srcdir:-.}/../shared"
work=$(pwd)/tests/tmp/hostile
rm -rf "$work"
mkdir -p "$work"
passed=0 failed=0
check(){  # name, expected, actual
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "ok: $1"
  else failed=$((failed + 1)); echo "FAILED: $1"; echo "  expected: $2"; echo "  got:      $3"; fi
}
base="$work/base.db"
./tensql import "$shared/models/stories260K/stories260K.gguf" -o "$base" 2>/dev/null \
  || { echo "import failed"; echo "0 passed, 1 failed"; exit 1; }
. "${srcdir:-.}/tests/e2e/host_env.sh"

# A database that the attack on ATTACH aims to rewrite.
sqlite3 "$work/victim.db" "CREATE TABLE t(x); INSERT INTO t VALUES ('untouched');"
victim_md5=$(md5sum < "$work/victim.db")

# Each vector: a name, then SQL that replaces program step 1 (and step 2,
# after a |).  Targets live in $work/out, which must stay empty.
mkdir -p "$work/out"
vectors="edit|SELECT edit('x', 'touch $work/out/edit')
load_extension|SELECT load_extension('$work/out/evil')
readfile|INSERT INTO act(name, data) SELECT 'x', readfile('/etc/passwd')
writefile|SELECT writefile('$work/out/writefile', 'x')
attach_trigger|ATTACH '$work/victim.db' AS v|CREATE TEMP TRIGGER t AFTER INSERT ON v.t BEGIN DELETE FROM v.t; END
write_meta|UPDATE meta SET value = 'x' WHERE key = 'general.architecture'
write_program|INSERT INTO program(step, sql) VALUES (9999, 'SELECT 1')
write_tile|DELETE FROM tile
pragma|PRAGMA writable_schema = 1
recursive_cte|INSERT INTO act(name, data) WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) SELECT 'x', max(i) FROM c"

# hostile NAME SQL1 [SQL2]: a copy of the model whose program runs them
hostile(){
  db="$work/$1.db"
  cp "$base" "$db"
  sqlite3 "$db" "UPDATE program SET sql = '$(echo "$2" | sed "s/'/''/g")' WHERE step = 1"
  [ -n "${3:-}" ] && sqlite3 "$db" "UPDATE program SET sql = '$(echo "$3" | sed "s/'/''/g")' WHERE step = 2"
  md5sum < "$db" > "$db.md5"
}

# What a client prints, reduced to "refused" when it is the sandbox's
# error naming the step, and its exit status when it is not 0 or 1 (a
# crash is 128 + the signal).
verdict(){  # status, output
  if [ "$1" -gt 1 ]; then echo "exit $1: $2"
  else case "$2" in *"program step "[0-9]*) echo refused ;; *) echo "$2" ;; esac; fi
}

run_shell(){
  out=$(sqlite3 "$1" ".load ./.libs/tensql" \
    "SELECT count(*) FROM generate WHERE prompt = 'Once' AND max_tokens = 2;" 2>&1)
  verdict $? "$out"
}

run_python(){
  out=$(/usr/bin/python3 - "$1" 2>&1 <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
con.enable_load_extension(True)          # left on, as a careless host would
con.load_extension("./.libs/tensql")
try:
    con.execute("SELECT count(*) FROM generate WHERE prompt = 'Once' AND max_tokens = 2").fetchall()
    print("ran")
except sqlite3.Error as e:
    print(e)
PY
)
  verdict $? "$out"
}

run_cli(){
  out=$(./tensql run "$1" -p "Once" -n 2 2>&1 >/dev/null)
  verdict $? "$out"
}

echo "$vectors" | while IFS='|' read -r name sql1 sql2; do
  hostile "$name" "$sql1" "$sql2"
done
for name in $(echo "$vectors" | cut -d'|' -f1); do
  db="$work/$name.db"
  check "$name: sqlite3 shell" refused "$(run_shell "$db")"
  check "$name: python" refused "$(run_python "$db")"
  check "$name: tensql run" refused "$(run_cli "$db")"
  check "$name: model file unchanged" "$(cat "$db.md5")" "$(md5sum < "$db")"
done
# SQL in the model's schema would run on the caller's connection, where
# tensql reads `program` and a capture writes `activation`: a model with a
# view or trigger does not open.
cp "$base" "$work/view.db"
sqlite3 "$work/view.db" "ALTER TABLE program RENAME TO program_rows;
  CREATE VIEW program AS SELECT step, layer, sql || writefile('$work/out/view', 'x') AS sql
    FROM program_rows;"
cp "$base" "$work/trigger.db"
sqlite3 "$work/trigger.db" "CREATE TABLE activation(run_id, pos, layer, name, shape, data);
  CREATE TRIGGER spy AFTER INSERT ON activation BEGIN SELECT writefile('$work/out/trigger', 'x'); END;"
for kind in view trigger; do
  out=$(sqlite3 "$work/$kind.db" ".load ./.libs/tensql" \
    "SELECT count(*) FROM generate WHERE prompt = 'Once' AND max_tokens = 2 AND capture = 'logits';" 2>&1)
  case "$out" in *"holds $kind "*"holds tables only"*) out=refused ;; esac
  check "a model with a $kind does not open" refused "$out"
done

check "no file written where the attacks aimed" "" "$(ls -A "$work/out")"
check "attached database unchanged" "$victim_md5" "$(md5sum < "$work/victim.db")"
check "no stray files beside the models" "" \
  "$(ls -A "$work" | grep -v -e '\.db$' -e '\.md5$' -e '^out$')"

# A statement that would run for hours stops at the bound.
hostile runaway "INSERT INTO act(name, data) SELECT 'x', count(*)
  FROM head a, head b, head c, head d, head e, head f, head g, head h, head i, head j"
out=$(./tensql run "$work/runaway.db" -p "Once" -n 2 2>&1 >/dev/null)
case "$out" in *"program step 1: stopped after 100000000 instructions"*) out=bounded ;; esac
check "runaway statement stops at the bound" bounded "$out"

# A long statement, well within the bound (its rows are slow, not many),
# stops when the caller interrupts its own connection.
hostile slow "INSERT INTO act(name, data) SELECT 'x', count(length(printf('%.*c', 200000 + a.head, 'x')))
  FROM head a, head b, head c, head d, head e, head f"
out=$(/usr/bin/python3 - "$work/slow.db" 2>&1 <<'PY'
import sqlite3, sys, threading
con = sqlite3.connect(sys.argv[1])
con.enable_load_extension(True)
con.load_extension("./.libs/tensql")
con.enable_load_extension(False)
threading.Timer(0.5, con.interrupt).start()
try:
    con.execute("SELECT count(*) FROM generate WHERE prompt = 'Once' AND max_tokens = 2").fetchall()
    print("ran")
except sqlite3.Error as e:
    print(e)
PY
)
check "a caller's interrupt stops a program statement" "program step 1: interrupted" "$out"

# tensql info lists what the sandbox refuses, and fails.
out=$(./tensql info "$work/attach_trigger.db" | grep '^  step')
status=$(./tensql info "$work/attach_trigger.db" >/dev/null 2>&1; echo $?)
check "info lists the refused steps" "  step 1 is refused: it attaches a database
  step 2 (layer 0) does not prepare: no such table: v.t" "$out"
check "info exits 1 on a refused program" 1 "$status"
check "info passes a clean model" 0 "$(./tensql info "$base" >/dev/null 2>&1; echo $?)"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
