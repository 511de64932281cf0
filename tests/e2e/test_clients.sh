#!/bin/sh
# test_clients.sh: tensql from the clients people use, end to end on
# stories260K: the sqlite3 shell with .load, Python's standard sqlite3
# module streaming generate rows, and the tensql command.  The expected
# text is llama2.c run.c's output in ../shared (greedy_t0_n64_prompt.txt).
# Run by `make check` from the build directory.
set -u
shared="${srcdir:-.}/../shared"
ref="$shared/models/stories260K/vectors/greedy_t0_n64_prompt.txt"
db=tests/tmp/clients.db
mkdir -p tests/tmp
passed=0 failed=0
check(){  # name, expected, actual
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "ok: $1"
  else failed=$((failed + 1)); echo "FAILED: $1"; echo "  expected: $2"; echo "  got:      $3"; fi
}

./tensql import "$shared/models/stories260K/stories260K.gguf" -o "$db" 2>/dev/null \
  || { echo "import failed"; echo "0 passed, 1 failed"; exit 1; }
. "${srcdir:-.}/tests/e2e/host_env.sh"
# run.c prints the prompt, then 53 tokens; stdout ends with a newline
expected=$(cat "$ref")

# 1. the sqlite3 shell
got=$(sqlite3 "$db" ".load ./.libs/tensql" \
  "SELECT 'Lily and Tim went to the park.' || group_concat(text, '') FROM generate
    WHERE prompt = 'Lily and Tim went to the park.' AND max_tokens = 53;")
check "sqlite3 shell generate" "$expected" "$got"

got=$(sqlite3 "$db" ".load ./.libs/tensql" "SELECT tokenize('Once upon a time');")
check "sqlite3 shell tokenize" "[403,407,261,378]" "$got"

got=$(sqlite3 "$db" ".load ./.libs/tensql" "SELECT * FROM generate WHERE prompt = NULL;" 2>&1)
case "$got" in *"prompt must be text"*) got=ok ;; esac
check "sqlite3 shell error" "ok" "$got"

# 2. Python's sqlite3 module (Debian's python3, which can load extensions),
# reading rows one at a time as generate produces them
got=$(/usr/bin/python3 - "$db" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
con.enable_load_extension(True)
con.load_extension("./.libs/tensql")
prompt = "Lily and Tim went to the park."
cur = con.execute("SELECT text FROM generate WHERE prompt = ? AND max_tokens = ?", (prompt, 53))
out = [prompt]
row = cur.fetchone()            # the first token arrives before the rest exist
while row is not None:
    out.append(row[0])
    row = cur.fetchone()
print("".join(out))
PY
)
check "python sqlite3 generate" "$expected" "$got"

# 3. the tensql command, on its default kernel threads (the CPUs it may
# use, at most 8) and on one.  nproc counts those CPUs, as tensql does,
# unless OpenMP's variables tell it otherwise.
threads=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
[ "$threads" -gt 8 ] && threads=8
got=$(./tensql run "$db" -p 'Lily and Tim went to the park.' -n 53 2>tests/tmp/clients_run.err)
check "tensql run" "$expected" "$got"
got=$(grep -o 'kernel threads: [0-9]*' tests/tmp/clients_run.err)
check "tensql run default threads" "kernel threads: $threads" "$got"
got=$(./tensql run "$db" -p 'Lily and Tim went to the park.' -n 53 --threads 1 2>/dev/null)
check "tensql run --threads 1" "$expected" "$got"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
