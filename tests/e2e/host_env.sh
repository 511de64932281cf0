# host_env.sh: sourced by the shell tests that load tensql.so into a host
# program (the sqlite3 shell, Python).  In a sanitizer build the extension
# needs the ASan/UBSan runtimes loaded first, which an uninstrumented host
# does not do: preload them.  Leak reports are off there, since they would
# be the host's own.
host_preload=$(ldd ./.libs/tensql.so 2>/dev/null | awk '/lib(asan|ubsan)\.so/ { printf "%s ", $3 }')
if [ -n "$host_preload" ]; then
  export LD_PRELOAD="$host_preload"
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
