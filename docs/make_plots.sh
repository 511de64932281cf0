#!/bin/sh
# make_plots.sh: regenerate the benchmark figures in docs/ on this machine.
#
#   docs/make_plots.sh            # from the top of a built tree, as root
#
# Writes, from one synthetic Qwen2.5-0.5B model at Q8_0 (random weights,
# the real shapes; speed and memory depend only on shapes):
#   docs/bench_q05.jsonl          tensql bench --json, no budget
#   docs/budget_sweep.{md,tsv,gp,png,jsonl}
#                                 OPT and LRU, with and without prefetch, at
#                                 budgets 150M, 250M, 350M, 600M
#   docs/cgroup_limit.{md,tsv,gp,png,jsonl}
#                                 the four variants at budgets 150M, 200M and
#                                 280M, each inside a cgroup capped at 320M
#                                 (page cache included)
#
# Root is needed to drop the page cache between budgets and to create the
# memory cgroups; without it the figures are still made, warm and with
# null peak-charged memory.  Takes 20 to 60 minutes on 2 cores.
#
# Environment: TENSQL (default ./tensql), MODEL (default /tmp/q05.db, made
# if missing), REPEAT (3), GEN (16 tokens generated), PROMPT (64 tokens).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
tensql=${TENSQL:-./tensql}
case $tensql in */*) tensql=$(cd "$(dirname "$tensql")" && pwd)/$(basename "$tensql") ;; esac
cd "$top"            # so the .md files name docs/... relative to the tree
docs=docs
model=${MODEL:-/tmp/q05.db}
repeat=${REPEAT:-3}
gen=${GEN:-16}
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

"$tensql" bench "$model" $common > "$docs/bench_q05.jsonl"
"$tensql" bench "$model" $common --sweep 150M,250M,350M,600M \
  --out "$docs/budget_sweep" > "$docs/budget_sweep.jsonl"
"$tensql" bench "$model" $common --sweep 150M,200M,280M --cgroup-limit 320M \
  --out "$docs/cgroup_limit" > "$docs/cgroup_limit.jsonl"
echo "make_plots.sh: wrote $docs/bench_q05.jsonl, budget_sweep.*, cgroup_limit.*" >&2
