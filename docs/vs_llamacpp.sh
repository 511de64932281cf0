#!/bin/bash
# vs_llamacpp.sh: llama.cpp (weights mmap'd, its default) and tensql side by
# side, each under the same memory cgroup caps (page cache included), and a
# markdown table of decode speed and peak charged memory.
#
#   docs/vs_llamacpp.sh LLAMA_BIN_DIR MODEL.gguf MODEL.db [CAPS]
#
#   LLAMA_BIN_DIR  the bin/ folder of an existing llama.cpp build (llama-cli
#                  in it).  llama.cpp is NOT part of tensql: build it yourself,
#                  elsewhere, without AMX: an AMX build repacks the weights
#                  into anonymous memory and is OOM-killed under any cap
#                  below the model's size.
#   MODEL.gguf     the model for llama.cpp
#   MODEL.db       the same model imported by tensql (tensql import MODEL.gguf)
#   CAPS           the cgroup memory limits, one run of each engine per cap
#                  (default: $CAPS, else "200M 260M 320M 420M"; K, M, G are
#                  powers of 1024)
#
# Environment: TENSQL (the tensql command line, default ./tensql), TOKENS
# (tokens generated, default 32), THREADS (default 2), HEADROOM (default
# 40M: tensql's --budget is cap - HEADROOM, room for the process itself).
#
# For each cap, llama.cpp first: the page cache is dropped (sync; echo 3 >
# /proc/sys/vm/drop_caches), a fresh child of this script's own memory
# cgroup is made with the cap as its limit (cgroup v1 memory.limit_in_bytes,
# else v2 memory.max), and `llama-cli -no-cnv --temp 0 --ignore-eos` runs in
# it on a prompt of " the" repeated (64 tokens).  Its decode speed is
# llama.cpp's own "eval time ... tokens per second" line, its peak the
# group's memory.max_usage_in_bytes (v2: memory.peak), its bytes read the
# process's rusage (read_bytes of /proc/PID/io).  Then `tensql bench
# --cgroup-limit cap --budget cap-HEADROOM --repeat 1 --probe-size 0`, which
# drops the cache and makes its own group, on a prompt of as many tokens as
# llama.cpp's.  A run killed by its group's OOM killer shows "OOM", a failed
# one "fail", and the script goes on; their logs are kept in a temporary
# folder, named on stderr.  The groups are removed, also on Ctrl-C.
#
# Must run as root: to make cgroups and to drop the page cache.  Needs
# python3.  Example, from the top of a built tree:
#
#   sudo docs/vs_llamacpp.sh ~/llama.cpp/build/bin q05.gguf q05.db
#   sudo CAPS="420M" TOKENS=4 TENSQL=/path/to/tensql docs/vs_llamacpp.sh \
#        ~/llama.cpp/build/bin q05.gguf q05.db
set -eu

me=vs_llamacpp.sh
die(){ echo "$me: $*" >&2; exit 1; }
usage(){ sed -n '6,23p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

if [ $# -lt 3 ] || [ $# -gt 4 ]; then usage; fi
bindir=$1
gguf=$2
db=$3
caps=${4:-${CAPS:-200M 260M 320M 420M}}
tensql=${TENSQL:-./tensql}
tokens=${TOKENS:-32}
threads=${THREADS:-2}
headroom=${HEADROOM:-40M}
cli=$bindir/llama-cli

# "320M" -> 335544320: an integer and an optional K, M or G (and B).
bytes_of(){
  local n=${1%[bB]} unit=1
  case $n in
    *[kK]) unit=1024; n=${n%?} ;;
    *[mM]) unit=1048576; n=${n%?} ;;
    *[gG]) unit=1073741824; n=${n%?} ;;
  esac
  case $n in ''|*[!0-9]*) die "not a size: $1" ;; esac
  echo $((n * unit))
}
# 335544320 -> 320M, else the MiB to one decimal.
size_name(){
  if [ $(($1 % 1048576)) -eq 0 ]; then echo "$(($1 / 1048576))M"
  else awk -v b="$1" 'BEGIN{ printf "%.1fM\n", b / 1048576 }'; fi
}
mib(){ case $1 in ''|*[!0-9]*) echo "-" ;; *) awk -v b="$1" 'BEGIN{ printf "%.0f\n", b / 1048576 }' ;; esac; }
is_number(){ case $1 in ''|*[!0-9.]*|*.*.*) return 1 ;; esac; }

[ "$(id -u)" -eq 0 ] || die "must run as root (memory cgroups, drop_caches)"
[ -x "$cli" ] || die "$cli: no llama-cli there (LLAMA_BIN_DIR is llama.cpp's bin/ folder)"
[ -r "$gguf" ] || die "$gguf: cannot read"
[ -r "$db" ] || die "$db: cannot read"
command -v "$tensql" >/dev/null 2>&1 || die "$tensql: no tensql there (set TENSQL)"
command -v python3 >/dev/null 2>&1 || die "python3 is needed"
case $tokens in ''|*[!0-9]*) die "TOKENS: not a number: $tokens" ;; esac
case $threads in ''|*[!0-9]*) die "THREADS: not a number: $threads" ;; esac
[ "$tokens" -ge 2 ] || die "TOKENS must be 2 or more (decode is tokens - 1 steps)"
[ "$tokens" -le 160 ] || die "TOKENS must be 160 at most (llama.cpp runs with -c 256)"
headroom_b=$(bytes_of "$headroom")
for cap in $caps; do
  cap_b=$(bytes_of "$cap")
  [ "$cap_b" -gt "$headroom_b" ] || die "cap $cap is not above HEADROOM $headroom"
done

# ---- the memory cgroup: a child of this script's own ------------------------------

cg_kind=
cg_base=
mnt=$(awk '$3 == "cgroup" && ("," $4 ",") ~ /,memory,/ { print $2; exit }' /proc/self/mounts)
if [ -n "$mnt" ]; then
  cg_kind=v1
  own=$(awk -F: '("," $2 ",") ~ /,memory,/ { print $3; exit }' /proc/self/cgroup)
  cg_base=${mnt%/}${own%/}
  [ -w "$cg_base/cgroup.procs" ] || die "$cg_base: cgroup v1 memory group not writable"
else
  mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
  [ -n "$mnt" ] || die "no memory cgroup: neither v1 memory nor cgroup2 is mounted"
  cg_kind=v2
  own=$(awk -F: '$1 == "0" && $2 == "" { print $3; exit }' /proc/self/cgroup)
  cg_base=${mnt%/}${own%/}
  if ! grep -qw memory "$cg_base/cgroup.subtree_control" 2>/dev/null; then
    echo +memory > "$cg_base/cgroup.subtree_control" 2>/dev/null \
      || die "$cg_base: cannot hand the memory controller down to a child group (cgroup v2)"
  fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vs_llamacpp.XXXXXX")
keep_tmp=0
cg=

cg_remove(){
  if [ -z "$cg" ] || [ ! -d "$cg" ]; then cg=; return 0; fi
  local _ pid
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    [ -s "$cg/cgroup.procs" ] || break
    while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done < "$cg/cgroup.procs"
    sleep 0.2
  done
  rmdir "$cg" 2>/dev/null || echo "$me: warning: could not remove $cg" >&2
  cg=
}
cleanup(){
  cg_remove
  if [ "$keep_tmp" -eq 1 ]; then echo "$me: logs of failed runs kept in $tmp" >&2
  else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'echo "$me: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM HUP

cg_make(){   # cg_make NAME BYTES: a fresh group with that limit, in $cg
  cg=$cg_base/$1
  if [ -d "$cg" ]; then rmdir "$cg"; fi
  mkdir "$cg"
  if [ "$cg_kind" = v1 ]; then
    echo "$2" > "$cg/memory.limit_in_bytes"
  else
    echo "$2" > "$cg/memory.max"
    if [ -e "$cg/memory.swap.max" ]; then echo 0 > "$cg/memory.swap.max" || true; fi
  fi
}
cg_peak(){
  local f=$cg/memory.max_usage_in_bytes
  [ "$cg_kind" = v1 ] || f=$cg/memory.peak
  cat "$f" 2>/dev/null || echo "-"
}
cg_oom_kills(){
  local f=$cg/memory.oom_control
  [ "$cg_kind" = v1 ] || f=$cg/memory.events
  awk '$1 == "oom_kill" { print $2; found = 1 } END { if( !found ) print 0 }' "$f" 2>/dev/null || echo 0
}

# Runs argv[3:] with stdin /dev/null after moving itself into the group whose
# cgroup.procs is argv[1]; waits (ignoring SIGINT, which the child gets) and
# writes "status read_bytes maxrss_kib" to argv[2], status 128+N if killed by
# signal N.  ru_inblock is read_bytes of /proc/PID/io in 512-byte units.
launcher='
import os, signal, sys
procs, out, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
pid = os.fork()
if pid == 0:
    try:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.execv(argv[0], argv)
    except OSError as e:
        sys.stderr.write("vs_llamacpp.sh: %s: %s\n" % (argv[0], e))
        os._exit(127)
signal.signal(signal.SIGINT, signal.SIG_IGN)
_, status, ru = os.wait4(pid, 0)
code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
with open(out, "w") as f:
    f.write("%d %d %d\n" % (code, ru.ru_inblock * 512, ru.ru_maxrss))
'

drop_caches(){ sync; echo 3 > /proc/sys/vm/drop_caches; }

# ---- the header -------------------------------------------------------------------

cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
version=$("$cli" --version 2>&1 </dev/null | grep -E '^(version|built with)' | paste -sd ' ' - || true)
prompt="The"
for _ in $(seq 63); do prompt="$prompt the"; done

echo "# llama.cpp (mmap) and tensql under the same memory cgroup caps"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- CPU: ${cpu:-unknown} ($(nproc) CPUs available)"
echo "- llama.cpp: $(readlink -f "$cli")${version:+ ($version)}"
echo "- tensql: $(command -v "$tensql")"
echo "- models: $gguf, $db"
echo "- $tokens tokens generated ($((tokens - 1)) decode steps), $threads threads, cgroup $cg_kind,"
echo "  page cache dropped before each run and charged to the cap; tensql --budget = cap - $headroom"
echo

rows=
amx_note=
for cap in $caps; do
  cap_b=$(bytes_of "$cap")
  budget_b=$((cap_b - headroom_b))
  tag=$(echo "$cap" | tr -c 'A-Za-z0-9\n' _)

  # (a) llama.cpp, mmap'd weights (its default), in a fresh group.
  log=$tmp/llama.$tag.log
  drop_caches
  cg_make "vs_llamacpp.$$.$tag" "$cap_b"
  echo "$me: cap $cap: llama.cpp ..." >&2
  python3 -c "$launcher" "$cg/cgroup.procs" "$tmp/llama.$tag.rc" \
    "$cli" -m "$gguf" -p "$prompt" -n "$tokens" -no-cnv -t "$threads" -c 256 --temp 0 \
    --ignore-eos >"$tmp/llama.$tag.out" 2>"$log" || true
  l_rc=255 l_read=
  if [ -s "$tmp/llama.$tag.rc" ]; then read -r l_rc l_read _ < "$tmp/llama.$tag.rc"; fi
  l_peak=$(cg_peak)
  l_kills=$(cg_oom_kills)
  cg_remove
  l_tps=$(grep ' eval time' "$log" | grep -v 'prompt eval' | tail -1 \
            | sed -n 's/.*[ (]\([0-9.][0-9.]*\) tokens per second.*/\1/p' || true)
  l_prompt=$(grep 'prompt eval time' "$log" | tail -1 \
               | sed -n 's/.*\/ *\([0-9][0-9]*\) tokens.*/\1/p' || true)
  grep -q 'AMX_INT8 = 1' "$log" && amx_note=1
  if [ "${l_kills:-0}" -gt 0 ] || [ "$l_rc" -eq 137 ]; then
    l_cell=OOM; keep_tmp=1
  elif [ "$l_rc" -ne 0 ] || ! is_number "$l_tps"; then
    l_cell="fail (exit $l_rc)"; keep_tmp=1
    echo "$me: cap $cap: llama.cpp failed, see $log" >&2
  else
    l_cell=$l_tps
  fi

  # (b) tensql bench: it drops the cache and makes its own group.
  echo "$me: cap $cap: tensql ..." >&2
  out=$tmp/tensql.$tag.json
  t_rc=0
  "$tensql" bench "$db" --budget "$budget_b" --cgroup-limit "$cap_b" \
    --prompt-tokens "${l_prompt:-64}" --gen-tokens "$tokens" --threads "$threads" \
    --repeat 1 --probe-size 0 --json >"$out" 2>"$tmp/tensql.$tag.log" </dev/null || t_rc=$?
  fields=$(grep '^{' "$out" | tail -1 | python3 -c '
import json, sys
try:
    r = json.loads(sys.stdin.read())
except ValueError:
    print("- - parse"); sys.exit(0)
def f(k, fmt):
    v = r.get(k)
    return "-" if v is None else fmt % v
e = r.get("error")
print(f("decode_tok_s", "%.2f"), f("peak_charged_bytes", "%d"),
      "none" if e is None else "oom" if "OOM" in e else "error")
' || echo "- - parse")
  read -r t_tps t_peak t_err <<EOF
$fields
EOF
  if [ "$t_err" = oom ]; then
    t_cell=OOM; keep_tmp=1
  elif [ "$t_err" != none ] || [ "$t_rc" -ne 0 ] || ! is_number "$t_tps"; then
    t_cell="fail (exit $t_rc)"; keep_tmp=1
    echo "$me: cap $cap: tensql failed, see $tmp/tensql.$tag.log and $out" >&2
  else
    t_cell=$t_tps
  fi

  ratio=-
  if is_number "$l_cell" && is_number "$t_cell"; then
    ratio=$(awk -v t="$t_cell" -v l="$l_cell" 'BEGIN{ if( l > 0 ) printf "%.2f\n", t / l; else print "-" }')
  fi
  rows="$rows| $cap | $l_cell | $(mib "$l_peak") | $(size_name "$budget_b") | $t_cell | $(mib "$t_peak") | $ratio | $(mib "$l_read") |
"
done

echo "| cap | llama.cpp tok/s | llama.cpp peak MiB | tensql budget | tensql tok/s | tensql peak MiB | tensql ÷ llama.cpp | llama.cpp MiB read |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s' "$rows"
echo
echo "tok/s: decode, tokens after the first. Peak: the cgroup's peak charge, page cache"
echo "included. llama.cpp MiB read: read_bytes of the whole process (load, prompt, decode)."
[ -z "$amx_note" ] || echo "Note: this llama.cpp uses AMX; it repacks weights into anonymous memory, so it is OOM-killed under small caps."
