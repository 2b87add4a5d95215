#!/bin/sh
# Check a server host before a batch uses it.
# Usage: grading_preflight.sh BASE [TOOL...]
#   BASE  the remote base directory (a leading ~ means $HOME); it is created if missing
#   TOOL  a program the submissions' server builds need (gcc, make, python3...)
# Prints "SD-ERR why" when BASE cannot be created or written, and "SD-MISSING tool"
# for each TOOL not on the PATH. Always exits 0: the lines are the answer.
base=$1
shift
case $base in
  \~) base=$HOME ;;
  \~/*) base=$HOME/${base#\~/} ;;
esac
mkdir -p -- "$base" 2>/dev/null || echo "SD-ERR cannot create $base"
[ -w "$base" ] || echo "SD-ERR $base is not writable"
for tool in "$@"; do
  command -v "$tool" >/dev/null 2>&1 || echo "SD-MISSING $tool"
done
exit 0
