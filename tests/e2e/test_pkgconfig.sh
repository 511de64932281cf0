#!/bin/sh
# test_pkgconfig.sh: libtensql as an installed library, the way README.md's
# C section says to use it.  Stages `make install DESTDIR=...` in
# tests/tmp, builds tests/e2e/client_pkgconfig.c with
# `cc client.c $(pkg-config --cflags --libs tensql)` against the staged
# tensql.pc, runs it on stories260K and compares its 20 greedy tokens after
# "Once upon a time" with llama2.c run.c's greedy output in ../shared.
#
# The expected text is derived without tensql: run.c's encoding of the
# prompt (tok512_encode_vectors.jsonl) is BOS followed by the first tokens
# of the unprompted greedy run (greedy_t0.tokens.txt), so the prompted run
# continues with that run's next 20 tokens; their pieces, decoded from
# tok512.bin here, must also be what greedy_t0.txt prints after the prompt.
#
# Run by `make check` from the build directory (srcdir set by the harness).
# The client is compiled with the build's CC and sanitizer flags, so it
# also runs in an --enable-sanitizers build.
set -u
srcdir="${srcdir:-.}"
shared="$srcdir/../shared/models/stories260K"
mkdir -p tests/tmp
stage="$(pwd)/tests/tmp/pkgconfig-stage"
db=tests/tmp/pkgconfig.db
client=tests/tmp/client_pkgconfig
passed=0 failed=0
check(){  # name, expected, actual
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "ok: $1"
  else failed=$((failed + 1)); echo "FAILED: $1"; echo "  expected: $2"; echo "  got:      $3"; fi
}
finish(){
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}

# 1. the expected continuation, from llama2.c's files alone
expected=$(/usr/bin/python3 - "$shared" <<'PY'
import json, struct, sys
d = sys.argv[1]
prompt = "Once upon a time"
ids = [v["ids"] for v in map(json.loads, open(d + "/vectors/tok512_encode_vectors.jsonl"))
       if v["text"] == prompt][0]
greedy = [int(t) for t in open(d + "/vectors/greedy_t0.tokens.txt").read().split()]
assert greedy[:len(ids)] == ids, "the unprompted run does not start with the prompt"
data = open(d + "/tok512.bin", "rb").read()
off, pieces = 4, []
while off < len(data):
    score, n = struct.unpack_from("<fi", data, off)
    pieces.append(data[off + 8:off + 8 + n])
    off += 8 + n
def text(p):   # run.c's decode: <0xHH> is the byte
    return bytes([int(p[3:5], 16)]) if len(p) == 6 and p[:3] == b"<0x" and p[5:] == b">" else p
continuation = b"".join(text(pieces[i]) for i in greedy[len(ids):len(ids) + 20])
printed = open(d + "/vectors/greedy_t0.txt", "rb").read()
assert printed.startswith(prompt.encode() + continuation), "greedy_t0.txt disagrees"
sys.stdout.write(continuation.decode())
PY
) || { echo "could not derive the expected text"; failed=1; finish; }
check "expected text derived" ", there was a little girl named Lily. She loved to play outsid" "$expected"

# 2. a staged install
rm -rf "$stage"
if ${MAKE:-make} install DESTDIR="$stage" > tests/tmp/pkgconfig-install.log 2>&1; then
  check "make install DESTDIR" ok ok
else
  check "make install DESTDIR (tests/tmp/pkgconfig-install.log)" ok failed
  finish
fi
pc=$(find "$stage" -name tensql.pc -path '*/pkgconfig/*' | head -n 1)
header=$(find "$stage" -name tensql.h | head -n 1)
[ -n "$pc" ] && [ -n "$header" ] && ok=ok || ok="tensql.pc: '$pc', tensql.h: '$header'"
check "tensql.pc and tensql.h installed" ok "$ok"
[ -n "$pc" ] || finish
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")

# 3. the client, built from pkg-config's flags alone.  The sysroot makes
# pkg-config put the stage in front of the installed paths (prefix, libdir
# and includedir stay whatever configure chose).
cc=$(sed -n 's/^CC = //p' Makefile)
sanitize=$(sed -n 's/^AM_LDFLAGS = //p' Makefile)
flags=$(PKG_CONFIG_SYSROOT_DIR="$stage" PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs tensql) \
  || { check "pkg-config --cflags --libs tensql" ok failed; finish; }
case "$flags" in *"-L$libdir "*|*"-L$libdir") ok=ok ;; *) ok="$flags" ;; esac
check "pkg-config points into the stage" ok "$ok"
if ${cc:-cc} $sanitize -o "$client" "$srcdir/tests/e2e/client_pkgconfig.c" $flags \
     -Wl,-rpath,"$libdir" 2> tests/tmp/client_pkgconfig.log; then
  check "client compiles and links" ok ok
else
  check "client compiles and links" ok "$(cat tests/tmp/client_pkgconfig.log)"
  finish
fi
# it must run against the staged libtensql, not the build tree's
if command -v ldd > /dev/null; then
  got=$(ldd "$client" | sed -n 's/.*libtensql[^ ]* => \([^ ]*\).*/\1/p')
  case "$got" in "$libdir"/*) got=staged ;; esac
  check "client loads the staged libtensql" staged "$got"
fi

# 4. the client generates llama2.c's text
./tensql import "$shared/stories260K.gguf" -o "$db" 2> /dev/null \
  || { check "tensql import" ok failed; finish; }
got=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$client" "$db" 2>&1)
check "client generates the greedy continuation" "$expected" "$got"

rm -rf "$stage"
finish
