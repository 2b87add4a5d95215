#!/bin/sh
# Run a client command in its own session on this host, output on stdout, markers on stderr
# (after run_procs.sh).
# $1: run folder  $2: client command  $3: 1 to give the client this script's stdin, else 0
# $4: the client's role (client-N): then stdin's first line is the run's token (read_token), the
# client's processes carry SOCKDEPLOY_RUN=ROLE:TOKEN, and those left when it ends are stopped.
# Prints "SD-PID PID", then "SD-STRAY ..." for each process left, and "SD-EXIT STATUS" on stderr.
# A background job's stdin is /dev/null before its own redirections (even <&0),
# so stdin is kept on fd 3 first.
tok=; [ -n "$4" ] && tok=$(read_token)
if [ -n "$tok" ]; then SOCKDEPLOY_RUN="$4:$tok"; export SOCKDEPLOY_RUN; fi
exec 3<&0
cd "$1" || exit 93
keep_token "$tok"  # before client.pid: a later run's sweep knows the run's processes by it
sb=; command -v stdbuf >/dev/null 2>&1 && sb="stdbuf -oL -eL"
# Own session and process group, so a stop reaches the client and all it started.
# $sb is unquoted on purpose: empty, or a command and its options.
if [ "$3" = 1 ]; then
  # shellcheck disable=SC2086
  PYTHONUNBUFFERED=1 setsid $sb /bin/sh -c "$2" <&3 3<&- 2>&1 &
else
  # shellcheck disable=SC2086
  PYTHONUNBUFFERED=1 setsid $sb /bin/sh -c "$2" </dev/null 3<&- 2>&1 &
fi
pid=$!
echo "$pid" > client.pid  # for the watchdog, should this connection die
echo "SD-PID $pid" >&2
wait "$pid"; s=$?
if [ -n "$tok" ]; then
  # the program sh started may still be writing its last words (after a Ctrl-C): 2 s for the group
  j=0; while group_alive "$pid" && [ "$j" -lt 40 ]; do sleep 0.05; j=$((j+1)); done
  stop_tagged "$tok" "$4" "" >&2
fi
rm -f client.pid
echo "SD-EXIT $s" >&2
