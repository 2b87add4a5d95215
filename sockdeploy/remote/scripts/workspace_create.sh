#!/bin/sh
# Make a private run folder and unpack the tar on stdin into it (after run_procs.sh).
# $1: the work folder (a leading ~ is $HOME)  $2: the folder name's prefix
# $3: the server's lifetime cap in minutes (for the sweep of crashed runs; only with prefix run-)
# Prints SD-DIR, then SD-PORTS and the host's socket tables; SD-ERR and exit 91-94 on failure.
umask 077
base=$(home_path "$1")
if ! mkdir -p -- "$base" 2>/dev/null; then echo "SD-ERR cannot create $base"; exit 91; fi
[ "$2" = run- ] && sweep_stale "$base" "$3"
if ! d=$(mktemp -d "$base/$2XXXXXXXXXX" 2>/dev/null); then
  echo "SD-ERR cannot create a directory in $base (not writable, or disk full?)"; exit 92
fi
chmod 700 "$d"
cd "$d" || exit 93
: > .sockdeploy-run
if ! err=$(tar xof - 2>&1); then
  cd / || exit 94
  rm -rf -- "$d"
  free=$(df -Pk "$base" 2>/dev/null | awk 'NR==2 {print $4}')
  echo "SD-ERR cannot write the sources into $base (${free:-?} KiB free; disk full or quota?): $(printf %s "$err" | tr '\n' ' ')"
  exit 94
fi
echo "SD-DIR $d"
echo "SD-PORTS"
cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 2>/dev/null || netstat -an 2>/dev/null
