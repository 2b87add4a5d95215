#!/bin/sh
# Build sockdeploy's LD_PRELOAD redirect from the C source on stdin, once per source version, into a
# private cache folder. Prints "SD-LIB <path>", or "SD-NOGCC", or "SD-BUILDFAIL <why>" (then exits 1).
#   $1  the cache folder ("~/..." is taken from $HOME)   $2  the source's digest (names the library)
# Runs after run_procs.sh (home_path).
set -u
dir=$(home_path "$1")
digest=$2
umask 077
mkdir -p -- "$dir" 2>/dev/null || { echo "SD-BUILDFAIL cannot create $dir"; exit 1; }
# The folder must be ours and closed to others: a library planted there would run inside the student's programs.
# shellcheck disable=SC2012  # ls -ldn is the portable way to read a folder's owner and mode
info=$(ls -ldn -- "$dir")
mode=${info%% *}
owner=$(printf '%s\n' "$info" | awk '{ print $3 }')
case $mode in d????-??-*) ;; *) echo "SD-BUILDFAIL $dir is writable by others"; exit 1 ;; esac
[ "$owner" = "$(id -u)" ] || { echo "SD-BUILDFAIL $dir belongs to someone else"; exit 1; }
lib=$dir/libsockdeploy-redirect-$digest.so
if [ -f "$lib" ] && [ ! -L "$lib" ]; then
  echo "SD-LIB $lib"
  exit 0
fi
command -v gcc >/dev/null 2>&1 || { echo "SD-NOGCC"; exit 1; }
tmp=$(mktemp -d "$dir/build.XXXXXX") || { echo "SD-BUILDFAIL cannot make a build folder in $dir"; exit 1; }
trap 'rm -rf -- "$tmp"' EXIT
cat > "$tmp/redirect.c"
if ! out=$(gcc -shared -fPIC -O2 -o "$tmp/lib.so" "$tmp/redirect.c" -ldl 2>&1); then
  echo "SD-BUILDFAIL gcc: $(printf '%s\n' "$out" | head -n 3 | tr '\n' ' ')"
  exit 1
fi
mv -f -- "$tmp/lib.so" "$lib" && echo "SD-LIB $lib"
