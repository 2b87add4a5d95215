#!/bin/sh
# Remove what crashed runs left under a work folder (after run_procs.sh).
# $1: the work folder (a leading ~ is $HOME)  $2: the server's lifetime cap, minutes
# Prints "SD-CLEANED DIR" for each folder removed.
base=$(home_path "$1")
[ -d "$base" ] || exit 0
sweep_stale "$base" "$2"
