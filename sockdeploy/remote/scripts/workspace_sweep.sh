#!/bin/sh
# Remove what crashed runs left under a work folder (after run_procs.sh).
# $1: the work folder (a leading ~ is $HOME)
# $2: minutes after which a run whose heartbeat stopped is over (the server's cap plus a margin)
# Prints "SD-CLEANED DIR" for each folder removed.
base=$(home_path "$1")
[ -d "$base" ] || exit 0
sweep_stale "$base" "$2"
