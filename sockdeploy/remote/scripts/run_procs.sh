#!/bin/sh
# Process helpers shared by sockdeploy's host programs (loaded in front of them).

# True while any non-zombie process is in process group $1; zombies wait for
# init to reap them and must not count as a running server.
group_alive() {
  if [ -r /proc/self/stat ]; then
    # through cat: mawk gives up on a file that vanished after the glob, cat goes on
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$1" '{ sub(/^.*\) /, ""); if ($3 == g && $1 != "Z") f = 1 } END { exit !f }'
  else
    kill -0 -"$1" 2>/dev/null
  fi
}

# True while process $1 runs; a zombie awaiting its parent does not count.
pid_alive() {
  if [ -r "/proc/$1/stat" ]; then
    awk '{ sub(/^.*\) /, ""); exit ($1 == "Z") }' "/proc/$1/stat" 2>/dev/null
  else
    kill -0 "$1" 2>/dev/null
  fi
}

# The stamper (pid $1) may still be writing the server's last lines after the
# server ended, later still on a busy host: wait while it runs, 10 s at most.
await_log() {
  j=0
  while [ ! -f log.closed ] && [ "$j" -lt 400 ] && pid_alive "$1"; do sleep 0.025; j=$((j+1)); done
}

# Print path $1 with a leading ~ meaning $HOME (values arrive unexpanded, as typed in hosts.yaml).
home_path() {
  case $1 in
    \~) printf '%s\n' "$HOME" ;;
    \~/*) printf '%s/%s\n' "$HOME" "${1#\~/}" ;;
    *) printf '%s\n' "$1" ;;
  esac
}

# Remove earlier runs under $1 whose watchdog is gone (crashed runs); $2 is the
# server's absolute lifetime in minutes. Only folders carrying sockdeploy's
# marker file are touched. A run counts as dead when its watchdog process is
# gone, or when it never got one and is older than that lifetime.
sweep_stale() {
  for old in "$1"/run-*; do
    [ -f "$old/.sockdeploy-run" ] || continue
    # lifeline.pid: the watchdog's pid file keeps its old name, which older runs' folders carry too
    if [ -f "$old/lifeline.pid" ]; then
      pid_alive "$(cat "$old/lifeline.pid")" && continue
    elif [ -z "$(find "$old/.sockdeploy-run" -mmin +"$2" 2>/dev/null)" ]; then
      continue
    fi
    for f in server.pid client.pid; do
      if pg=$(cat "$old/$f" 2>/dev/null) && [ -n "$pg" ] && group_alive "$pg"; then
        kill -KILL -"$pg" 2>/dev/null
      fi
    done
    rm -rf -- "$old" && echo "SD-CLEANED $old"
  done
}

# The run's tag. Every process a run starts carries SOCKDEPLOY_RUN=ROLE:TOKEN in its
# environment (ROLE: server, build, client-N), and an environment survives setsid and
# double forks, where a process group does not. The token arrives as the first line of
# stdin, never on a command line, where ps would show it to every user of the host.

# Print the token read from the first line of stdin (hex only; anything else: none).
# `tok=$(read_token)` consumes that line alone: sh reads a pipe byte by byte.
read_token() {
  IFS= read -r line || :
  case $line in *[!0-9a-f]*) ;; *) printf '%s\n' "$line" ;; esac
}

# Print the pids of this user's processes that carry token $1 with a role that $2 matches (an
# extended regular expression such as build|client-[0-9]+; any role when empty).
tagged_pids() {
  [ -n "$1" ] || return 0
  pat="SOCKDEPLOY_RUN=(${2:-[a-z0-9-]+}):$1"
  # the pattern travels on stdin: as an argument, ps would show the token
  files=$(printf '%s\n' "$pat" | grep -E -l -f /dev/stdin /proc/[0-9]*/environ 2>/dev/null | sed 's|environ$|status|')
  [ -n "$files" ] || return 0
  # only this user's: root reads every environment. /dev/null makes grep name the file even for one.
  # shellcheck disable=SC2086  # $files: /proc paths, split on purpose
  grep '^Uid:' $files /dev/null 2>/dev/null | awk -v u="$(id -u)" '$2 == u { split($1, a, "/"); print a[3] }'
}

# Print "SD-STRAY PID ROLE COMMAND" for process $1: a process of the run left running.
report_stray() {
  role=$(tr '\0' '\n' < "/proc/$1/environ" 2>/dev/null | grep '^SOCKDEPLOY_RUN=' | head -n 1)
  role=${role#SOCKDEPLOY_RUN=}; role=${role%%:*}
  cmd=$(tr '\0\n\t' '   ' < "/proc/$1/cmdline" 2>/dev/null | tr -cd '[:print:]' | cut -c 1-120)
  echo "SD-STRAY $1 ${role:-run} ${cmd:-?}"
}

# Stop every process of token $1 and a role $2 matches (any when empty) outside process group $3 (none
# when empty; that group is stopped on its own): report each (report_stray), TERM, up to 2 s, KILL.
stop_tagged() {
  found=$(tagged_pids "$1" "$2")
  pids=
  for p in $found; do
    g=$(awk '{ sub(/^.*\) /, ""); print $3 }' "/proc/$p/stat" 2>/dev/null)
    [ -n "$3" ] && [ "$g" = "$3" ] && continue
    report_stray "$p"
    pids="$pids $p"
  done
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086  # $pids: numbers, split on purpose
  kill -TERM $pids 2>/dev/null
  j=0
  while [ "$j" -lt 40 ]; do
    left=
    for p in $pids; do pid_alive "$p" && { left=1; break; }; done
    [ -z "$left" ] && return 0
    sleep 0.05; j=$((j+1))
  done
  # looked up again: only what still carries the token is killed, never a reused pid
  for p in $(tagged_pids "$1" "$2"); do
    case " $pids " in *" $p "*) kill -KILL "$p" 2>/dev/null ;; esac
  done
  return 0
}
