#!/bin/sh
# Run netpath_probe.py (its text in $1) with python3 on this host for IP $2, PORT $3, LIMIT $4 seconds.
if ! command -v python3 >/dev/null 2>&1; then echo 'unreachable no python3 on the client host to probe with'; exit 0; fi
exec python3 -S -c "$1" "$2" "$3" "$4"
