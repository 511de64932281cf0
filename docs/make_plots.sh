#!/bin/sh
# make_plots.sh: regenerate the benchmark figures in docs/ on this machine.
#
#   docs/make_plots.sh            # from the top of a built tree, as root
#
# Writes, from one synthetic Qwen2.5-0.5B model at Q8_0 (random weights,
# the real shapes; speed and memory depend only on shapes):
#   docs/bench_q05.jsonl          tensql bench --json, no budget
#   docs/budget_sweep.{md,tsv,gp,png,jsonl}
#                                 2 threads: OPT with prefetch, LRU and the
#                                 OS (page cache), at budgets 160M, 220M,
#                                 280M and 380M, each run inside a cgroup
#                                 capped at its budget + 40M (page cache
#                                 included), with the disk limit
#   docs/budget_sweep_1t.{md,tsv,gp,png,jsonl}
#                                 the same on 1 thread
#
# Root is needed to drop the page cache between budgets and to create the
# memory cgroups; without it the figures are still made, warm and with
# null peak-charged memory.  Takes 20 to 40 minutes on 2 cores.
#
# Environment: TENSQL (default ./tensql), MODEL (default /tmp/q05.db, made
# if missing), REPEAT (3), GEN (32 tokens generated), PROMPT (64 tokens).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
tensql=${TENSQL:-./tensql}
case $tensql in */*) tensql=$(cd "$(dirname "$tensql")" && pwd)/$(basename "$tensql") ;; esac
cd "$top"            # so the .md files name docs/... relative to the tree
docs=docs
model=${MODEL:-/tmp/q05.db}
repeat=${REPEAT:-3}
gen=${GEN:-32}
prompt=${PROMPT:-64}

if [ ! -x "$tensql" ] && ! command -v "$tensql" >/dev/null 2>&1; then
  echo "make_plots.sh: no tensql at '$tensql'; build first or set TENSQL" >&2
  exit 1
fi
command -v gnuplot >/dev/null 2>&1 ||
  echo "make_plots.sh: gnuplot is missing (Debian: gnuplot-nox); the .png will not be drawn" >&2

if [ ! -f "$model" ]; then
  gguf=${model%.db}.gguf
  "$tensql" synth --preset qwen2.5-0.5b --dtype q8_0 -o "$gguf"
  "$tensql" import "$gguf" -o "$model"
fi

common="--prompt-tokens $prompt --gen-tokens $gen --repeat $repeat --json"
sweep="--sweep 160M,220M,280M,380M --cgroup-limit +40M"

"$tensql" bench "$model" $common > "$docs/bench_q05.jsonl"
"$tensql" bench "$model" $common $sweep --threads 2 \
  --out "$docs/budget_sweep" > "$docs/budget_sweep.jsonl"
"$tensql" bench "$model" $common $sweep --threads 1 \
  --out "$docs/budget_sweep_1t" > "$docs/budget_sweep_1t.jsonl"
echo "make_plots.sh: wrote $docs/bench_q05.jsonl, budget_sweep.*, budget_sweep_1t.*" >&2
