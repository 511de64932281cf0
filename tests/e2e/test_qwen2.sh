#!/bin/sh
# test_qwen2.sh: tensql's SQL forward pass on a qwen2 model against an
# independent PyTorch implementation (tests/e2e/qwen2_reference.py).
#
# For each of f32 and q8_0 weights: writes the tiny synthetic qwen2 model
# (tensql synth: the real Qwen2.5 vocabulary size, q/k/v biases, tied
# embeddings, theta 1e6), imports it, and compares for one plain-ASCII
# prompt (43 tokens):
#   - the logits of the prompt's last position (a generate of max_tokens 1,
#     then act's 'logits'): max |tensql - ref| / max |ref| < 1e-3;
#   - 8 greedy tokens: identical ids;
#   - with 3 kernel threads (tensql_threads(3)), the same greedy ids and
#     bit-identical logits as with 1;
#   - the output product written with GROUP BY w.tile_row (one tile per
#     group) gives bit-identical logits.
# The reference dequantizes q8_0 exactly, quantizes the activations of
# q8_0 products as ggml (and tensql) do, and computes in float64.
# Needs Debian's python3-torch (/usr/bin/python3 with torch and numpy): a
# missing torch is a failure, not a skip.  Run from the build directory
# (make check does); $srcdir locates the reference script.
set -u
srcdir=${srcdir:-$(dirname "$0")/../..}
python=/usr/bin/python3
prompt='The quick brown fox jumps over the lazy dog'
n_greedy=8
passed=0 failed=0

stop(){ echo "FAIL: $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }

"$python" -c 'import torch, numpy' 2>/dev/null \
  || stop "$python cannot import torch and numpy: install Debian's python3-torch"
command -v sqlite3 >/dev/null || stop "the sqlite3 shell is not installed"
[ -x ./tensql ] && [ -f ./.libs/tensql.so ] || stop "run from the build directory after make"

# A sanitizer build's extension needs the sanitizer runtimes loaded first.

mkdir -p tests/tmp
tmp=$(mktemp -d tests/tmp/qwen2.XXXXXX) || stop "mktemp"
trap 'rm -rf "$tmp"' EXIT INT TERM

# sql DB STATEMENTS: run SQL with the tensql extension loaded.
sql(){
  ( . "$srcdir/tests/e2e/host_env.sh"
    sqlite3 -batch -noheader -list "$1" ".load ./.libs/tensql" "$2" )
}
quoted=$(printf '%s' "$prompt" | sed "s/'/''/g")

for dtype in f32 q8_0; do
  echo "== $dtype"
  gguf="$tmp/tiny-$dtype.gguf" db="$tmp/tiny-$dtype.db"
  ./tensql synth --preset tiny --dtype "$dtype" --seed 7 -o "$gguf" \
    2>"$tmp/synth.log" || stop "tensql synth: $(cat "$tmp/synth.log")"
  ./tensql import "$gguf" -o "$db" 2>"$tmp/import.log" \
    || stop "tensql import: $(cat "$tmp/import.log")"

  ids=$(sql "$db" "SELECT tokenize('$quoted');") || stop "tokenize: $ids"
  ids=$(printf '%s' "$ids" | tr -d '[] \n')
  [ -n "$ids" ] || stop "tokenize gave no ids"
  greedy=$(sql "$db" "SELECT group_concat(token, ',') FROM generate
                      WHERE prompt = '$quoted' AND max_tokens = $n_greedy;") \
    || stop "generate: $greedy"
  sql "$db" "SELECT count(*) FROM generate WHERE prompt = '$quoted' AND max_tokens = 1;
             SELECT hex(data) FROM act WHERE name = 'logits';" >"$tmp/logits.txt" \
    || stop "logits: $(cat "$tmp/logits.txt")"
  threaded=$(sql "$db" "SELECT tensql_threads(3);
                        SELECT group_concat(token, ',') FROM generate
                         WHERE prompt = '$quoted' AND max_tokens = $n_greedy;
                        SELECT count(*) FROM generate WHERE prompt = '$quoted' AND max_tokens = 1;
                        SELECT hex(data) FROM act WHERE name = 'logits';") \
    || stop "generate with 3 threads: $threaded"
  [ "$threaded" = "$(printf '3\n%s\n%s' "$greedy" "$(cat "$tmp/logits.txt")")" ] \
    || stop "$dtype: 3 threads gave other greedy ids or logits than 1"
  # the output product as INSERT ... SELECT, one group (tile) at a time
  grouped=$(sql "$db" "UPDATE program
                          SET sql = replace(replace(replace(sql,
                                    '(name, rows, data)', '(name, rows, tile, data)'),
                                    'VALUES (''logits'',' || char(10)
                                    || '  (SELECT rows FROM act WHERE name = ''h''),' || char(10)
                                    || '  (SELECT matmul(',
                                    'SELECT ''logits'', h.rows, w.tile_row, matmul('),
                                    'ON h.name = ''h''));', 'ON h.name = ''h'' GROUP BY w.tile_row;')
                        WHERE sql LIKE '%''logits''%matmul(%';
                        SELECT changes();
                        SELECT count(*) FROM generate WHERE prompt = '$quoted' AND max_tokens = 1;
                        SELECT hex(data) FROM act WHERE name = 'logits';") \
    || stop "generate with a grouped output product: $grouped"
  [ "$grouped" = "$(printf '1\n%s' "$(cat "$tmp/logits.txt")")" ] \
    || stop "$dtype: the grouped output product gave other logits"

  "$python" "$srcdir/tests/e2e/qwen2_reference.py" "$gguf" --ids "$ids" \
    --generate "$n_greedy" >"$tmp/ref.json" || stop "qwen2_reference.py"

  if "$python" - "$tmp/ref.json" "$tmp/logits.txt" "$ids" "$greedy" <<'EOF'
import json, sys
import numpy as np
ref = json.load(open(sys.argv[1]))
lines = open(sys.argv[2]).read().split()
ids, greedy = sys.argv[3], sys.argv[4]
if len(lines) != 2 or lines[0] != "1":
    sys.exit(f"FAIL: expected one generated token and one logits row, got {lines[:1]}...")
got = np.frombuffer(bytes.fromhex(lines[1]), dtype="<f4").astype(np.float64)
want = np.array(ref["logits"])
if got.shape != want.shape:
    sys.exit(f"FAIL: {got.size} logits from tensql, {want.size} from the reference")
rel = np.abs(got - want).max() / np.abs(want).max()
got_ids = [int(t) for t in greedy.split(",") if t]
print(f"prompt ids {ids}")
print(f"logits: max |tensql - ref| / max |ref| = {rel:.3g}"
      f" (argmax {int(got.argmax())} vs {int(want.argmax())})")
print(f"greedy tensql    {got_ids}")
print(f"greedy reference {ref['greedy']}")
if rel >= 1e-3 or got_ids != ref["greedy"]:
    sys.exit("FAIL: logits or greedy ids differ")
EOF
  then passed=$((passed + 1)); echo "ok: $dtype"
  else failed=$((failed + 1)); echo "FAILED: $dtype"
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
