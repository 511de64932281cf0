#!/bin/sh
# train.sh: install what model/train.py needs from Debian, then train
# tensql's default model into model/fortunes/ (about 20-30 minutes on 2
# cores).  Arguments go to train.py (--help lists them).
#
#   sudo model/train.sh                       # as root: no sudo
#   model/train.sh --reference-only           # re-derive reference_logits.json
#
# Packages: python3-torch and python3-numpy (training), fortunes and
# fortunes-min (the text; see model/README.md for its licence), and
# libopenblas0-openmp (fast matrix products; train.py picks it for its own
# process, so the system's BLAS choice is left alone).
set -e
here=$(cd "$(dirname "$0")" && pwd)
need=
for p in python3-torch python3-numpy fortunes fortunes-min libopenblas0-openmp; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need="$need $p"
done
if [ -n "$need" ]; then
  if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
  $sudo apt-get update
  $sudo apt-get install -y $need
fi
# Debian's Python: it has python3-torch; a pyenv python3 on PATH does not.
exec /usr/bin/python3 "$here/train.py" "$@"
