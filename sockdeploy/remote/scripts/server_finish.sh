#!/bin/sh
# Stop the server's process group, print its status, line times and log, and remove the run folder
# (after run_procs.sh and log_join.sh).
# $1: run folder  $2: the server's pid (its process group), or empty
# $3: 1 to remove the folder, else it is kept (--keep-remote) and marked so that no later run's sweep removes it
# $4: with a pid, checks (one per 10 ms) to let the server end by itself first, or 0
# $5: bytes of log to print  $6: lines of server.times to print
# Prints SD-GONE when the folder is gone already; else SD-RUNNING or SD-AWAITED (with $4),
# SD-STOPPED (when the group still ran), SD-STATUS, SD-TIMES, SD-ELIDED (bytes the capped log
# left out), then SD-LOG and the log as kept (log_join.sh).
cd "$1" 2>/dev/null || { echo "SD-GONE"; exit 0; }
pid=$2
if [ -n "$pid" ] && [ "$4" -gt 0 ]; then
  i=0
  while [ ! -f server.status ] && kill -0 "$pid" 2>/dev/null; do
    i=$((i+1)); if [ "$i" -ge "$4" ]; then echo "SD-RUNNING"; break; fi
    sleep 0.01
  done
  if [ "$i" -lt "$4" ]; then
    [ -f server.status ] || sleep 0.02  # the wrapper writes the status just after the server ends
    echo "SD-AWAITED"
    # the stamper still writes the last lines; it is not a server to stop
    await_log "$pid"
  fi
fi
if [ -n "$pid" ] && group_alive "$pid"; then
  kill -TERM -"$pid" 2>/dev/null
  i=0; while group_alive "$pid" && [ "$i" -lt 40 ]; do sleep 0.05; i=$((i+1)); done
  kill -KILL -"$pid" 2>/dev/null
  echo "SD-STOPPED"
fi
[ -f server.pid ] && await_log "$(cat server.pid)"
echo "SD-STATUS $(cat server.status 2>/dev/null)"
echo "SD-TIMES $(kept_times server | head -n "$6" | tr '\n' ' ')"
echo "SD-ELIDED $(elided_bytes server)"
echo "SD-LOG"
kept_log server | head -c "$5"
if [ "$3" = 1 ]; then cd / && rm -rf -- "$1"; fi
[ "$3" = 1 ] || : > .sockdeploy-keep
