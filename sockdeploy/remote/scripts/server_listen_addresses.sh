#!/bin/sh
# Print the local address (hex, as in /proc/net/tcp) of each TCP socket the server listens on
# (after run_procs.sh), to say where a tunnel could not reach it.
# $1: the server's process group (its pid, SD-PID)
# stdin: the run's token (read_token). The sockets of this user's processes carrying it as
# SOCKDEPLOY_RUN=server:TOKEN count, in the group or not (a daemon that left it), never another
# process's on the same port.
# Without a token, or without /proc environments (another kernel, hidepid), where processes cannot
# be told by it (see server_start.sh): the sockets of the processes in group $1 count, and a
# daemon that left the group is not seen.
tok=$(read_token)
[ -r "/proc/$$/environ" ] || tok=
if [ -n "$tok" ]; then pids=$(tagged_pids "$tok" server); else pids=$(group_pids "$1"); fi
# shellcheck disable=SC2086  # $pids: numbers, split on purpose
inodes=$(socket_inodes $pids)
[ -n "$inodes" ] || exit 0
awk -v mine=" $inodes " 'FNR > 1 && $4 == "0A" && index(mine, " " $10 " ") { print $2 }' \
  /proc/net/tcp /proc/net/tcp6 2>/dev/null
exit 0
