#!/bin/sh
# Stop the processes of a run left running on this host (after run_procs.sh): a client's or a
# build's children that outlived it, however they left its group (setsid, double fork).
# $1: their roles, as stop_tagged takes them (client-2, build|client-[0-9]+...; empty: every role)
# stdin: the run's token (read_token)
# Prints "SD-STRAY PID ROLE COMMAND" for each, then stops them (TERM, up to 2 s, KILL).
tok=$(read_token)
stop_tagged "$tok" "$1" ""
