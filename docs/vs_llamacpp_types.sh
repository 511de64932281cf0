#!/bin/sh
# vs_llamacpp_types.sh: tensql and llama.cpp side by side on one model
# quantized to each GGUF type: decode and prefill speed with no budget,
# and how far their greedy texts agree.  A markdown table on stdout.
#
#   docs/vs_llamacpp_types.sh LLAMA_BIN_DIR MODEL-F16.gguf [TYPE ...]
#
#   LLAMA_BIN_DIR  the bin/ folder of an existing llama.cpp build, with
#                  llama-quantize, llama-bench and llama-cli in it.
#                  llama.cpp is NOT part of tensql: build it yourself,
#                  elsewhere.
#   MODEL-F16.gguf the model at f16, e.g. a synthetic one with the real
#                  Qwen2.5 vocabulary and every width a multiple of 256, so
#                  that the k-quant files hold k-quants only:
#                    tensql synth --preset qwen2.5-1.5b --dtype f16 \
#                      --tokenizer-dir ../shared/tokenizers/qwen2.5 -o q15f16.gguf
#   TYPE           llama-quantize's names (default: Q4_0 Q4_1 Q5_0 Q5_1
#                  IQ4_NL Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K Q8_0)
#
# For each type: llama-quantize writes TYPE.gguf (no importance matrix),
# tensql imports it; then llama-bench (-p 64 -n 32) and tensql bench
# (--prompt-tokens 64 --gen-tokens 32, no budget, no bandwidth probe) run
# one after the other on THREADS threads, REPEAT times each; then both
# decode the same prompt greedily for 24 tokens (llama.cpp one prompt
# token at a time, see below), and the table gives how many characters of
# the two continuations agree.  The files are made in a
# temporary folder next to the model and removed type by type.
#
# Environment: TENSQL (the tensql command line, default ./tensql), THREADS
# (default 2), REPEAT (default 3), PROMPT (default "The capital of France").
set -eu

if [ $# -lt 2 ]; then
  sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//; /^set -eu/d' >&2
  exit 2
fi
bin=$1 f16=$2
shift 2
types=${*:-Q4_0 Q4_1 Q5_0 Q5_1 IQ4_NL Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K Q8_0}
tensql=${TENSQL:-./tensql}
threads=${THREADS:-2}
repeat=${REPEAT:-3}
prompt=${PROMPT:-The capital of France}
for tool in llama-quantize llama-bench llama-cli; do
  [ -x "$bin/$tool" ] || { echo "vs_llamacpp_types.sh: no $bin/$tool" >&2; exit 1; }
done
work=$(mktemp -d "$(dirname "$f16")/vs_types.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# llama-bench's JSON: the mean tok/s of the run with n_prompt > 0 (pp) or
# n_gen > 0 (tg).
llama_speed(){
  python3 -c '
import json, sys
runs = json.load(sys.stdin)
want = sys.argv[1]
for r in runs:
    if (want == "pp" and r["n_prompt"] > 0) or (want == "tg" and r["n_gen"] > 0):
        print("%.2f" % r["avg_ts"])
' "$1"
}

# A key of tensql bench's JSON line, to 2 decimals.
tensql_figure(){
  python3 -c 'import json, sys; print("%.2f" % json.loads(sys.stdin.readline())[sys.argv[1]])' "$1"
}

# How many leading characters two files share.
common_prefix(){
  python3 -c '
import sys
a, b = (open(p, encoding="utf-8", errors="replace").read() for p in sys.argv[1:3])
n = 0
while n < min(len(a), len(b)) and a[n] == b[n]: n += 1
print("%d of %d" % (n, max(len(a), len(b))))
' "$1" "$2"
}

echo "# tensql and llama.cpp by GGUF type"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') ($(nproc) CPUs available)"
echo "- llama.cpp: $bin ($("$bin/llama-cli" --version 2>&1 | grep -m1 version || echo '?'))"
echo "- model: $f16, quantized by llama-quantize; $threads threads, $repeat repeats"
echo "- greedy: 24 tokens after \"$prompt\""
echo
echo "| type | bits/weight | tensql decode | llama.cpp decode | ratio | tensql prefill | llama.cpp prefill | ratio | greedy text agreeing |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for type in $types; do
  echo "vs_llamacpp_types.sh: $type ..." >&2
  gguf=$work/$type.gguf db=$work/$type.db
  "$bin/llama-quantize" "$f16" "$gguf" "$type" "$threads" > "$work/quantize.log" 2>&1
  "$tensql" import "$gguf" -o "$db" 2> "$work/import.log"
  "$bin/llama-bench" -m "$gguf" -t "$threads" -p 64 -n 32 -r "$repeat" -o json \
    > "$work/llama.json" 2> "$work/llama-bench.log"
  "$tensql" bench "$db" --threads "$threads" --prompt-tokens 64 --gen-tokens 32 \
    --repeat "$repeat" --json --probe-size 0 > "$work/tensql.json" 2> "$work/bench.log"
  l_tg=$(llama_speed tg < "$work/llama.json") l_pp=$(llama_speed pp < "$work/llama.json")
  t_tg=$(tensql_figure decode_tok_s < "$work/tensql.json")
  t_pp=$(tensql_figure prefill_tok_s < "$work/tensql.json")
  bits=$(tensql_figure bits_per_weight < "$work/tensql.json")
  # -b 1 -ub 1: the prompt one token at a time, through the products its
  # decode uses.  Batched, llama.cpp takes other paths for some types, whose
  # logits differ from its own one-token ones (the Q6_K file: a first token
  # 0.075 apart in logit from the next, which -b 1 flips); tensql's prefill
  # gives its decode's bits.
  "$bin/llama-cli" -m "$gguf" -p "$prompt" -n 24 --temp 0 -no-cnv --no-display-prompt \
    --ignore-eos -t "$threads" --no-warmup -b 1 -ub 1 > "$work/llama.txt" 2> /dev/null < /dev/null
  "$tensql" run "$db" -p "$prompt" -n 24 --temp 0 --threads "$threads" 2> /dev/null \
    | python3 -c 'import sys; t = sys.stdin.read(); p = sys.argv[1]; sys.stdout.write(t[len(p):] if t.startswith(p) else t)' "$prompt" \
    > "$work/tensql.txt"
  agree=$(common_prefix "$work/tensql.txt" "$work/llama.txt")
  ratio(){ awk -v a="$1" -v b="$2" 'BEGIN{ printf "%.2f\n", a / b }'; }
  echo "| $type | $bits | $t_tg | $l_tg | $(ratio "$t_tg" "$l_tg") | $t_pp | $l_pp | $(ratio "$t_pp" "$l_pp") | $agree |"
  rm -f "$gguf" "$db"
done
echo
echo "Decode and prefill in tok/s (tensql: the median of its repeats; llama.cpp:"
echo "llama-bench's mean). Greedy text agreeing: leading characters the two"
echo "continuations share, of the longer one."
