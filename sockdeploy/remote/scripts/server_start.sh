#!/bin/sh
# Start the server detached in its own session and wait until it is ready (after run_procs.sh and log_join.sh).
# $1: run folder  $2: server command  $3: lifetime cap, seconds
# $4: readiness: tcp | udp | unix | delay  $5: port (tcp, udp)  $6: socket path (unix)
# $7: checks before giving up (one per 20 ms)  $8: server_wrap.sh's text  $9: server_stamper.py's text
# ${10}: server_logcap.sh's text  ${11}: the log's caps, HEAD,PIECE,LINES (see server_stamper.py)
# stdin: the run's token (read_token); the server's processes carry it as SOCKDEPLOY_RUN=server:TOKEN.
# Prints SD-PID, then SD-READY, SD-TIMEOUT, or SD-EXITED STATUS (after SD-STRAY lines for what it
# left running, stopped) with SD-LOG and the log's start.
# With a token, only a socket of the server's own processes makes it ready; before SD-READY,
# SD-LISTENS HEX,HEX names the ports they listen on when the port given ($5) is not among them
# (or none was given), and SD-TAKEN says another process holds the port given.
cd "$1" || exit 93
umask 077
tok=$(read_token)
rm -f server.status log.closed
remove_log server
command -v setsid >/dev/null 2>&1 || { echo "SD-ERR setsid is missing on this host"; exit 95; }
# Without /proc environments (another kernel, hidepid) the server's sockets cannot be told
# apart: any listener on the port counts, as before the tag.
[ -r "/proc/$$/environ" ] || tok=
if [ -n "$tok" ]; then SOCKDEPLOY_RUN="server:$tok"; export SOCKDEPLOY_RUN; fi
keep_token "$tok"  # before server.pid: a later run's sweep knows the run's processes by it
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
hexport=$(printf '%04X' "${5:-0}")
proto=; case $4 in tcp|udp) proto=$4 ;; esac

# The socket tables to watch ($proto's, or both); one awk reads them on each check, the
# only process a check starts while nothing changes.
nets=
for t in tcp tcp6 udp udp6; do
  case $proto$t in tcpudp*|udptcp*) continue ;; esac
  [ -r "/proc/net/$t" ] && nets="$nets /proc/net/$t"
done
# "PROTO HEXPORT INODE" for each listening TCP socket and each bound UDP one.
sockets() {
  [ -n "$nets" ] || return 0
  # shellcheck disable=SC2086  # $nets: /proc paths, split on purpose
  awk 'FNR == 1 { p = (FILENAME ~ /udp/) ? "udp" : "tcp"; next }
    (p == "udp" || $4 == "0A") && $10 != 0 { n = split($2, a, ":"); print p, a[n], $10 }' $nets 2>/dev/null
}

# The inodes of the sockets the server's processes (those carrying the token) hold, space-separated.
our_inodes() {
  # shellcheck disable=SC2046  # pids: numbers, split on purpose
  socket_inodes $(tagged_pids "$tok" server)
}

# Look at the socket tables again once they changed: sets hit (the server listens on the port
# given), foreign (another process holds it) and mine (the ports the server holds, HEX,HEX).
hit=0; foreign=0; mine=; seen=
scan() {
  table=$(sockets)
  [ "$table" = "$seen" ] && return 0
  seen=$table
  summary=$(printf '%s\n' "$table" | awk -v mine=" $(our_inodes) " -v h="$hexport" '
    NF == 3 && index(mine, " " $3 " ") { if ($2 == h) hit = 1; else if (!($2 in p)) { p[$2]; ports = ports sep $2; sep = "," }; next }
    NF == 3 && $2 == h { foreign = 1 }
    END { print (hit ? 1 : 0), (foreign ? 1 : 0), (ports == "" ? "-" : ports) }')
  hit=${summary%% *}; summary=${summary#* }; foreign=${summary%% *}; mine=${summary#* }
  [ "$mine" = - ] && mine=
  return 0
}

# True once the server can take a client: a stream server listens, a datagram one has bound.
# $4 as for the script; without a token, any socket on the port counts.
legacy_ready() {
  case $4 in
    tcp) awk -v h=":$hexport" 'FNR>1 && $4=="0A" && substr($2, length($2)-4)==h {f=1} END {exit !f}' /proc/net/tcp /proc/net/tcp6 2>/dev/null ;;
    udp) awk -v h=":$hexport" 'FNR>1 && substr($2, length($2)-4)==h {f=1} END {exit !f}' /proc/net/udp /proc/net/udp6 2>/dev/null ;;
    *) [ "$i" -ge 4 ] ;;
  esac
}

# Prints SD-READY (after SD-LISTENS) or SD-TAKEN and returns 0 when the wait is over.
# A server listening on another port is adopted after 10 checks (it may open the one given
# too); one listening elsewhere while another process holds the port given most likely
# failed to bind it, as one that has not listened 50 checks after it was taken.
tagged_ready() {
  scan
  if [ -z "$proto" ]; then
    [ -n "$mine" ] && echo "SD-LISTENS $mine"
    if [ -n "$mine" ] || [ "$i" -ge 50 ]; then echo "SD-READY"; return 0; fi
    return 1
  fi
  [ "$hit" = 1 ] && { echo "SD-READY"; return 0; }
  if [ "$foreign" = 1 ]; then
    f=$((f+1))
    if [ -n "$mine" ] || [ "$f" -ge 50 ]; then echo "SD-TAKEN"; return 0; fi
    return 1
  fi
  [ -n "$mine" ] && g=$((g+1))
  [ "$g" -ge 10 ] && { echo "SD-LISTENS $mine"; echo "SD-READY"; return 0; }
  return 1
}

i=0; f=0; g=0
while :; do
  if [ -f server.status ] || ! kill -0 "$pid" 2>/dev/null; then
    # what it left outside its group goes now: holding the output, it would keep await_log waiting
    stop_tagged "$tok" server "$pid"
    await_log "$pid"
    if [ -n "$proto" ] && [ -n "$tok" ]; then seen=x; scan; [ "$foreign" = 1 ] && echo "SD-TAKEN"; fi
    echo "SD-EXITED $(cat server.status 2>/dev/null)"; echo "SD-LOG"; head -c 65536 server.log; break
  fi
  case $4 in
    unix) awk -v p="$6" '$8==p && ($4=="00010000" || $5=="0002") {f=1} END {exit !f}' /proc/net/unix 2>/dev/null &&
            { echo "SD-READY"; break; } ;;
    *) if [ -n "$tok" ]; then tagged_ready "$@" && break
       elif legacy_ready "$@"; then echo "SD-READY"; break; fi ;;
  esac
  i=$((i+1))
  if [ "$i" -ge "$7" ]; then
    [ "$foreign" = 1 ] && echo "SD-TAKEN"
    echo "SD-TIMEOUT"; break
  fi
  sleep 0.02
done
