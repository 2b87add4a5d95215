#!/bin/sh
# Start a UDP relay program with this host's python3.
# Usage: udprelay.sh RELAY_SOURCE FRAMES_SOURCE PORT
# The relay speaks frames on stdin/stdout, so its source travels as an argument.
# Without python3, say so on stdout (the caller reads it as the relay's first bytes).
command -v python3 >/dev/null 2>&1 || { echo "NOPYTHON"; exit 97; }
exec python3 -u -c "$1" "$2" "$3"
