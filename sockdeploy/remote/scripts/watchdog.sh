#!/bin/sh
# The server host's watchdog for one run (after run_procs.sh); it runs as long as the run.
# $1: run folder  $2: seconds without a heartbeat before it acts
# $3: the roles of the run's processes on this host, as stop_tagged takes them (empty: every role)
# $4: seconds it listens at a time (5)
# Heartbeats are "." on stdin; a graceful close sends "q" first. End of file or
# silence means the run is gone (connection dropped, the Pi lost power: a
# signal from it would never arrive), so the watchdog stops the server's group
# and the client's, and removes the run folder itself. Its pid file marks the
# run as alive for later runs' sweep of crashed runs. A line "tTOKEN" on stdin gives it the
# run's token: then every process of the user carrying it goes too (read_token).
# Before it acts it prints "SD-FIRED N" (N seconds without a heartbeat): a run still
# connected (it was stopped with Ctrl-Z) reports that as its verdict.
cd "$1" || exit 93
# lifeline.pid: the old name, kept so that sweeps by other sockdeploy versions still see a live run
echo $$ > lifeline.pid
# the connection may be gone already: then this line must fail quietly, not end the watchdog
trap '' PIPE
echo SD-WATCHING 2>/dev/null
b=; pg=; tok=; quiet=0; parent=$PPID; slice=${4:-5}
t=; command -v timeout >/dev/null 2>&1 && t="timeout $slice"
# Listen in slices: a byte, end of file, silence, or the sshd process
# that started this script vanishing all end the wait independently.
while :; do
  touch .sockdeploy-alive 2>/dev/null  # the heartbeat by which other machines of a pool tell the run is alive
  # $t is unquoted on purpose: empty, or a command and its argument
  # shellcheck disable=SC2086
  if b=$($t head -c 1 2>/dev/null); then
    case $b in
      .) ;;
      t) tok=$(read_token) ;;
      *) break ;;
    esac
    quiet=0
  else
    quiet=$((quiet + slice))
    kill -0 "$parent" 2>/dev/null || break
    [ "$quiet" -ge "$2" ] && break
  fi
  # remember the server's group as soon as it exists, in case the folder goes first
  [ -z "$pg" ] && [ -f server.pid ] && pg=$(cat server.pid 2>/dev/null)
done
[ "$b" = q ] && exit 0
echo "SD-FIRED $quiet" 2>/dev/null
[ -z "$pg" ] && pg=$(cat server.pid 2>/dev/null)
if [ -n "$pg" ] && group_alive "$pg"; then
  kill -TERM -"$pg" 2>/dev/null; sleep 1; kill -KILL -"$pg" 2>/dev/null
fi
# a client run on this host (the client host over SSH) goes too
cg=$(cat client.pid 2>/dev/null)
[ -n "$cg" ] && group_alive "$cg" && kill -KILL -"$cg" 2>/dev/null
# and whatever of the run left its group (setsid daemons, a build's background jobs)
stop_tagged "$tok" "$3" "" >/dev/null
cd / && rm -rf -- "$1"
