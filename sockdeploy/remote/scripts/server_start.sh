#!/bin/sh
# Start the server detached in its own session and wait until it is ready (after run_procs.sh and log_join.sh).
# $1: run folder  $2: server command  $3: lifetime cap, seconds
# $4: readiness: tcp | udp | unix | delay  $5: port (tcp, udp)  $6: socket path (unix)
# $7: checks before giving up (one per 20 ms)  $8: server_wrap.sh's text  $9: server_stamper.py's text
# ${10}: server_logcap.sh's text  ${11}: the log's caps, HEAD,PIECE,LINES (see server_stamper.py)
# Prints SD-PID, then SD-READY, SD-TIMEOUT, or SD-EXITED STATUS with SD-LOG and the log's start.
cd "$1" || exit 93
umask 077
rm -f server.status log.closed
remove_log server
command -v setsid >/dev/null 2>&1 || { echo "SD-ERR setsid is missing on this host"; exit 95; }
sb=; command -v stdbuf >/dev/null 2>&1 && sb="stdbuf -oL -eL"
printf '%s\n' "$8" > .sockdeploy-wrap
# The output goes through a program in the same process group that keeps its
# head and tail within the caps (the disk use is bounded while the server
# runs); with python3 that is a stamper that also notes when each line was
# produced, on this host's clock (the timeline).
# $sb is unquoted on purpose: empty, or a command and its options.
: > server.log
if py=$(command -v python3 2>/dev/null); then
  printf '%s' "$9" > .sockdeploy-stamp
  # shellcheck disable=SC2086
  PYTHONUNBUFFERED=1 setsid "$py" -S .sockdeploy-stamp "${11}" $sb /bin/sh .sockdeploy-wrap "$2" "$3" </dev/null >/dev/null 2>&1 &
else
  printf '%s\n' "${10}" > .sockdeploy-cap
  # shellcheck disable=SC2086
  PYTHONUNBUFFERED=1 setsid /bin/sh .sockdeploy-cap "${11}" $sb /bin/sh .sockdeploy-wrap "$2" "$3" </dev/null >/dev/null 2>&1 &
fi
pid=$!
echo "$pid" > server.pid
echo "SD-PID $pid"
hexport=":$(printf '%04X' "${5:-0}")"
# True once the server can take a client: a stream server listens, a datagram one has bound.
ready() {
  case $4 in
    tcp) awk -v h="$hexport" 'FNR>1 && $4=="0A" && substr($2, length($2)-4)==h {f=1} END {exit !f}' /proc/net/tcp /proc/net/tcp6 2>/dev/null ;;
    udp) awk -v h="$hexport" 'FNR>1 && substr($2, length($2)-4)==h {f=1} END {exit !f}' /proc/net/udp /proc/net/udp6 2>/dev/null ;;
    unix) awk -v p="$6" '$8==p && ($4=="00010000" || $5=="0002") {f=1} END {exit !f}' /proc/net/unix 2>/dev/null ;;
    *) [ "$i" -ge 4 ] ;;
  esac
}
i=0
while :; do
  if [ -f server.status ] || ! kill -0 "$pid" 2>/dev/null; then
    await_log "$pid"
    echo "SD-EXITED $(cat server.status 2>/dev/null)"; echo "SD-LOG"; head -c 65536 server.log; break
  fi
  if ready "$@"; then echo "SD-READY"; break; fi
  i=$((i+1))
  if [ "$i" -ge "$7" ]; then echo "SD-TIMEOUT"; break; fi
  sleep 0.02
done
